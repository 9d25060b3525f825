"""Run a program under `strace -f` until it exits, a duration passes or the user stops it.

The side-effect edge of `harness record`: strace runs in a session of its own, so
a Ctrl-C reaches only the harness, which then stops the program itself (SIGTERM
to the traced processes, SIGKILL after a grace period) and keeps what strace
wrote. Every process the trace names and that outlived it is killed by its pid:
the recording leaves nothing running.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

# What the recorder reads: socket calls, descriptors (close, dup, close-on-exec), processes, users.
TRACED = ("%network,%process,close,dup,dup2,dup3,fcntl,"
          "setuid,setgid,setreuid,setregid,setresuid,setresgid,setgroups")
GRACE_S = 5.0  # after SIGTERM, before SIGKILL
POLL_S = 0.1
STDERR_TAIL = 1500  # characters of the program's (and strace's) stderr shown when it fails


class RecordError(Exception):
    """The recording could not be made; `status` is the exit status (2 bad input, 3 could not run)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Traced:
    trace: Path
    status: Optional[int]  # the program's exit status as strace passed it on; None if stopped by us
    stopped: str  # how it ended, for the file's header
    stderr: str  # the tail of the program's and strace's stderr
    strays: list[int]  # traced processes still alive afterwards, killed


def find_strace() -> str:
    path = shutil.which("strace")
    if path is None:
        raise RecordError(3, "strace is not installed (Debian: apt-get install strace; scripts/setup.sh installs it)")
    return path


def find_command(program: str) -> str:
    """The executable COMMAND names, or bad input (exit 2) saying why not."""
    path = program if "/" in program else shutil.which(program)
    if path is None or not os.path.exists(path):
        raise RecordError(2, f"command not found: {program}")
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise RecordError(2, f"not an executable program: {program}")
    return path


def trace(command: list[str], folder: Path, duration: Optional[float],
          say: Callable[[str], None]) -> Traced:
    """Run COMMAND under strace, its trace into `folder`; returns when it is over, whatever ended it."""
    strace = find_strace()
    find_command(command[0])
    out, errors = folder / "trace.txt", folder / "stderr.txt"
    argv = [strace, "-f", "-q", "-yy", "--seccomp-bpf", "-e", f"trace={TRACED}", "-o", str(out), "--", *command]
    with open(errors, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=err, start_new_session=True)
    started = _start_time(proc.pid)
    deadline = time.monotonic() + duration if duration is not None else None
    stopped = ""
    try:
        while proc.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                stopped = f"was stopped after {duration:g} s (--duration)"
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        stopped = "was stopped by Ctrl-C"
    if proc.poll() is None:
        say(f"record: {'Ctrl-C' if 'Ctrl-C' in stopped else '--duration reached'}: stopping the program "
            f"(SIGTERM, then SIGKILL after {GRACE_S:g} s)")
        _stop(proc, lambda: _traced_alive(out, started))
    status = proc.returncode if not stopped else None
    strays = [pid for pid in _traced_alive(out, started) if _signal(pid, signal.SIGKILL)]
    text = errors.read_text(errors="replace") if errors.exists() else ""
    if not stopped:
        stopped = f"exited with status {status}" if status is not None and status < 128 else \
            f"was killed by signal {status - 128}" if status else "exited"
    return Traced(out, status, stopped, text[-STDERR_TAIL:], strays)


def _stop(proc: subprocess.Popen, traced: Callable[[], list[int]]) -> None:
    """SIGTERM to the program: every process of strace's session but strace, and every traced process
    (one that left the session too); strace then ends with them. SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, GRACE_S)):
        for pid in sorted(set(_session_members(proc.pid) + traced()) - {proc.pid}):
            _signal(pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # a second Ctrl-C: no more patience
            continue
    proc.kill()
    proc.wait()


def _session_members(leader: int) -> list[int]:
    """Processes whose session is `leader`'s (strace's), leader excluded."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != leader:
            try:
                if os.getsid(int(entry)) == leader:
                    members.append(int(entry))
            except OSError:
                continue
    return members


def _traced_alive(trace_file: Path, since: int) -> list[int]:
    """Processes the trace names that are still alive. Only one started after strace (by its start
    time) can be the traced one, not a reuse of its pid."""
    if not trace_file.exists():
        return []
    pids = set()
    with open(trace_file, errors="replace") as fh:
        for line in fh:
            head = line.split(" ", 1)[0]
            if head.isdigit():
                pids.add(int(head))
    return [pid for pid in sorted(pids) if _start_time(pid) >= since]


def _start_time(pid: int) -> int:
    """When a process started (clock ticks since boot, /proc/PID/stat field 22); -1 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
