"""The recorder's watchdog: if `harness record` dies, its traced program and strace die too.

Started by tracer.py in a session of its own (so a closed terminal's SIGHUP and a Ctrl-C miss
it), it reads lines from a pipe whose other end only the recorder holds: `strace PID` (written
by strace's process itself, before it starts the program) and, when the recorder has cleaned up
after itself, `done`. End of file without `done` means the recorder died however it died
(SIGKILL included): then every process strace traces is killed, then strace, then whatever is
left of strace's session, and the trace folder is removed. Standard library only, run by path.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import time

ROUNDS = 50  # a program forking while it is killed gets new tracees: look again until none is left
PAUSE_S = 0.02


def start_time(pid: int) -> int:
    """When a process started (clock ticks since boot); -1 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return int(fh.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def status_field(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def alive(pid: int) -> bool:
    """Running or stopped, not a zombie waiting to be reaped."""
    state = status_field(pid, "State")
    return bool(state) and not state.startswith(("Z", "X"))


def pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def traced_by(tracer: int) -> list[int]:
    return [pid for pid in pids() if status_field(pid, "TracerPid") == str(tracer) and alive(pid)]


def in_session(leader: int) -> list[int]:
    found = []
    for pid in pids():
        try:
            if pid != leader and os.getsid(pid) == leader and alive(pid):
                found.append(pid)
        except OSError:
            continue
    return found


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def clean_up(strace_pid: int, started: int, folder: str) -> None:
    """Kill the tracees while strace still holds them (once it is gone they would run on untraced),
    then strace and the rest of its session; remove the folder."""
    if strace_pid and start_time(strace_pid) == started:
        kill_all(lambda: traced_by(strace_pid))
        kill(strace_pid)
        kill_all(lambda: in_session(strace_pid))
    shutil.rmtree(folder, ignore_errors=True)


def kill_all(find) -> None:
    """Kill what `find` lists until it lists nothing (processes forking while they die make more)."""
    for _ in range(ROUNDS):
        found = find()
        if not found:
            return
        for pid in found:
            kill(pid)
        time.sleep(PAUSE_S)


def main(folder: str) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    strace_pid, started = 0, -1
    for raw in sys.stdin.buffer:
        words = raw.decode("ascii", "replace").split()
        if words[:1] == ["strace"] and len(words) == 2 and words[1].isdigit():
            strace_pid = int(words[1])
            started = start_time(strace_pid)
        elif words == ["done"]:
            return
    clean_up(strace_pid, started, folder)


if __name__ == "__main__":
    main(sys.argv[1])
