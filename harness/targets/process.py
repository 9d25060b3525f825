"""An AgentSession over a local subprocess (used by `local` and `local-legacy`)."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
from typing import Callable, Optional, Sequence

from .base import AgentError, AgentSession


def kill_group(pid: int) -> None:
    """SIGKILL a process group we started (start_new_session), if anything in it can still be signalled.

    ESRCH: the group is gone. EPERM: nothing in it could be signalled. XNU answers so for a
    group whose members have all exited but are not reaped yet, as our agent is when a run ends:
    killpg1() in bsd/kern/kern_sig.c skips zombies (its pgrp_iterate filter, p_stat != SZOMB),
    finds nothing and returns EPERM under POSIX rules. Either way nothing is left to kill; the
    caller reaps the leader.
    """
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class ProcessSession(AgentSession):
    """The agent as a child process in its own process group.

    stderr goes to a temporary file, so a chatty agent can never block on a full
    pipe while we wait for stdout; stopping kills the whole group, which takes
    the agent's per-scenario supervisors and actors with it.
    """

    def __init__(self, argv: Sequence[str], preexec: Optional[Callable[[], None]] = None) -> None:
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
                preexec_fn=preexec,
            )
        except OSError as exc:
            raise AgentError(f"cannot start agent {argv[0]}: {exc}") from None
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)
        super().__init__()

    def _read_chunk(self, wait: float) -> Optional[bytes]:
        if not self._selector.select(wait):
            return None
        return os.read(self._proc.stdout.fileno(), 65536)

    def send(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.close()
        except (BrokenPipeError, OSError) as exc:
            raise AgentError(f"agent closed its input early: {exc}; stderr: {self.stderr_tail()}") from None

    def kill(self) -> None:
        kill_group(self._proc.pid)

    def close(self) -> int:
        self.kill()  # also when the agent already exited: its scenario processes may not have
        status = self._proc.wait()
        self._selector.close()
        self._proc.stdout.close()
        if self._proc.stdin and not self._proc.stdin.closed:
            self._proc.stdin.close()
        return status

    def stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode("utf-8", "replace").strip()
