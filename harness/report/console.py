"""What a person sees on the terminal: progress while running, a matrix at the end."""
from __future__ import annotations

import threading
from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..model import VERDICTS, Identity, Scenario, ScenarioVerdict
from ..run.runner import Listener
from ..targets.base import Target
from ..terminal import clean

STYLE = {"pass": "green", "fail": "bold red", "error": "bold magenta", "skipped": "yellow"}


def verdict_cell(verdict: str) -> str:
    return f"[{STYLE[verdict]}]{verdict}[/]"


class ConsoleListener(Listener):
    """A progress bar per target on a terminal; one line per scenario otherwise (CI logs)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self._lock = threading.Lock()
        self._tasks: dict[str, int] = {}
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        )

    def __enter__(self) -> "ConsoleListener":
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def target_started(self, target: Target, total: int) -> None:
        with self._lock:
            self._tasks[target.name] = self.progress.add_task(f"{target.name}: starting", total=total)

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        self.target_phase(target, ident.label() if ident else f"unavailable: {reason}")

    def target_phase(self, target: Target, text: str) -> None:
        """On the target's progress bar; as a line of its own in logs."""
        self.progress.update(self._tasks[target.name], description=escape(clean(f"{target.name}: {text}", 200)))
        if not self.live:
            self.console.print(clean(f"{target.name}: {text}"), highlight=False, markup=False, soft_wrap=True)

    def verdict(self, verdict: ScenarioVerdict) -> None:
        self.progress.advance(self._tasks[verdict.target])
        if verdict.verdict in ("fail", "error") or not self.live:
            line = f"{verdict_cell(verdict.verdict):>18} {escape(clean(verdict.target))} {escape(verdict.scenario.id)}"
            if verdict.reason and verdict.verdict != "pass":
                line += f": {escape(clean(verdict.reason))}"  # `[linux<3.9]` is text, not markup
            self.console.print(line, highlight=False, markup=True, soft_wrap=True)

    def target_finished(self, target: Target) -> None:
        pass


def summary_table(scenarios: list[Scenario], targets: list[Target], verdicts: list[ScenarioVerdict],
                  identities: dict[str, Optional[Identity]]) -> Table:
    """Scenarios down, targets across: the same shape as the HTML report's matrix."""
    table = Table(title="harness results", show_lines=False)
    table.add_column("scenario", no_wrap=True)
    for t in targets:
        ident = identities.get(t.name)
        head = t.name + (f"\n{ident.family} {ident.version}" if ident else "")
        if ident and ident.emulated:
            head += " (emulated)"
        if t.info.model:
            head += "\n(model)"
        table.add_column(head, justify="center")
    cells = {(v.scenario.id, v.target): v for v in verdicts}
    for sc in scenarios:
        row = [cells.get((sc.id, t.name)) for t in targets]
        table.add_row(escape(sc.id), *[_cell(v, t) if v else "-" for v, t in zip(row, targets)])
    return table


def _cell(verdict: ScenarioVerdict, target: Target) -> str:
    """A verdict, or in a model column `predicted` (≠ where a prediction disagrees with what was written)."""
    if target.info.model and any(s.predicted is not None for s in verdict.steps):
        differs = any(s.agreement == "disagree" for s in verdict.steps)
        return "[cyan]predicted ≠[/]" if differs else "[cyan]predicted[/]"
    return verdict_cell(verdict.verdict)


def counts(verdicts: list[ScenarioVerdict]) -> dict[str, int]:
    out = dict.fromkeys(VERDICTS, 0)
    for v in verdicts:
        out[v.verdict] += 1
    return out


def counts_line(verdicts: list[ScenarioVerdict]) -> str:
    """`N passed, N failed, N skipped` plus errors: the plain closing line CI logs read."""
    c = counts(verdicts)
    return f"{c['pass']} passed, {c['fail']} failed, {c['skipped']} skipped, {c['error']} errors"
