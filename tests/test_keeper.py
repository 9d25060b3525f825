"""The keeper of a machine left running after a run (`--save-after`), as real processes, without a VM.

`virsh` is a fake here (a script on PATH that keeps the domain's state in a file), so
that the keeper's save is checked without libvirt; test_vms.py runs the real one.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.targets import keeper
from harness.targets.vmstate import RUNNING, SAVED, MachineRecord

FAKE_VIRSH = """#!/bin/sh
# virsh -c URI COMMAND DOMAIN...: the domain's state in $FAKE_VIRSH_STATE; every call logged.
shift 2
echo "$*" >> "$FAKE_VIRSH_STATE.calls"
case "$1" in
  dominfo) if [ "$(cat "$FAKE_VIRSH_STATE")" = saved ]; then printf 'State:          shut off\\nManaged save:   yes\\n';
           else printf 'State:          running\\nManaged save:   no\\n'; fi ;;
  managedsave) echo saved > "$FAKE_VIRSH_STATE" ;;
  list) echo harness-other-machine ;;
esac
"""


@pytest.fixture
def record_path(tmp_path, monkeypatch) -> Path:
    """A running machine's record, and a fake virsh for it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "virsh").write_text(FAKE_VIRSH)
    (bin_dir / "virsh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VIRSH_STATE", str(tmp_path / "domain"))
    (tmp_path / "domain").write_text("running\n")
    path = tmp_path / "vagrant" / "linux-modern" / "machine.json"
    path.parent.mkdir(parents=True)
    MachineRecord(fingerprint="f", box="b", state=RUNNING, host="127.0.0.1", port=2222, user="vagrant",
                  key_file="k").write(path)
    return path


def ended(pid: int, timeout: float = 30) -> int:
    """The exit status of a keeper this process spawned, once it ends."""
    proc = next(p for p in keeper._SPAWNED if p.pid == pid)
    return proc.wait(timeout)


def test_a_run_takes_the_machine_over_from_its_keeper(record_path):
    pid = keeper.spawn(record_path, "harness-test-domain", 300, stop_daemons=True)
    record = MachineRecord.read(record_path)
    assert (record.keeper, record.keeper_daemons) == (pid, True)
    deadline = time.monotonic() + 10
    while "saving the machine in" not in (record_path.parent / "keeper.log").read_text():
        assert time.monotonic() < deadline, "the keeper never started"
        time.sleep(0.05)
    assert keeper.is_keeper(pid, record_path) and not keeper.is_keeper(pid, record_path.with_name("other.json"))
    assert not keeper.is_keeper(os.getpid(), record_path)
    said = []
    taken = keeper.take_over(record_path, said.append)
    assert taken == keeper.TakenOver(pid, daemons=True)  # the daemons it would have stopped: the caller's now
    assert not Path(f"/proc/{pid}").exists()  # stopped (SIGTERM) and, a child of this process, reaped
    assert said == [f"stopped keeper pid {pid}: the machine it would have saved is this run's"]
    record = MachineRecord.read(record_path)
    assert (record.keeper, record.keeper_daemons, record.state) == (0, False, RUNNING)
    assert keeper.take_over(record_path, said.append) is None  # nothing holds it any more
    assert not Path(os.environ["FAKE_VIRSH_STATE"] + ".calls").exists()  # and nothing was saved


def test_a_keeper_of_this_process_counts_as_gone_only_once_reaped(record_path):
    """An exiting child shows no command line (so is no keeper by /proc) before it can be reaped:
    a take-over that believed /proc returned with it unreaped (seen once, on a loaded CI machine)."""
    import signal
    import subprocess

    child = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    try:
        assert not keeper.is_keeper(child.pid, record_path)  # like an exiting keeper, by /proc
        assert not keeper._gone(child.pid, record_path)  # but still running: not gone
        child.terminate()
        deadline = time.monotonic() + 10
        while not keeper._gone(child.pid, record_path):
            assert time.monotonic() < deadline, "never reaped"
            time.sleep(0.01)
        assert not Path(f"/proc/{child.pid}").exists()
    finally:
        child.kill()
        child.wait()


def test_the_keeper_saves_the_machine_when_nobody_came(record_path):
    pid = keeper.spawn(record_path, "harness-test-domain", 1, stop_daemons=True)
    assert ended(pid) == 0
    record = MachineRecord.read(record_path)
    assert (record.state, record.keeper) == (SAVED, 0)
    calls = Path(os.environ["FAKE_VIRSH_STATE"] + ".calls").read_text().splitlines()
    assert calls == ["dominfo harness-test-domain", "managedsave harness-test-domain", "dominfo harness-test-domain",
                     "list --name"]
    log = (record_path.parent / "keeper.log").read_text()
    # Another machine still runs on the daemons: they are left running.
    assert "saved to disk" in log and "libvirt daemons left running for harness-other-machine" in log


def test_a_keeper_whose_machine_was_taken_meanwhile_leaves_it_alone(record_path):
    pid = keeper.spawn(record_path, "harness-test-domain", 1, stop_daemons=False)
    with keeper.machine_lock(record_path):  # as a take-over that found it already gone
        record = MachineRecord.read(record_path)
        record.keeper = 0
        record.write(record_path)
    assert ended(pid) == 0
    assert "nothing to do" in (record_path.parent / "keeper.log").read_text()
    assert MachineRecord.read(record_path).state == RUNNING
    assert not Path(os.environ["FAKE_VIRSH_STATE"] + ".calls").exists()


def test_only_a_running_machine_gets_a_keeper(record_path):
    record = MachineRecord.read(record_path)
    record.state = SAVED
    record.write(record_path)
    with pytest.raises(RuntimeError, match="no running machine to keep"):
        keeper.spawn(record_path, "harness-test-domain", 60, stop_daemons=False)
    assert MachineRecord.read(record_path).keeper == 0
