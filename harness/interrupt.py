"""Stopping a command by signal: Ctrl-C, SIGTERM and SIGHUP (the terminal closed) all stop it the same
way, as KeyboardInterrupt in the main thread, so a run kills its agents at once, marks its results
interrupted and writes its reports; only the exit status says which (130, or 129 for SIGHUP)."""
from __future__ import annotations

import signal

from .terminal import EXIT_HANGUP, EXIT_INTERRUPTED

_received: list[int] = []


def _stop(signum: int, frame: object) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop the command as Ctrl-C does, from this line on."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)


def interrupted_status() -> int:
    return EXIT_HANGUP if signal.SIGHUP in _received else EXIT_INTERRUPTED


def stopped_by() -> str:
    """`interrupted`, or `hung up (SIGHUP)`: for the message that ends the command."""
    return "hung up (SIGHUP)" if signal.SIGHUP in _received else "interrupted"
