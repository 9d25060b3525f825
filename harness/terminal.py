"""What every command shares about talking to a person: the two consoles, exit statuses, bad input.

Exit status: 0 every scenario passed (or was skipped), 1 some behaviour differs
from its expectation, 2 bad input (nothing run, nothing written), 3
infrastructure errors (they win over 1: such a run cannot be trusted), 129 hung
up (SIGHUP), 130 interrupted (Ctrl-C, SIGTERM).

Messages are text: the outputs interpret neither markup (`[red]`) nor emoji
codes (`:100:` in `file.yaml:100:14`), so a file name, a path or an error prints
as it is; colour is asked for with Styled pieces, never by markup in a string.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Optional, Sequence, Union

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA, EXIT_HANGUP, EXIT_INTERRUPTED = 0, 1, 2, 3, 129, 130

LOG_WIDTH = 160  # a CI log does not wrap: tables keep their columns readable
MIN_WIDTH = 60  # narrower (COLUMNS=10) and tables would drop columns: lines wrap on screen instead


@dataclass(frozen=True)
class Styled:
    """Text in a style (`bold red`) where a terminal shows colour; a file or pipe gets the text alone."""

    text: str
    style: str


Piece = Union[str, Styled]
Line = Union[Piece, Sequence[Piece]]  # a message: text, or text in pieces some of which are styled


@dataclass
class Grid:
    """A table: a box drawn by rich on a terminal, aligned plain columns in a log."""

    columns: list[str]  # headings (a line break splits one over lines on a terminal)
    rows: list[list[Line]] = field(default_factory=list)
    title: str = ""
    caption: str = ""
    centred: frozenset[int] = frozenset()  # columns whose cells are centred on a terminal
    folded: frozenset[int] = frozenset()  # columns whose long cells wrap on a terminal (others never do)


def _plain(line: Line) -> str:
    pieces = [line] if isinstance(line, (str, Styled)) else line
    return "".join(p.text if isinstance(p, Styled) else p for p in pieces)


def plain_grid(grid: Grid) -> list[str]:
    """A grid as lines of text, each column as wide as its widest cell: what logs and pipes get."""
    heads = [" ".join(h.split("\n")) for h in grid.columns]
    cells = [[_plain(c) for c in row] for row in grid.rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells if i < len(r)]) for i, h in enumerate(heads)]
    lines = [grid.title] if grid.title else []
    for row in [heads, *cells]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return lines + ([grid.caption] if grid.caption else [])


def columns() -> Optional[int]:
    """COLUMNS as a person set it, if it is a positive number (COLUMNS=0 or junk is not a width)."""
    value = os.environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class Output:
    """One standard stream for messages and tables. On a terminal rich draws them (colour, boxed
    tables, progress bars); into a file or pipe (a CI log) they are plain lines, and rich is never
    loaded: a command's start-up does not pay for a library only a terminal needs."""

    def __init__(self, stderr: bool, stream: Any = None) -> None:
        self.stderr = stderr
        self._stream = stream  # a given one (tests); else sys.stderr or sys.stdout as they are when written
        self._rich: "Optional[Console]" = None

    @property
    def stream(self) -> Any:
        if self._stream is not None:
            return self._stream
        return sys.stderr if self.stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        stream = self.stream
        try:
            return stream is not None and stream.isatty()
        except (OSError, ValueError):
            return False

    @property
    def rich(self) -> "Console":
        """The rich console for this stream (loaded on first use); into a file or pipe it is LOG_WIDTH
        wide unless COLUMNS says otherwise."""
        if self._rich is None:
            from rich.console import Console

            wanted = columns() or (None if self.is_terminal else LOG_WIDTH)
            self._rich = Console(stderr=self.stderr, file=self._stream, highlight=False, markup=False, emoji=False,
                                 width=max(wanted, MIN_WIDTH) if wanted else None)
        return self._rich

    def print(self, line: Union[Line, Grid] = "", **_: Any) -> None:
        """One message (or a table). Keyword arguments rich takes (soft_wrap, markup) are accepted and
        change nothing: messages are never markup, and never wrapped into several lines."""
        if self.is_terminal:
            self.rich.print(_renderable(line), soft_wrap=not isinstance(line, Grid), highlight=False)
            return
        text = "\n".join(plain_grid(line)) if isinstance(line, Grid) else _plain(line)
        stream = self.stream
        if stream is not None:
            stream.write(text + "\n")
            stream.flush()


def _renderable(line: Union[Line, Grid]) -> Any:
    """What rich draws for a message or a grid (only ever called on a terminal)."""
    from rich.text import Text

    def text(cell: Line) -> Text:
        pieces = [cell] if isinstance(cell, (str, Styled)) else cell
        return Text.assemble(*((p.text, p.style) if isinstance(p, Styled) else p for p in pieces))

    if not isinstance(line, Grid):
        return text(line)
    from rich.table import Table

    table = Table(title=line.title or None, caption=line.caption or None, show_lines=False)
    for i, head in enumerate(line.columns):
        table.add_column(head, justify="center" if i in line.centred else "left",
                         overflow="fold" if i in line.folded else "ellipsis", no_wrap=i not in line.folded)
    for row in line.rows:
        table.add_row(*(text(c) for c in row))
    return table


out = Output(stderr=False)
err = Output(stderr=True)


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
