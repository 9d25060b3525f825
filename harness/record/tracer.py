"""Run a program under `strace -f` until it exits, a duration passes or the user stops it.

The side-effect edge of `harness record`: strace runs in a session of its own, so
a Ctrl-C reaches only the harness, which then stops the program itself (SIGTERM
to the traced processes, SIGKILL after a grace period) and keeps what strace
wrote. Every process the trace names and that outlived it is killed by its pid:
the recording leaves nothing running. If the harness itself dies (SIGKILL, a
crash), a watchdog (watchdog.py) kills the program and strace and removes the
trace folder.

strace runs without `-yy` (decoding each descriptor costs a netlink query per call)
and traces only the calls the recorder reads: convert.py follows descriptors from
the calls themselves; data (send, recv...) is not traced, only sendmsg and recvmsg,
which carry descriptors over UNIX sockets.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .watchdog import alive, start_time

# What the recorder reads: socket calls, descriptors (close, dup, close-on-exec, SCM_RIGHTS), processes, users.
TRACED = ("socket,socketpair,bind,listen,connect,accept,accept4,setsockopt,getsockopt,getsockname,shutdown,"
          "sendmsg,recvmsg,%process,close,close_range,dup,dup2,dup3,fcntl,"
          "setuid,setgid,setreuid,setregid,setresuid,setresgid,setgroups")
GRACE_S = 5.0  # after SIGTERM, before SIGKILL
POLL_S = 0.1
STDERR_TAIL = 1500  # characters of the program's (and strace's) stderr shown when it fails
WATCHDOG = Path(__file__).with_name("watchdog.py")


class RecordError(Exception):
    """The recording could not be made; `status` is the exit status (2 bad input, 3 could not run)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Stopped(Exception):
    """A signal asked the recorder to stop (SIGTERM, SIGHUP); Ctrl-C is KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.name = signal.Signals(signum).name


@dataclass(frozen=True)
class Traced:
    trace: Path
    status: Optional[int]  # the program's exit status; None if it was stopped by us or killed by a signal
    signal: Optional[str]  # the signal that killed it (when it was not us), e.g. SIGSEGV
    stopped: str  # how it ended, for the file's header
    stderr: str  # the tail of the program's and strace's stderr
    strays: list[int]  # traced processes that outlived the program, killed
    left_session: list[int]  # ... of which these had left its session (daemons)

    @property
    def failed(self) -> bool:
        """It ended on its own with a failure: a non-zero status or a signal we did not send."""
        return bool(self.status) or self.signal is not None


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
    argv = [strace, "-f", "-q", "--seccomp-bpf", "-e", f"trace={TRACED}", "-o", str(out), "--", *command]
    watchdog = subprocess.Popen([sys.executable, str(WATCHDOG), str(folder)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    tell = watchdog.stdin.fileno()

    def announce() -> None:  # in strace's process, before it runs: the watchdog knows it whatever happens next
        os.write(tell, b"strace %d\n" % os.getpid())

    try:
        with open(errors, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                    preexec_fn=announce)
        started = start_time(proc.pid)
        stopped = _wait(proc, duration, say, lambda: _traced_alive(out, started))
        outlived = _traced_alive(out, started)
        left = [pid for pid in outlived if _session(pid) not in (proc.pid, -1)]
        strays = [pid for pid in outlived if _signal(pid, signal.SIGKILL)]
    finally:
        try:
            watchdog.stdin.write(b"done\n")  # every process is accounted for: the watchdog can go
            watchdog.stdin.close()
        except OSError:
            pass
        watchdog.wait()
    text = errors.read_text(errors="replace") if errors.exists() else ""
    code = proc.returncode
    status = code if not stopped and code >= 0 else None
    killed = signal.Signals(-code).name if not stopped and code < 0 and -code in signal.valid_signals() else None
    if not stopped:
        stopped = f"exited with status {status}" if killed is None else f"was killed by {killed}"
    return Traced(out, status, killed, stopped, text[-STDERR_TAIL:], strays, [pid for pid in left if pid in strays])


def _wait(proc: subprocess.Popen, duration: Optional[float], say: Callable[[str], None],
          traced: Callable[[], list[int]]) -> str:
    """Until the program ends, or why we stopped it (then it is stopped when this returns)."""
    deadline = time.monotonic() + duration if duration is not None else None
    stopped, why = "", ""
    try:
        while proc.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                stopped, why = f"was stopped after {duration:g} s (--duration)", "--duration reached"
                break
            try:  # returns as soon as it ends
                proc.wait(POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pass
    except KeyboardInterrupt:
        stopped, why = "was stopped by Ctrl-C", "Ctrl-C"
    except Stopped as sig:
        stopped, why = f"was stopped by {sig.name}", sig.name
    if proc.poll() is None:
        _tell(say, f"record: {why}: stopping the program (SIGTERM, then SIGKILL after {GRACE_S:g} s)")
        _stop(proc, traced)
    return stopped


def _tell(say: Callable[[str], None], text: str) -> None:
    """A progress message; a terminal that went away (SIGHUP) does not stop the recording."""
    try:
        say(text)
    except OSError:
        pass


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
        except (KeyboardInterrupt, Stopped):  # asked again: no more patience
            continue
    proc.kill()
    proc.wait()


def _session(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def _session_members(leader: int) -> list[int]:
    """Processes whose session is `leader`'s (strace's), leader excluded."""
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and int(entry) != leader and _session(int(entry)) == leader]


def _traced_alive(trace_file: Path, since: int) -> list[int]:
    """Processes the trace names that are still running (zombies are dead). Only one started after
    strace (by its start time) can be the traced one, not a reuse of its pid."""
    if not trace_file.exists():
        return []
    pids = set()
    with open(trace_file, errors="replace") as fh:
        for line in fh:
            head = line.split(" ", 1)[0]
            if head.isdigit():
                pids.add(int(head))
    return [pid for pid in sorted(pids) if start_time(pid) >= since and alive(pid)]


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
