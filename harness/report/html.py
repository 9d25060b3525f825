"""The single self-contained HTML page: a scenarios x targets matrix.

The frame (columns, scenarios, verdicts) is rendered by jinja2 with
autoescaping, so every string that came from a scenario file or a target is
text, never markup; a character that prints as nothing or acts (controls,
U+202E, U+2028, a lone surrogate) is shown as its escape. Step outcomes travel
as one JSON island (made safe inside <script> as jinja's `tojson` does) and are
drawn by one function of the page's script with DOM calls and textContent: the
key steps into the matrix cells when the page opens, a row's every step when it
is expanded. That keeps a 10 targets x 1000 scenarios page small, and each
outcome drawn by one piece of code.

The page streams: rows are walked once, each written out as it comes while its
outcomes go to a scratch file, which becomes the island after the table; a
million results never sit in memory at once.
"""
from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Optional

from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..files import atomic_write, cache_dir
from ..terminal import visible
from .matrix import Matrix, Row, StepCell


def _shown(value: Any) -> Any:
    """What the page prints of a value: text with every character visible (terminal.visible)."""
    if isinstance(value, str) and not isinstance(value, Markup) and not value.isprintable():
        return visible(value)
    return value

class _TemplateCache(FileSystemBytecodeCache):
    """The template compiled once and kept in the harness's cache folder (a run that writes one page
    would otherwise spend most of its report time compiling it); jinja2 keys each entry by the
    template's checksum, so an edited template is compiled again. Where the folder cannot be read or
    written, the template is compiled each time: a cache never fails a report."""

    def load_bytecode(self, bucket) -> None:  # type: ignore[no-untyped-def]
        try:
            super().load_bytecode(bucket)
        except (OSError, ValueError, EOFError):
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:  # type: ignore[no-untyped-def]
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _template_cache() -> "_TemplateCache | None":
    folder = cache_dir() / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _TemplateCache(str(folder))


_ENV = Environment(
    loader=PackageLoader("harness.report", "templates"),
    bytecode_cache=_template_cache(),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_shown,
)
HTML_SAFE = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027"))  # as jinja's tojson


def bars(hist: dict[str, int]) -> dict[str, Any]:
    """SVG paths for one bar per socket: `d` the bars that received, `z` stubs for those that did not."""
    top = max(hist.values(), default=0) or 1
    d = "".join(f"M{i} 10v{-round(n / top * 10, 1)}h.8V10z" for i, n in enumerate(hist.values()) if n)
    z = "".join(f"M{i} 10v-.6h.8V10z" for i, n in enumerate(hist.values()) if not n)
    return {"n": len(hist), "d": d, "z": z, "title": ", ".join(f"{s} {n}" for s, n in hist.items())}


def _cell_step(sc: StepCell) -> list[Any]:
    """[signature, match (1/0/None), rule index, bars, what the baseline recorded where it changed, why it
    never ran, the model's prediction where one is shown], trailing parts left out when derivable.

    The expected outcome travels as the index of the rule the verdict applied,
    not as text: on a 10 x 1000 page that is most of the difference between
    4 MB and 1.5 MB. A histogram travels as the bars drawn for it.
    """
    hist = (sc.observed or {}).get("histogram")
    match = None if sc.match is None else int(sc.match)
    out: list[Any] = [sc.signature, match]
    if match != 1:
        out.append(sc.rule)
    if hist is not None:
        out += [None] * (3 - len(out)) + [bars(hist)]
    if sc.changed:
        out += [None] * (4 - len(out)) + [sc.baseline.old]
    if sc.not_run:
        out += [None] * (5 - len(out)) + [sc.not_run]
    if sc.shown_as_predicted:
        p = sc.predicted or {}
        shown = {"p": sc.expected, "r": [r["id"] for r in p.get("rules") or []], "w": p.get("why") or ""}
        out += [None] * (6 - len(out)) + [{**shown, "a": sc.agrees} if sc.agrees else shown]
    return out


def rule_texts(row: Row, out: dict[str, str]) -> None:
    """Every rule a shown prediction of the row cites, into `out` (once per page): `text [sources]
    (confidence)`, as results.json carries it (the report reads, never asks the model)."""
    for cell in row.cells:
        for sc in cell.steps:
            if sc.shown_as_predicted:
                for r in (sc.predicted or {}).get("rules") or []:
                    out.setdefault(r["id"], f"{r.get('text', '')} [{'; '.join(r.get('sources') or [])}] "
                                            f"({r.get('confidence', '')})")


def row_details(row: Row) -> dict[str, Any]:
    """Every step outcome of a row, compactly: the page's script draws them, once, into the matrix
    cells (the key steps, `k`) and into the expanded row."""
    return {
        "k": [[i for i, _ in row.key_steps(cell=cell)] for cell in row.cells],  # per cell: its failing step first
        "s": [[s.index, s.text, s.note, int(s.differs), int(s.mismatch), s.expect, int(s.contrast)]
              for s in row.steps],
        # a cell skipped where the scenario cannot apply has no steps to show, only why
        "c": [[_cell_step(sc) for sc in cell.steps] if cell.shows_steps else {"na": cell.reason}
              for cell in row.cells],
        "f": f"{row.file}:{row.line}" if row.file else None,
    }


def _shown_deep(value: Any) -> Any:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, list):
        return [_shown_deep(v) for v in value]
    if isinstance(value, dict):
        return {k: _shown_deep(v) for k, v in value.items()}
    return value


def island_json(value: Any) -> str:
    """JSON safe inside <script>, every character of its text visible once the page parses it."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if not text.isprintable() or "\\u" in text or "\\r" in text or "\\b" in text or "\\f" in text:
        text = json.dumps(_shown_deep(value), separators=(",", ":"), ensure_ascii=False)  # rare: look closer
    for char, escaped in HTML_SAFE:
        text = text.replace(char, escaped)
    return text


def _recorded(rows: Iterable[Row], scratch: IO[str], rules: dict[str, str]) -> Iterator[Row]:
    """The rows as the template walks them; each one's outcomes written to the island's scratch file, the
    rules its predictions cite gathered."""
    for i, row in enumerate(rows):
        scratch.write(("," if i else "") + island_json(row_details(row)))
        rule_texts(row, rules)
        yield row


def _island(matrix: Matrix, scratch: IO[str], rules: dict[str, str]) -> Iterator[Markup]:
    """The JSON island, once the template has walked every row (the rules are gathered by then)."""
    yield Markup('{"cols":' + island_json([c.key for c in matrix.columns]) + ',"rows":[')
    scratch.seek(0)
    while piece := scratch.read(1 << 20):
        yield Markup(piece)
    yield Markup('],"rules":' + island_json(rules) + "}")


def prepare() -> None:
    """Load (or compile) the page's template now: formats.preload calls it while the agents run."""
    _ENV.get_template("report.html.j2")


def chunks(matrix: Matrix, generated: Optional[str] = None) -> Iterator[bytes]:
    generated = generated or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as scratch:
        rules: dict[str, str] = {}
        pieces = _ENV.get_template("report.html.j2").generate(
            matrix=matrix, generated=generated, rows=_recorded(matrix.rows, scratch, rules),
            island=_island(matrix, scratch, rules))
        batch: list[str] = []
        for piece in pieces:
            batch.append(piece)
            if len(batch) >= 2048:
                yield "".join(batch).encode("utf-8", "backslashreplace")
                batch = []
        yield "".join(batch).encode("utf-8", "backslashreplace")


def render(matrix: Matrix, generated: Optional[str] = None) -> str:
    return b"".join(chunks(matrix, generated)).decode("utf-8")


def write(matrix: Matrix, path: Path) -> None:
    atomic_write(path, chunks(matrix))
