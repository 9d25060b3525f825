"""The standard streams, made safe to lose: a run never depends on a working stdout or stderr.

A closed descriptor (`harness run ... >&-`), a full device (`>/dev/full`), a pipe whose
reader left early (`| head -c 10`) or a terminal gone with SIGHUP must not stop a run
half way, lose its results or end in a traceback. `install()` runs first thing: a
closed 0, 1 or 2 is opened on /dev/null (so no file the run opens later takes its
number and receives its messages), and sys.stdout and sys.stderr become GuardedStreams:
the first write that fails is remembered, the descriptor is pointed at /dev/null (so
the interpreter's own flush at exit finds nothing to complain about), and later writes
are dropped. The command can then say on the other stream what happened (`failure()`).
"""
from __future__ import annotations

import io
import os
import sys
from typing import Any, Optional, TextIO


class GuardedStream(io.TextIOBase):
    """A text stream that never raises on write or flush; what went wrong is kept in `failure`."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self.name = name
        self.failure: Optional[str] = None

    def _guard(self, action: str, *args: Any) -> Any:
        if self.failure is not None:
            return None
        try:
            return getattr(self._stream, action)(*args)
        except UnicodeEncodeError:  # a stream that cannot show a character shows its escape
            text = args[0].encode(self.encoding or "utf-8", "backslashreplace").decode(self.encoding or "utf-8")
            return self._guard(action, text)
        except (OSError, ValueError) as exc:  # EPIPE, ENOSPC, EIO, EBADF; ValueError: closed
            self.failure = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self._silence()
            return None

    def _silence(self) -> None:
        """Point the descriptor at /dev/null: what is still buffered is dropped, not re-tried at exit."""
        try:
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def write(self, text: str) -> int:
        self._guard("write", text)
        return len(text)

    def flush(self) -> None:
        self._guard("flush")

    def isatty(self) -> bool:
        try:
            return self.failure is None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "errors", None) or "strict"

    @property
    def buffer(self) -> Any:
        return getattr(self._stream, "buffer", None)


def _reopen_closed_descriptors() -> None:
    """Open /dev/null on each of 0, 1, 2 that is closed: the lowest free number is the one taken."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)


def install() -> None:
    """Make stdin, stdout and stderr safe to use whatever state they were handed over in."""
    _reopen_closed_descriptors()
    if sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (lives as long as the process)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, GuardedStream):
            continue
        if stream is None:  # the interpreter found the descriptor closed at start
            stream = open(1 if name == "stdout" else 2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        setattr(sys, name, GuardedStream(stream, name))


def failure(name: str) -> Optional[str]:
    """Why writing to sys.stdout or sys.stderr failed (`Broken pipe`), or None."""
    return getattr(getattr(sys, name), "failure", None)
