"""JUnit XML for CI, streamed: a million test cases never sit in memory at once.

One testsuite per target (named after it, its identity in the properties),
one testcase per scenario, identified the same way on every target and night
(classname = suite, name = scenario) so that GitLab, Jenkins and the GitHub
JUnit actions track it over time; `file` and `line` point at the scenario in
its YAML (GitLab and the GitHub actions annotate with them; Jenkins ignores
them, and they are the one liberty taken with its junit-10.xsd). Behaviour
that differs from the expectation is a failure; with a baseline, a changed
kernel answer is a failure (old -> new) and a known, unchanged mismatch is
skipped saying so; an infrastructure problem is an error, never a failure;
skipped says why. Every failure has a message; each case has at most one
outcome; times have three decimals (Jenkins' schema).

The rows are walked once: each case is set aside under its target as it comes
(in a scratch file), and the document is then put together target by target
(a testsuite's counts come before its cases).
Text is written as XML can hold it: characters XML 1.0 forbids (controls,
lone surrogates) and those that would hide text (U+202E) as their escapes
(terminal.visible), the rest escaped by the standard library's html.escape
(&, <, >, and both quotes: what XML needs; xml.sax.saxutils would load urllib). The junit-xml package was used before; it builds the whole
document in memory (a million cases took gigabytes), so the document is now
streamed here, case by case.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, Optional
from html import escape

from .. import observation
from ..files import atomic_write
from ..terminal import visible
from .matrix import Cell, Column, Matrix, Row, StepCell


def _text(value: str) -> str:
    return escape(visible(value), quote=False)


def _attr(value: object) -> str:
    """An attribute's value, quoted; its line breaks and tabs kept as character references (an XML
    parser would turn them into spaces)."""
    return '"' + escape(visible(str(value))).replace("\n", "&#10;").replace("\t", "&#9;") + '"'



def _properties(column: Column) -> dict[str, str]:
    ident = column.identity or {}
    props = {
        "target": column.name,
        "provider": column.provider,
        "os.family": ident.get("family", ""),
        "os.release": ident.get("release", ""),
        "os.version": ident.get("version", ""),
        "emulated": "true" if column.emulated else "false",
        "emulated_on": ident.get("emulated_on") or "",
        "python": ident.get("python", ""),
        "source": column.source,
    }
    if not column.ran:
        props["unavailable"] = column.reason or "did not run"
        props["declared"] = column.os_label if column.declared else ""
    props.update({f"detail.{k}": str(v) for k, v in column.details.items()})
    props.update({f"env.{name}": value for _, name, value in column.settings})
    return {k: str(v) for k, v in props.items() if v != ""}


def step_line(row: Row, index: int, cell: StepCell) -> str:
    step = row.steps[index]
    return observation.mismatch_line(step.index, step.text, step.line, cell.expected, cell.selector, step.op,
                                     cell.observed)


def changed_line(row: Row, index: int, cell: StepCell) -> str:
    """`step 17 (distribute ...) at line 30: changed since baseline: spread -> single:s3`."""
    step, mark = row.steps[index], cell.baseline
    return (f"step {step.index} ({step.text}) at line {step.line}: changed since baseline: {mark.old} -> {mark.new}"
            f"{' (' + mark.where + ')' if mark.where else ''}")


def outcome(row: Row, cell: Cell) -> tuple[Optional[str], str, str, str]:
    """(element, its type, message, text) of a case: failure, error or skipped; (None, ...) for a pass."""
    changed = [changed_line(row, i, sc) for i, sc in enumerate(cell.steps) if sc.baseline and sc.baseline.fails]
    mismatches = [step_line(row, i, sc) for i, sc in enumerate(cell.steps) if sc.match is False]
    if cell.verdict == "error":
        return "error", "infrastructure", cell.reason or "infrastructure error", ""
    if changed:
        return "failure", "changed", "; ".join(changed), "\n".join(changed + mismatches)
    if cell.verdict == "fail" and cell.known:
        return "skipped", "skipped", "known mismatch, unchanged since baseline: " + "; ".join(mismatches), ""
    if cell.verdict == "fail":
        return ("failure", "behaviour", "; ".join(mismatches) or "behaviour differs from expectation",
                "\n".join(mismatches + [f"scenario: {row.file}:{row.line}"]))
    if cell.verdict == "skipped":
        return "skipped", "skipped", cell.reason or "skipped", ""
    return None, "", "", ""


def case_identity(row: Row) -> tuple[str, str]:
    """A row's testcase attributes before and after its time: the same on every target."""
    where = (f" file={_attr(row.file)}" if row.file else "") + (f" line=\"{int(row.line)}\"" if row.line else "")
    return f"    <testcase name={_attr(row.scenario)} classname={_attr(row.suite)}", where


def test_case(row: Row, cell: Cell, identity: Optional[tuple[str, str]] = None) -> tuple[str, Optional[str]]:
    """One scenario on one target, as XML, and its outcome's element (None for a pass). The test's
    identity is the same on every target and night (classname = suite, name = scenario), so
    dashboards track it; the target is the suite's name."""
    start, where = identity or case_identity(row)
    attrs = f"{start} time=\"{(cell.ms or 0) / 1000:.3f}\"{where}"
    element, kind, message, text = outcome(row, cell)
    if element is None:
        return f"{attrs} />\n", None
    inner = f"<{element} type=\"{kind}\" message={_attr(message)}"
    inner += f">{_text(text)}</{element}>" if text else " />"
    return f"{attrs}>\n      {inner}\n    </testcase>\n", element


SEGMENT = 1 << 16  # a target's cases are kept in memory up to this much, then go to the scratch file


@dataclass
class _Suite:
    """One target's cases as they come, and its counts: they go to the scratch file shared by every
    target in segments of SEGMENT bytes (one descriptor whatever the targets; few seeks back)."""
    scratch: IO[bytes]
    pending: list[bytes] = field(default_factory=list)
    size: int = 0
    segments: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) in the scratch file
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def add(self, cell: Cell, xml: str, element: Optional[str]) -> None:
        data = xml.encode("utf-8")
        self.pending.append(data)
        self.size += len(data)
        if self.size >= SEGMENT:
            self.flush()
        self.tests += 1
        self.seconds += round((cell.ms or 0) / 1000, 3)
        if element == "error":
            self.errors += 1
        elif element == "failure":
            self.failures += 1
        elif element == "skipped":
            self.skipped += 1

    def flush(self) -> None:
        if self.pending:
            self.scratch.seek(0, 2)
            self.segments.append((self.scratch.tell(), self.size))
            self.scratch.write(b"".join(self.pending))
            self.pending, self.size = [], 0

    def head(self, column: Column) -> bytes:
        host = (column.identity or {}).get("hostname")
        head = (f"  <testsuite name={_attr(column.key)} tests=\"{self.tests}\" failures=\"{self.failures}\" "
                f"errors=\"{self.errors}\" skipped=\"{self.skipped}\" time=\"{self.seconds:.3f}\""
                + (f" hostname={_attr(host)}" if host else "") + ">\n")
        props = "".join(f"      <property name={_attr(k)} value={_attr(v)} />\n" for k, v in _properties(column).items())
        return (head + (f"    <properties>\n{props}    </properties>\n" if props else "")).encode("utf-8")

    def cases(self) -> Iterator[bytes]:
        self.flush()
        for offset, length in self.segments:
            self.scratch.seek(offset)
            yield self.scratch.read(length)


def chunks(matrix: Matrix) -> Iterator[bytes]:
    """The document, piece by piece: the rows walked once, each target's cases kept aside (_Suite),
    then put together. Reference columns (expectations only, by design) are no test of anything."""
    measured = [i for i, column in enumerate(matrix.columns) if not column.reference]
    with tempfile.TemporaryFile() as scratch:
        suites = {i: _Suite(scratch) for i in measured}
        for row in matrix.rows:
            identity = case_identity(row)
            for i in measured:
                cell = row.cells[i]
                if cell.verdict is not None:
                    suites[i].add(cell, *test_case(row, cell, identity))
        total = [sum(getattr(s, name) for s in suites.values()) for name in ("errors", "failures", "tests")]
        seconds = sum(s.seconds for s in suites.values())
        yield (f"<?xml version='1.0' encoding='utf-8'?>\n<testsuites errors=\"{total[0]}\" "
               f"failures=\"{total[1]}\" tests=\"{total[2]}\" time=\"{seconds:.3f}\">\n").encode("utf-8")
        for i in measured:
            yield suites[i].head(matrix.columns[i])
            yield from suites[i].cases()
            yield b"  </testsuite>\n"
        yield b"</testsuites>\n"


def render(matrix: Matrix) -> bytes:
    return b"".join(chunks(matrix))


def write(matrix: Matrix, path: Path) -> None:
    atomic_write(path, chunks(matrix))
