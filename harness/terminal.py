"""What every command shares about talking to a person: the two consoles, exit statuses, bad input.

Exit status: 0 every scenario passed (or was skipped), 1 some behaviour differs
from its expectation, 2 bad input (nothing run, nothing written), 3
infrastructure errors (they win over 1: such a run cannot be trusted), 130
interrupted.
"""
from __future__ import annotations

import os
import sys
from typing import NoReturn

from rich.console import Console

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

LOG_WIDTH = 160  # a CI log does not wrap: tables keep their columns readable


def _console(stderr: bool) -> Console:
    """A console; into a file or pipe (a CI log) it is LOG_WIDTH wide unless COLUMNS says otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, highlight=False, width=LOG_WIDTH if wide else None)


out = _console(stderr=False)
err = _console(stderr=True)


LIMIT = 2000  # characters of one value in a message


def clean(text: str, limit: int = LIMIT) -> str:
    """Text as it may reach a terminal or a log: one line (a message with line breaks, such as a
    tool's stderr, is joined), control characters (escape sequences, NULs) shown as escapes, never
    acted on, and a huge value shortened rather than repeated in full."""
    text = " ".join(text.split("\n"))
    shown = "".join(ch if ch == "\t" or ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return shown if len(text) <= limit else f"{shown}… ({len(text) - limit} more characters)"


def bad_input(message: str) -> NoReturn:
    err.print(f"harness: {clean(message)}", markup=False, soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)
