"""Preparing a reused VM (harness/targets/guest.py), against this test's own sshd as root.

The agent-cache checks are real: files and folders on this machine, owned and
moded as a guest's could be. The cleanup of leftovers and the clock step are
not run here (they would act on this shared host): the VM tests check those on
a resumed guest.
"""
from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest
from conftest import ROOT

from harness.targets import guest
from harness.targets.base import AGENT_PATH
from harness.targets.ssh import close_connection, connect


# Where the agent folder may go: the checkout's own .harness, unless the checkout lies under a
# folder others may write to (a clone in /tmp), then root's cache, then /var/lib as a guest has it.
CANDIDATES = (ROOT / ".harness", Path.home() / ".cache" / "harness" / "guest-tests", Path("/var/lib/harness-tests"))


@pytest.fixture
def home():
    """An agent folder whose every parent is root's and writable by no one else, as /var/lib is."""
    base = next((c for c in CANDIDATES if all(guest_trusts(p) for p in c.parents if p.exists())), None)
    assert base is not None, f"no folder here has only root-owned, not group/world-writable parents: {CANDIDATES}"
    base.mkdir(mode=0o755, parents=True, exist_ok=True)
    assert all(guest_trusts(p) for p in [base, *base.parents])
    path = base / f"guest-test-{uuid.uuid4().hex[:8]}"
    yield str(path)
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def guest_trusts(path) -> bool:
    st = os.lstat(path)
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


@pytest.fixture
def conn(sshd):
    c = connect(sshd.endpoint())
    yield c
    close_connection(c)


def test_the_agent_is_installed_once_then_run_from_where_only_root_can_change_it(conn, home):
    report, path = guest.prepare(conn, clean=False, home=home)
    assert report.agent == "install" and path == f"{home}/agent-{guest.agent_digest()}.py"
    assert open(path, "rb").read() == AGENT_PATH.read_bytes()
    st = os.stat(path)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644 and stat.S_IMODE(os.stat(home).st_mode) == 0o755
    again, same = guest.prepare(conn, clean=False, home=home)
    assert again.agent == "cached" and same == path
    assert not again.stepped and abs(again.offset_s) <= 1 and again.leftovers == 0  # this host's own clock


@pytest.mark.parametrize("tamper", ["group-writable file", "world-writable folder", "other content",
                                    "file of another owner", "folder is a symlink"])
def test_an_agent_that_anyone_but_root_could_have_changed_is_installed_afresh(conn, home, tmp_path, tamper):
    _, path = guest.prepare(conn, clean=False, home=home)
    if tamper == "group-writable file":
        os.chmod(path, 0o664)
    elif tamper == "world-writable folder":
        os.chmod(home, 0o777)
    elif tamper == "other content":
        with open(path, "ab") as f:
            f.write(b"\nimport os; os.system('id')\n")
    elif tamper == "file of another owner":
        os.chown(path, 65534, 65534)
    else:
        shutil.copytree(home, tmp_path / "elsewhere")
        shutil.rmtree(home)
        os.symlink(tmp_path / "elsewhere", home)
    report, again = guest.prepare(conn, clean=False, home=home)
    assert report.agent == "install" and again == path
    assert not os.path.islink(home) and guest_trusts(home) and guest_trusts(path)
    assert open(path, "rb").read() == AGENT_PATH.read_bytes()
    assert guest.prepare(conn, clean=False, home=home)[0].agent == "cached"


def test_under_a_folder_others_can_write_to_the_agent_is_copied_privately(conn, tmp_path):
    report, path = guest.prepare(conn, clean=False, home=str(tmp_path / "agents"))  # under /tmp (1777)
    assert report.agent == "push" and path is None
    assert not (tmp_path / "agents").exists()


def test_the_report_reads_the_scripts_lines():
    report = guest.parse_report("leftovers=2\noffset=-30\nstepped=1\nafter=100.25\nagent=cached\n", 99.0, 101.0)
    assert report == guest.GuestReport(agent="cached", offset_s=-30, stepped=True, clock_error_s=0.25, leftovers=2)
    assert report.clock_note() == "stepped by +30 s to the host's (then +0.2 s off)"
    assert guest.parse_report("offset=0\nafter=5.N\nagent=push\n", 5, 5).clock_error_s == 0  # BSD date: no %N
    with pytest.raises(guest.AgentError, match="preparing the guest failed"):
        guest.parse_report("sh: 1: Syntax error\n", 0, 0)
