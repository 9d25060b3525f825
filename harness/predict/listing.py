"""What `harness predict` shows: per scenario and step, each system's prediction next to what was written.

Pure: `predictions` builds the table, `render_tables` and `render_json` say it for a person or a
program. The written expectation is resolved for each system as the verdict resolves it
(harness/judge/expectations.py), and compared with harness/predict/agree.py.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from ..judge.expectations import resolve
from ..judge.verdict import not_applicable
from ..model import Identity, Outcome, Scenario
from ..scenario.ops import describe
from ..terminal import Grid, Piece, Styled, clean
from .agree import with_written
from .engine import Prediction, predict
from .rulebook import RULES
from .systems import System

MARK = {"agree": "✓", "disagree": "✗", "unknown": "?", "unchecked": "·"}
SCHEMA = "harness-predictions/1"


@dataclass
class Cell:
    prediction: Prediction
    written: Optional[Outcome]
    selector: Optional[str]
    agreement: str


@dataclass
class Row:
    scenario: Scenario
    skipped: dict[str, str]  # system name -> why the scenario does not apply there
    cells: list[list[Optional[Cell]]] = field(default_factory=list)  # per step, per system


@dataclass
class Predictions:
    systems: list[System]
    rows: list[Row]

    @property
    def cited(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows:
            for step in row.cells:
                for cell in step:
                    if cell is not None:
                        seen.update(dict.fromkeys(cell.prediction.rules))
        return list(seen)

    def counts(self, index: int) -> Counter:
        return Counter(step[index].agreement for row in self.rows for step in row.cells if step[index] is not None)


def predictions(scenarios: list[Scenario], systems: list[System]) -> Predictions:
    rows = []
    for sc in scenarios:
        idents = [Identity.of_system(s.family, s.version) for s in systems]
        skipped = {s.name: why for s, ident in zip(systems, idents) if (why := not_applicable(sc, ident))}
        per_system = [None if s.name in skipped else predict(sc, s) for s in systems]
        row = Row(sc, skipped)
        for i, step in enumerate(sc.steps):
            cells: list[Optional[Cell]] = []
            for system, ident, preds in zip(systems, idents, per_system):
                if preds is None:
                    cells.append(None)
                    continue
                rule = resolve(step.expect, ident)
                written = step.expect.rules[rule] if rule is not None else None
                cells.append(Cell(preds[i], written.outcome if written else None,
                                  str(written.selector) if written else None,
                                  with_written(preds[i].outcome, written.outcome if written else None)))
            row.cells.append(cells)
        rows.append(row)
    return Predictions(systems, rows)


def _cell_text(cell: Optional[Cell]) -> list[Piece]:
    if cell is None:
        return [Styled("not applicable", "dim")]
    p = cell.prediction
    text: list[Piece] = [f"{MARK[cell.agreement]} {clean(p.outcome)}"]
    if cell.agreement == "disagree":
        text.append(Styled(f" (written {clean(str(cell.written))} [{clean(cell.selector or '')}])", "red"))
    if p.rules:
        text.append(Styled(f" {' '.join(p.rules)}", "dim"))
    if p.why and not p.known:
        text.append(Styled(f" {clean(p.why)}", "dim"))
    return text


def render_tables(table: Predictions) -> list[Any]:
    """One table per scenario, then a line per system and every rule cited with its source."""
    out: list[Any] = []
    for row in table.rows:
        sc = row.scenario
        t = Grid(["#", "step", *(system.name for system in table.systems)], title=clean(f"{sc.id}  {sc.pos}"),
                 folded=frozenset(range(1, len(table.systems) + 2)))
        for step, cells in zip(sc.steps, row.cells):
            t.rows.append([str(step.index), clean(describe(step.op, step.args)), *map(_cell_text, cells)])
        out.append(t)
        for name, why in row.skipped.items():
            out.append(f"  {name}: not applicable: {why}")
    for i, system in enumerate(table.systems):
        c = table.counts(i)
        out.append(f"{system.name}: {sum(c.values())} steps: {c['agree']} agree with the written expectations, "
                   f"{c['disagree']} disagree, {c['unknown']} unknown to the model, {c['unchecked']} with nothing "
                   f"written (any)")
    out.append("rules cited (docs/model.md):")
    out.extend(f"  {RULES[rid].cited()}" for rid in table.cited)
    return out


FAMILY_TITLES = {"agent": "The agent (every system)", "linux": "Linux", "bsd": "Every BSD (4.4BSD)",
                 "freebsd": "FreeBSD", "darwin": "macOS (XNU)", "openbsd": "OpenBSD", "netbsd": "NetBSD",
                 "dragonfly": "DragonFly BSD"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def rules_markdown() -> str:
    """Every rule as docs/model.md lists it: a table per family, each rule with its sources and confidence."""
    out = []
    for family, title in FAMILY_TITLES.items():
        out += [f"#### {title}", "", "| rule | what it decides | read in | confidence |", "|---|---|---|---|"]
        for r in RULES.values():
            if r.system == family:
                out.append(f"| {r.id} | {_cell(r.text)} | {_cell('; '.join(map(str, r.sources)))} | {r.confidence} |")
        out.append("")
    return "\n".join(out)


def render_json(table: Predictions) -> dict[str, Any]:
    def cell(c: Optional[Cell]) -> Optional[dict[str, Any]]:
        if c is None:
            return None
        return {"outcome": c.prediction.outcome, "rules": list(c.prediction.rules), "why": c.prediction.why or None,
                "written": str(c.written) if c.written else None, "selector": c.selector, "agrees": c.agreement}

    return {
        "schema": SCHEMA,
        "systems": [s.name for s in table.systems],
        "scenarios": [{
            "id": row.scenario.id, "file": row.scenario.pos.file, "line": row.scenario.pos.line,
            "not_applicable": row.skipped,
            "steps": [{"index": st.index, "op": st.op, "text": describe(st.op, st.args), "line": st.pos.line,
                       "predictions": {s.name: cell(c) for s, c in zip(table.systems, cells)}}
                      for st, cells in zip(row.scenario.steps, row.cells)],
        } for row in table.rows],
        "summary": {s.name: dict(table.counts(i)) for i, s in enumerate(table.systems)},
        "rules": {rid: RULES[rid].record() for rid in table.cited},
    }
