"""A machine left running for a while after a run (`--save-after SECONDS`), then saved by a keeper.

Why: saving a machine and resuming it cost seconds each (libvirt writes and reads
its memory); a run that follows within the idle time finds it running and pays
neither, nor the libvirt daemons' start and stop. The keeper is a detached
process (a session of its own: a Ctrl-C at the terminal that started the run
does not reach it) that sleeps for the idle time, then saves the machine
(libvirt's managed save, as `--save` does) and stops the libvirt daemons if the
run had started them and no machine runs any more. A run, `harness up` or
`harness down` that comes first takes the machine over: the keeper is stopped
(by its pid, once /proc shows it is this machine's keeper) and the machine is
cleaned like a resumed one before it is used. The keeper works only under the
machine's lock, which a take-over takes too: a run never finds it half-saved.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from .vmstate import RUNNING, SAVED, LibvirtSaver, MachineRecord

MODULE = "harness.targets.keeper"  # run as `python -m MODULE`, and known by it in /proc
LOCK_TIMEOUT_S = 120  # a keeper holds the lock for one save (seconds) and a daemon stop
STOP_WAIT_S = 5
_SPAWNED: list[subprocess.Popen] = []  # kept, so that a long-lived caller never warns of a running child


@dataclass(frozen=True)
class TakenOver:
    """A machine a keeper was holding, now the caller's."""

    pid: int
    daemons: bool  # the keeper was to stop the libvirt daemons: now the caller is


@contextmanager
def machine_lock(record_path: Path, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """The machine's lock (a file beside its record), waited for at most `timeout` s."""
    record_path.parent.mkdir(parents=True, exist_ok=True)
    with open(record_path.parent / "keeper.lock", "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{record_path.parent}: its keeper held the lock for {timeout:.0f} s")
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_keeper(pid: int, record_path: Path) -> bool:
    """Whether `pid` is a live keeper of this machine (its command line names the record)."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return MODULE.encode() in argv and str(record_path).encode() in argv


def _gone(pid: int, record_path: Path) -> bool:
    """Whether the keeper `pid` has ended. Our own child (a caller that spawned it, in one process) is
    gone once reaped here: /proc alone would say so while it is exiting, before it can be reaped."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not is_keeper(pid, record_path)
    return reaped == pid


def spawn(record_path: Path, domain: str, seconds: float, stop_daemons: bool) -> int:
    """Start the keeper of the machine recorded at `record_path`, under the machine's lock; its pid,
    recorded. The caller holds nothing afterwards: the keeper's log is beside the record."""
    with machine_lock(record_path):
        record = MachineRecord.read(record_path)
        if record is None or record.state != RUNNING:
            raise RuntimeError(f"{record_path}: no running machine to keep")
        package_parent = str(Path(__file__).resolve().parents[2])  # the harness this process runs
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_parent,
                                                                         os.environ.get("PYTHONPATH")]))}
        with open(record_path.parent / "keeper.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", MODULE, str(record_path), domain, str(seconds)]
                + (["--stop-daemons"] if stop_daemons else []),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                cwd=os.getcwd(), env=env, close_fds=True)
        _SPAWNED.append(proc)
        record.keeper, record.keeper_daemons = proc.pid, stop_daemons
        record.write(record_path)
        return proc.pid


def take_over(record_path: Path, log: Callable[[str], None]) -> Optional[TakenOver]:
    """Stop the machine's keeper, if one holds it; what it held, or None when none did."""
    with machine_lock(record_path):
        record = MachineRecord.read(record_path)
        if record is None or not record.keeper:
            return None
        taken = TakenOver(record.keeper, record.keeper_daemons)
        if is_keeper(taken.pid, record_path):
            os.kill(taken.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT_S
            while not _gone(taken.pid, record_path) and time.monotonic() < deadline:
                time.sleep(0.02)
            log(f"stopped keeper pid {taken.pid}: the machine it would have saved is this run's")
        record.keeper, record.keeper_daemons = 0, False
        record.write(record_path)
        return taken


def keep(record_path: Path, domain: str, seconds: float, stop_daemons: bool) -> int:
    """The keeper itself: sleep, then (still this machine's keeper) save it and maybe stop the daemons."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a take-over stops it, whatever its parent ignored
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # detached: a terminal's Ctrl-C is not for it
    say = lambda line: print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} keeper {os.getpid()} {domain}: {line}",
                             flush=True)
    say(f"saving the machine in {seconds:g} s unless a run takes it over")
    time.sleep(seconds)
    with machine_lock(record_path):
        record = MachineRecord.read(record_path)
        if record is None or record.keeper != os.getpid():
            say("taken over or forgotten meanwhile: nothing to do")
            return 0
        saver = LibvirtSaver(domain, say)
        try:
            if saver.state() == RUNNING:
                saver.save()
            saved = saver.state() == SAVED
        except Exception as exc:  # noqa: BLE001 - said, and the record says what it is
            say(f"saving failed: {exc}")
            saved = False
        record.keeper, record.keeper_daemons = 0, False
        if saved:
            record.state = SAVED
            say("saved to disk; the next run resumes it")
        record.write(record_path)
        if stop_daemons and saved:
            stop_daemons_if_idle(say)
    return 0


def stop_daemons_if_idle(say: Callable[[str], None]) -> None:
    """The libvirt daemons a run started, stopped when no machine runs on them any more."""
    from .vagrantcli import host_daemons, virsh

    running = virsh("list", "--name", timeout=30).stdout.split()
    if running:
        say(f"libvirt daemons left running for {', '.join(running)}")
        return
    host_daemons("stop", say)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("record", type=Path)
    parser.add_argument("domain")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--stop-daemons", action="store_true")
    args = parser.parse_args(argv)
    return keep(args.record, args.domain, args.seconds, args.stop_daemons)


if __name__ == "__main__":
    sys.exit(main())
