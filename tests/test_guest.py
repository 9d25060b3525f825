"""Preparing a reused VM (harness/targets/guest.py), against this test's own sshd as root.

The agent-cache checks are real: files and folders on this machine, owned and
moded as a guest's could be. The cleanup of leftovers and the clock step are
not run here (they would act on this shared host): the VM tests check those on
a resumed guest.
"""
from __future__ import annotations

import hashlib
import json
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


PYTHON = "python3"


def test_the_agent_is_installed_and_compiled_once_then_run_from_where_only_root_can_change_it(conn, home):
    report = guest.prepare(conn, PYTHON, clean=False, home=home)
    path, pyc = guest.agent_path(guest.agent_digest(), home), guest.compiled_path(guest.agent_digest(), home)
    assert report.agent == "install" and path == f"{home}/agent-{guest.agent_digest()}.py"
    assert open(path, "rb").read() == AGENT_PATH.read_bytes()
    assert report.compiled == hashlib.sha256(open(pyc, "rb").read()).hexdigest()
    for made in (path, pyc):
        st = os.stat(made)
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o755
    again = guest.prepare(conn, PYTHON, clean=False, compiled=report.compiled, home=home)
    assert again.agent == "cached" and again.compiled == ""
    assert not again.stepped and abs(again.offset_s) <= 1 and again.leftovers == 0  # this host's own clock
    # The host lost what the bytecode's digest was (a record written before, or none): made again.
    assert guest.prepare(conn, PYTHON, clean=False, home=home).agent == "install"


@pytest.mark.parametrize("tamper", ["group-writable file", "world-writable folder", "other content",
                                    "file of another owner", "folder is a symlink", "other bytecode",
                                    "bytecode of another owner", "no bytecode"])
def test_an_agent_that_anyone_but_root_could_have_changed_is_installed_afresh(conn, home, tmp_path, tamper):
    compiled = guest.prepare(conn, PYTHON, clean=False, home=home).compiled
    path, pyc = guest.agent_path(guest.agent_digest(), home), guest.compiled_path(guest.agent_digest(), home)
    if tamper == "group-writable file":
        os.chmod(path, 0o664)
    elif tamper == "world-writable folder":
        os.chmod(home, 0o777)
    elif tamper == "other content":
        with open(path, "ab") as f:
            f.write(b"\nimport os; os.system('id')\n")
    elif tamper == "file of another owner":
        os.chown(path, 65534, 65534)
    elif tamper == "other bytecode":
        with open(pyc, "ab") as f:
            f.write(b"\0")
    elif tamper == "bytecode of another owner":
        os.chown(pyc, 65534, 65534)
    elif tamper == "no bytecode":
        os.unlink(pyc)
    else:
        shutil.copytree(home, tmp_path / "elsewhere")
        shutil.rmtree(home)
        os.symlink(tmp_path / "elsewhere", home)
    report = guest.prepare(conn, PYTHON, clean=False, compiled=compiled, home=home)
    assert report.agent == "install"
    assert not os.path.islink(home) and guest_trusts(home) and guest_trusts(path) and guest_trusts(pyc)
    assert open(path, "rb").read() == AGENT_PATH.read_bytes()
    assert guest.prepare(conn, PYTHON, clean=False, compiled=report.compiled, home=home).agent == "cached"


def test_under_a_folder_others_can_write_to_the_agent_is_copied_privately(conn, tmp_path):
    report = guest.prepare(conn, PYTHON, clean=False, home=str(tmp_path / "agents"))  # under /tmp (1777)
    assert report.agent == "push" and report.compiled == ""
    assert not (tmp_path / "agents").exists()


def agent_runs(session) -> str:
    """The agent's hello read, an empty plan sent, its end read: the path of the program it ran."""
    hello = session.read_event(20)
    assert hello["event"] == "hello", hello
    program = open(f"/proc/{session.remote_pid}/cmdline", "rb").read().split(b"\0")
    session.send(json.dumps({"protocol": hello["protocol"], "options": {}, "scenarios": []}).encode())
    while session.read_event(20) is not None:
        pass
    assert session.close() == 0
    return program[-2].decode()


def test_the_agent_starts_in_the_same_exec_as_the_preparation_once_installed(sshd, home):
    first, session = guest.start(connect(sshd.endpoint()), PYTHON, clean=False, home=home)
    assert first.agent == "install" and first.compiled  # installed, then started by a second exec
    assert agent_runs(session) == guest.compiled_path(guest.agent_digest(), home)
    again, session = guest.start(connect(sshd.endpoint()), PYTHON, clean=False, compiled=first.compiled,
                                 home=home)
    assert again.agent == "cached" and "agent=cached" in session.prelude
    assert agent_runs(session) == guest.compiled_path(guest.agent_digest(), home)


def test_where_it_cannot_be_installed_the_agent_is_pushed_and_started(sshd, tmp_path):
    report, session = guest.start(connect(sshd.endpoint()), PYTHON, clean=False, home=str(tmp_path / "agents"))
    assert report.agent == "push" and agent_runs(session).endswith("/agent.py")


def test_the_report_reads_the_scripts_lines():
    report = guest.parse_report("leftovers=2\noffset=-30\nstepped=1\nafter=100.25\nagent=cached\n", 99.0, 101.0)
    assert report == guest.GuestReport(agent="cached", offset_s=-30, stepped=True, clock_error_s=0.25, leftovers=2)
    assert report.clock_note() == "stepped by +30 s to the host's (then +0.2 s off)"
    assert guest.parse_report("offset=0\nafter=5.N\nagent=push\n", 5, 5).clock_error_s == 0  # BSD date: no %N
    with pytest.raises(guest.AgentError, match="preparing the guest failed"):
        guest.parse_report("sh: 1: Syntax error\n", 0, 0)
