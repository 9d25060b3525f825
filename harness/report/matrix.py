"""Results documents -> one matrix of scenarios x targets, the shape every report draws.

Pure functions over the JSON of docs/results.md, so `harness report` can merge
runs made on different machines (one CI job per OS) as easily as one run.
Reports only read: which expectation applied to a target was decided by the
verdict and recorded in the results; nothing here judges again.
A step *differs* when targets that ran it observed different outcomes; a
*mismatch* is an observation that is not what the scenario expected. Reports
mark the two separately.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

from ..model import VERDICTS, BaselineComparison, BaselineMark
from .column_names import column_keys
from ..observation import expected_signature, signature

if TYPE_CHECKING:  # schema.py needs msgspec: only reading results files does, never a run
    from .schema import ResultsFile


@dataclass
class Column:
    key: str  # unique in the matrix: the target name, or name@system when several runs have it (column_names.py)
    name: str
    provider: str
    description: str
    emulated: bool
    ran: bool
    reason: Optional[str]
    identity: Optional[dict[str, Any]]  # what its agent reported; None if none ran
    details: dict[str, Any]
    source: str
    declared: Optional[dict[str, Any]] = None  # the system it stands for, where no agent ran
    reference: bool = False  # a column of expectations by design (--reference)
    model: bool = False  # a column of the model's predictions (model://SYSTEM)
    environment: Optional[dict[str, Any]] = None  # kernel settings its agent read

    @property
    def os_label(self) -> str:
        """What system the column is: as measured, else as declared, else unknown."""
        shown = self.identity or self.declared
        return f"{shown['family']} {shown['version']}" if shown else "system unknown"

    @property
    def release(self) -> str:
        return (self.identity or {}).get("release", "")

    @property
    def reason_line(self) -> str:
        """The first line of why it did not run, short enough for a column header."""
        first = (self.reason or "").strip().splitlines()[0] if (self.reason or "").strip() else ""
        return first if len(first) <= 90 else first[:89] + "…"

    @property
    def isolation_note(self) -> str:
        """Where the agent could not give scenarios the namespace asked for, why (e.g. no ctypes)."""
        where = (self.environment or {}).get("where") or ""
        return where if where.startswith("host:") else ""

    @property
    def settings(self) -> list[tuple[str, str, str]]:
        """(short name, full name, value) of each kernel setting its agent read."""
        values = (self.environment or {}).get("values") or {}
        return [(".".join(name.split(".")[-2:]), name, "?" if value is None else value)
                for name, value in values.items()]


@dataclass
class StepCell:
    observed: Optional[dict[str, Any]]
    expected: Optional[str]  # the outcome of the rule that applied; where none did, every rule
    selector: Optional[str]
    rule: Optional[int]  # index into the step's rules of the one that applied
    match: Optional[bool]
    signature: Optional[str]  # comparable reading of the observation
    baseline: Optional[BaselineMark] = None  # against the baseline, when one was given
    not_run: Optional[str] = None  # why it never got its chance on a target that ran the scenario
    expected_from: Optional[str] = None  # what `expected` is: written by the scenario's author, or model
    predicted: Optional[dict[str, Any]] = None  # the model's prediction shown: outcome, rules with sources, why
    agrees: Optional[str] = None  # a model column: the prediction against what was written

    @property
    def changed(self) -> bool:
        return self.baseline is not None and self.baseline.state == "changed"

    @property
    def shown_as_expected(self) -> bool:
        """No kernel answered here: what is shown is a written expectation, never an observation."""
        return self.observed is None and not self.shown_as_predicted

    @property
    def shown_as_predicted(self) -> bool:
        """No kernel answered and the model's prediction is shown: never an observation, never written."""
        return self.observed is None and self.expected_from == "model"

    @property
    def resolved(self) -> bool:
        """An expectation was chosen for this cell's system (not just every rule listed)."""
        return self.selector is not None

    @property
    def comparable(self) -> Optional[str]:
        """The observation's signature, or where none was made the expected one, for spotting contrast."""
        if self.observed is not None:
            return self.signature
        if self.shown_as_predicted:
            return None if self.expected == "unknown" else expected_signature(self.expected)
        return expected_signature(self.expected) if self.resolved else None


@dataclass
class Cell:
    verdict: Optional[str]  # None: this target's run did not include the scenario
    reason: Optional[str]
    ms: Optional[float]
    steps: list[StepCell]
    known: bool = False  # a failure the baseline knows, unchanged: it does not fail the run

    @property
    def changed(self) -> bool:
        """A kernel answered differently than the baseline recorded."""
        return any(sc.changed for sc in self.steps)

    @property
    def shows_steps(self) -> bool:
        """Whether the cell has steps to show: a scenario skipped where it cannot apply (only:, a
        variant the system lacks) has neither observations nor expectations, only its reason."""
        return self.verdict != "skipped" or any(s.observed is not None or s.resolved or s.shown_as_predicted
                                                for s in self.steps)


@dataclass
class StepRow:
    index: int
    text: str
    op: str
    note: Optional[str]
    expect: list[dict[str, str]]
    line: int
    differs: bool = False  # targets that ran it observed different outcomes
    contrast: bool = False  # ... or differ from what other columns' systems are expected to do
    mismatch: bool = False


@dataclass
class Row:
    id: str
    suite: str
    scenario: str
    description: Optional[str]
    file: str
    line: int
    steps: list[StepRow]
    cells: list[Cell] = field(default_factory=list)

    @property
    def contrasts(self) -> bool:
        return any(s.contrast for s in self.steps)

    @property
    def failing(self) -> bool:
        return any(c.verdict in ("fail", "error") for c in self.cells)

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.cells)

    @cached_property
    def _telling(self) -> list[tuple[int, StepRow]]:
        """Every step that tells targets apart, in key_steps' order (worked out once per row, not per cell)."""
        seen, out = set(), []
        differing = [(i, s) for i, s in enumerate(self.steps)
                     if s.contrast or any(c.steps[i].changed for c in self.cells)]
        for i, s in sorted(differing, key=lambda item: item[1].op != "distribute"):
            pattern = tuple(c.steps[i].comparable for c in self.cells)
            if pattern not in seen:
                seen.add(pattern)
                out.append((i, s))
        return out

    def key_steps(self, limit: int = 3, cell: Optional[Cell] = None) -> list[tuple[int, StepRow]]:
        """(position, step) of the steps that tell targets apart, for the matrix cells.

        Distributions first (they are usually the point), and a step whose pattern
        across targets repeats an earlier one's (four identical setsockopts) once.
        For a `cell`, its first failing step (a mismatch, or a step that never ran) comes first.
        """
        keys = sorted(self._telling[:limit])
        first = next((i for i, sc in enumerate(cell.steps) if sc.match is False or sc.not_run), None) if cell else None
        if first is None:
            return keys
        return [(first, self.steps[first])] + [key for key in keys if key[0] != first][:limit - 1]


@dataclass
class Matrix:
    columns: list[Column]
    rows: Sequence[Row]  # a list, or StreamedRows: each row built when a report reaches it
    sources: list[str]
    incomplete: list[str]  # sources whose run was cut short
    baseline: Optional[BaselineComparison] = None
    tally: Optional[dict[str, int]] = None  # the counts, where known without building the rows

    @property
    def counts(self) -> dict[str, int]:
        if self.tally is not None:
            return dict(self.tally)
        out = dict.fromkeys(VERDICTS, 0)
        for row in self.rows:
            for cell in row.cells:
                if cell.verdict:
                    out[cell.verdict] += 1
        return out


def load_results(path: str) -> dict[str, Any]:
    """A results file, checked against its documented shape (harness/report/schema.py)."""
    from .schema import read

    return read(path)


def expected_text(step: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(outcome, selector) the verdict recorded for a target; where it recorded none, every rule spelled out."""
    if step.get("expected") is not None:
        return step["expected"], step.get("selector")
    rules = step.get("expect") or []
    return "; ".join(f"{r['selector']}: {r['outcome']}" for r in rules) or None, None


def _columns(docs: list[tuple[str, dict[str, Any]]]) -> list[Column]:
    entries = [(source, t) for source, doc in docs for t in doc.get("targets") or []]
    return [Column(
        key=key, name=t["name"], provider=t.get("provider", ""), description=t.get("description", ""),
        emulated=bool(t.get("emulated")), ran=bool(t.get("ran")), reason=t.get("reason"),
        identity=t.get("identity"), details=t.get("details") or {}, source=source, declared=t.get("declared"),
        reference=bool(t.get("reference")), model=bool(t.get("model")), environment=t.get("environment"),
    ) for (source, t), key in zip(entries, column_keys(entries))]


def build(docs: list[tuple[str, dict[str, Any]]], baseline: Optional[BaselineComparison] = None) -> Matrix:
    """Merge (source, results document) pairs into one matrix; with the runs' comparison to a baseline
    (harness/judge/baseline.py), each observed step carries its mark."""
    columns = _columns(docs)
    by_source_target = {(c.source, c.name): i for i, c in enumerate(columns)}
    found: dict[str, list[tuple[int, dict[str, Any]]]] = {}  # row id -> (column, result), rows in order
    for source, doc in docs:
        for r in doc.get("results") or []:
            col = by_source_target.get((source, r["target"]))
            if col is not None:
                found.setdefault(r["id"], []).append((col, r))
    rows = [_row(places, columns, baseline) for places in found.values()]
    return Matrix(columns=columns, rows=rows, sources=[s for s, _ in docs],
                  incomplete=[s for s, d in docs if not d.get("complete")], baseline=baseline)


def _row(places: list[tuple[int, dict[str, Any]]], columns: list[Column],
         baseline: Optional[BaselineComparison]) -> Row:
    """One scenario's row from its (column, result) pairs in file order: its steps as the first result
    has them, a cell per column (of two results for one cell, the last)."""
    r = places[0][1]
    row = Row(id=r["id"], suite=r["suite"], scenario=r["scenario"], description=r.get("description"),
              file=r.get("file", ""), line=r.get("line", 0),
              steps=[StepRow(index=s["index"], text=s["text"], op=s["op"], note=s.get("note"),
                             expect=s.get("expect") or [], line=s.get("line", 0)) for s in r["steps"]])
    by_col = dict(places)
    row.cells = [_cell(row, by_col.get(i), columns[i], baseline) for i in range(len(columns))]
    _mark_steps(row)
    return row


class StreamedRows(Sequence[Row]):
    """The rows of checked results files, built one at a time each time they are walked: a report
    of a million results holds one row in memory, not the million (the files stay mapped)."""

    COLUMN_BITS, INDEX_BITS = 16, 32  # a result's place packed in one int: (file, index, column)

    def __init__(self, files: list["ResultsFile"], columns: list[Column], baseline: Optional[BaselineComparison]):
        self.files, self.columns, self.baseline = files, columns, baseline
        by_source_target = {(c.source, c.name): i for i, c in enumerate(columns)}
        shift = self.COLUMN_BITS + self.INDEX_BITS
        self._places: dict[str, list[int]] = {}  # row id -> its results' places, rows in order of appearance
        for f, results in enumerate(files):
            for index, (rid, target, _) in enumerate(results.keys):
                col = by_source_target.get((results.path, target))
                if col is not None:
                    self._places.setdefault(rid, []).append((f << shift) | (index << self.COLUMN_BITS) | col)
        self.tally = dict.fromkeys(VERDICTS, 0)
        for places in self._places.values():
            last = {place & 0xFFFF: self._unpack(place) for place in places}  # of two for one cell, the last
            for f, index, _ in last.values():
                self.tally[files[f].keys[index][2]] += 1
        for results in files:
            results.keys = []  # indexed: a million keys need not stay

    def _unpack(self, place: int) -> tuple[int, int, int]:
        index_mask = (1 << self.INDEX_BITS) - 1
        return (place >> (self.COLUMN_BITS + self.INDEX_BITS), (place >> self.COLUMN_BITS) & index_mask,
                place & ((1 << self.COLUMN_BITS) - 1))

    def __len__(self) -> int:
        return len(self._places)

    def __iter__(self) -> Iterator[Row]:
        for places in self._places.values():
            pairs = []
            for place in places:
                f, index, col = self._unpack(place)
                pairs.append((col, self.files[f].result(index)))
            yield _row(pairs, self.columns, self.baseline)

    def __getitem__(self, index):  # a Sequence; reports walk the rows, never index them
        raise TypeError("streamed rows are walked, not indexed")


def build_streamed(files: list["ResultsFile"], baseline: Optional[BaselineComparison] = None) -> Matrix:
    """The matrix of checked results files, its rows streamed (StreamedRows)."""
    heads = [(f.path, f.head) for f in files]
    columns = _columns(heads)
    rows = StreamedRows(files, columns, baseline)
    return Matrix(columns=columns, rows=rows, sources=[f.path for f in files],
                  incomplete=[f.path for f in files if not f.head.get("complete")], baseline=baseline,
                  tally=rows.tally)


def _cell(row: Row, result: Optional[dict[str, Any]], column: Column,
          baseline: Optional[BaselineComparison]) -> Cell:
    steps_by_index = {s["index"]: s for s in (result or {}).get("steps", [])}
    marks = baseline.marks if baseline else None
    cells = []
    for step in row.steps:  # a million cells go through here: kept plain
        raw = steps_by_index.get(step.index) or {"expect": step.expect}
        expected, selector = (raw["expected"], raw.get("selector")) if raw.get("expected") is not None \
            else expected_text(raw)
        observed = raw.get("observed")
        cells.append(StepCell(observed, expected, selector, raw.get("rule"), raw.get("match"),
                              signature(step.op, observed),
                              marks.get((column.source, column.name, row.id, step.index)) if marks else None,
                              raw.get("not_run"), raw.get("expected_from"), raw.get("predicted"), raw.get("agrees")))
    if result is None:
        return Cell(verdict=None, reason="not in this target's run", ms=None, steps=cells)
    known = bool(baseline and (column.source, column.name, row.id) in baseline.known)
    return Cell(verdict=result["verdict"], reason=result.get("reason"), ms=result.get("ms"), steps=cells,
                known=known)


def _mark_steps(row: Row) -> None:
    for i, step in enumerate(row.steps):
        seen = {c.steps[i].signature for c in row.cells if c.steps[i].signature is not None}
        step.differs = len(seen) > 1
        step.contrast = len({c.steps[i].comparable for c in row.cells} - {None}) > 1
        step.mismatch = any(c.steps[i].match is False for c in row.cells)
