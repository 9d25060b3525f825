"""os.killpg as XNU answers it, on Linux: for tests of the macOS end of a run.

XNU's killpg1() (bsd/kern/kern_sig.c, xnu-11417) walks the group with pgrp_iterate and a
filter that skips zombies (`p->p_stat != SZOMB`), counts the processes it may signal and,
when it counted none, returns EPERM under POSIX rules (ESRCH only when the group itself is
gone). So a group whose only member is an agent that has exited but is not reaped yet, which
is how every run leaves its agent, answers killpg(SIGKILL) with EPERM on macOS, where Linux
answers 0. `install(log)` replaces os.killpg with that rule, read from /proc, and appends a
line to `log` for every EPERM it returns, so a test can show the path was taken.

A member that is still running but about to exit is given up to a second to become a zombie
before the rule is applied: the harness kills the group right after the agent's last line,
while the agent may still be on its way out.
"""
from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path
from typing import Optional

_real_killpg = os.killpg


def members(pgid: int) -> dict[int, str]:
    """pid -> state letter of every process in the group, from /proc/PID/stat."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:
            out[int(entry.name)] = fields[0]
    return out


def xnu_killpg(pgid: int, sig: int, log: Optional[Path] = None, settle: float = 1.0) -> None:
    """killpg with XNU's answer for a group of zombies (EPERM), else the real one."""
    deadline = time.monotonic() + settle
    group = members(pgid)
    while group and any(state != "Z" for state in group.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
        group = members(pgid)
    if group and all(state == "Z" for state in group.values()):
        if log is not None:
            with open(log, "a") as f:
                f.write(f"EPERM killpg({pgid}, {signal.Signals(sig).name}): only zombies {sorted(group)}\n")
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
    _real_killpg(pgid, sig)


def install(log: Path) -> None:
    """Make every os.killpg of this process answer as XNU would."""
    os.killpg = lambda pgid, sig: xnu_killpg(pgid, sig, log)
