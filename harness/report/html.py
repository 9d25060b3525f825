"""The single self-contained HTML page: a scenarios x targets matrix.

The frame (columns, scenarios, verdicts) is rendered by jinja2 with
autoescaping, so every string that came from a scenario file or a target is
text, never markup. Step outcomes travel as one JSON island (jinja's `tojson`,
safe inside <script>) and are drawn by one function of the page's script with
DOM calls and textContent: the key steps into the matrix cells when the page
opens, a row's every step when it is expanded. That keeps a 10 targets x 1000
scenarios page small, and each outcome drawn by one piece of code.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Optional

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..files import atomic_write
from .matrix import Matrix, Row, StepCell

_ENV = Environment(
    loader=PackageLoader("harness.report", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "ensure_ascii": False}


def bars(hist: dict[str, int]) -> dict[str, Any]:
    """SVG paths for one bar per socket: `d` the bars that received, `z` stubs for those that did not."""
    top = max(hist.values(), default=0) or 1
    d = "".join(f"M{i} 10v{-round(n / top * 10, 1)}h.8V10z" for i, n in enumerate(hist.values()) if n)
    z = "".join(f"M{i} 10v-.6h.8V10z" for i, n in enumerate(hist.values()) if not n)
    return {"n": len(hist), "d": d, "z": z, "title": ", ".join(f"{s} {n}" for s, n in hist.items())}


def _cell_step(sc: StepCell) -> list[Any]:
    """[signature, match (1/0/None), rule index, bars, what the baseline recorded where it changed, why it
    never ran], trailing parts left out when derivable.

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
    return out


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


def render(matrix: Matrix, generated: Optional[str] = None) -> str:
    generated = generated or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    data = {"cols": [c.key for c in matrix.columns], "rows": [row_details(r) for r in matrix.rows]}
    return _ENV.get_template("report.html.j2").render(matrix=matrix, generated=generated, data=data)


def write(matrix: Matrix, path: Path) -> None:
    atomic_write(path, render(matrix).encode("utf-8"))
