"""From the bytes an agent writes to the events they carry: the line reader every transport uses.

Below both the runner (which drives agents) and the targets (whose sessions carry
their output): a pipe and an SSH channel only say how bytes arrive; cutting them
into lines and lines into events is the same for all. The event names and the
protocol version come from the agent itself, the one side that cannot import ours.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, Optional

from .agent import END, ENVIRONMENT, ERROR, HELLO, PROTOCOL, SCENARIO

__all__ = ["END", "ENVIRONMENT", "ERROR", "HELLO", "PROTOCOL", "SCENARIO", "AgentError", "LineReader", "parse_event"]


class AgentError(Exception):
    """The agent or its transport failed: an infrastructure error, never behaviour."""


class LineReader:
    """Lines out of a byte stream, whatever carries it (a pipe, an SSH channel).

    `read_chunk(wait)` returns the bytes that arrived within `wait` seconds,
    None if none did, or b"" at end of stream.
    """

    def __init__(self, read_chunk: Callable[[float], Optional[bytes]]) -> None:
        self._read_chunk = read_chunk
        self._buffer = b""
        self.eof = False

    def read_line(self, timeout: float) -> Optional[str]:
        """The next line (a last one without newline too); None at end of stream; AgentError on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self.eof:
                line, self._buffer = self._buffer, b""
                return line.decode("utf-8", "replace") if line else None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentError(f"agent produced no output for {timeout:.0f} s")
            chunk = self._read_chunk(remaining)
            if chunk is not None:
                self.eof = not chunk
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")


def parse_event(line: Optional[str]) -> Optional[dict[str, Any]]:
    """One of the agent's lines as an event; None at end of output."""
    if line is None:
        return None
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise AgentError(f"agent wrote a line that is not JSON ({exc}): {line[:200]!r}") from None
    if not isinstance(event, dict) or "event" not in event:
        raise AgentError(f"agent wrote an unexpected line: {line[:200]!r}")
    return event
