"""The end of a run on macOS: killing an agent group that holds only zombies answers EPERM there.

XNU's killpg1() returns EPERM for a process group whose members have all exited but are not
reaped (tests/xnu_killpg.py cites it); every run ends that way, so a session that let that
PermissionError out crashed the run after results.json and before junit.xml and report.html.
Here os.killpg is replaced by tests/xnu_killpg.py, which applies XNU's rule to this Linux
machine's /proc, and logs each EPERM it answers so that the tests can show it was taken.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import ROOT, SEED, needs_root

import xnu_killpg
from harness.targets.process import ProcessSession

TESTS = Path(__file__).resolve().parent


def wait_exited(pid: int) -> None:
    """Until the child has exited, leaving it unreaped (a zombie), as the agent is at the end of a run."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def test_closing_a_session_whose_group_holds_only_a_zombie_survives_eperm(tmp_path, monkeypatch):
    log = tmp_path / "eperm.log"
    session = ProcessSession([sys.executable, "-c", "pass"])
    pid = session._proc.pid
    wait_exited(pid)
    assert xnu_killpg.members(pid) == {pid: "Z"}
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: xnu_killpg.xnu_killpg(pgid, sig, log))
    assert session.close() == 0
    assert log.read_text().startswith(f"EPERM killpg({pid}, SIGKILL)")
    assert xnu_killpg.members(pid) == {}  # reaped


def test_the_fake_still_kills_a_group_with_a_live_member(tmp_path, monkeypatch):
    """XNU signals the living members and answers 0: the fake must not hide a running agent."""
    log = tmp_path / "eperm.log"
    session = ProcessSession([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: xnu_killpg.xnu_killpg(pgid, sig, log, settle=0.1))
    assert session.close() == -9
    assert not log.exists()


@needs_root
def test_a_run_whose_agent_groups_answer_eperm_at_the_end_writes_all_three_reports(tmp_path):
    """`harness run` with os.killpg answering as XNU does: exit 0, results.json, junit.xml and report.html."""
    log, out = tmp_path / "eperm.log", tmp_path / "out"
    program = ("import sys; from pathlib import Path; import xnu_killpg; "
               f"xnu_killpg.install(Path({str(log)!r})); "
               "from harness.cli import main; main(sys.argv[1:])")
    proc = subprocess.run([sys.executable, "-c", program, "run", str(SEED), "--targets", "local,local-legacy",
                           "--tags", "bind", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(TESTS), "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PermissionError" not in proc.stderr
    # Both agents' groups were killed after their agent had exited, and XNU's EPERM came back.
    assert len(log.read_text().splitlines()) >= 2, log.read_text()
    assert (out / "results.json").stat().st_size > 0
    suites = ET.parse(out / "junit.xml").getroot().iter("testsuite")
    assert {s.get("name") for s in suites} == {"local", "local-legacy"}
    assert 'data-target="local-legacy"' in (out / "report.html").read_text()
