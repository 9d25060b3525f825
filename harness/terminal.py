"""What every command shares about talking to a person: the two consoles, exit statuses, bad input.

Exit status: 0 every scenario passed (or was skipped), 1 some behaviour differs
from its expectation, 2 bad input (nothing run, nothing written), 3
infrastructure errors (they win over 1: such a run cannot be trusted), 129 hung
up (SIGHUP), 130 interrupted (Ctrl-C, SIGTERM).

Messages are text: the consoles interpret neither markup (`[red]`) nor emoji
codes (`:100:` in `file.yaml:100:14`), so a file name, a path or an error prints
as it is; colour is asked for with rich Text objects, never by markup in a string.
"""
from __future__ import annotations

import os
import sys
from typing import NoReturn, Optional

from rich.console import Console

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA, EXIT_HANGUP, EXIT_INTERRUPTED = 0, 1, 2, 3, 129, 130

LOG_WIDTH = 160  # a CI log does not wrap: tables keep their columns readable
MIN_WIDTH = 60  # narrower (COLUMNS=10) and tables would drop columns: lines wrap on screen instead


def columns() -> Optional[int]:
    """COLUMNS as a person set it, if it is a positive number (COLUMNS=0 or junk is not a width)."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _console(stderr: bool) -> Console:
    """A console; into a file or pipe (a CI log) it is LOG_WIDTH wide unless COLUMNS says otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    tty = stream is not None and stream.isatty()
    wanted = columns() or (None if tty else LOG_WIDTH)
    return Console(stderr=stderr, highlight=False, markup=False, emoji=False,
                   width=max(wanted, MIN_WIDTH) if wanted else None)


out = _console(stderr=False)
err = _console(stderr=True)


LIMIT = 2000  # characters of one value in a message


def visible(text: str, keep: str = "\t\n") -> str:
    """Every character shown: one that prints as nothing or acts (controls, escape sequences, NUL,
    U+202E reversing the text, U+2028 breaking the line, a lone surrogate) as its escape (`\\x1b`)."""
    if text.isprintable() or (keep and _without(text, keep).isprintable()):
        return text  # nearly always: a report of a million cells goes through here
    return "".join(ch if ch in keep or ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _without(text: str, chars: str) -> str:
    for ch in chars:
        text = text.replace(ch, "")
    return text


def clean(text: str, limit: int = LIMIT) -> str:
    """Text as it may reach a terminal or a log: one line (a message with line breaks, such as a
    tool's stderr, is joined), control characters (escape sequences, NULs) shown as escapes, never
    acted on, and a huge value shortened rather than repeated in full."""
    text = " ".join(text.split("\n"))
    shown = visible(text[:limit], keep="\t")
    return shown if len(text) <= limit else f"{shown}… ({len(text) - limit} more characters)"


def bad_input(message: str) -> NoReturn:
    err.print(f"harness: {clean(message)}", soft_wrap=True)
    sys.exit(EXIT_BAD_INPUT)
