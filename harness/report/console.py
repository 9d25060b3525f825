"""What a person sees on the terminal: progress while running, a matrix at the end."""
from __future__ import annotations

import queue
import threading
from typing import Optional

from ..model import VERDICTS, Identity, Scenario, ScenarioVerdict
from ..run.runner import Listener
from ..targets.base import Target
from ..terminal import Grid, Line, Output, Styled, clean

STYLE = {"pass": "green", "fail": "bold red", "error": "bold magenta", "skipped": "yellow"}


def verdict_cell(verdict: str) -> Styled:
    return Styled(verdict, STYLE[verdict])


class Pump:
    """Prints from a thread of its own, in order: a terminal or pipe that reads slowly (or not at all)
    delays the lines, never the run that emits them (its agents wait on no terminal)."""

    def __init__(self, console: Output) -> None:
        self.console = console
        self._lines: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="console", daemon=True)
        self._thread.start()

    def print(self, line: object) -> None:
        self._lines.put(line)

    def _loop(self) -> None:
        while (line := self._lines.get()) is not None:
            self.console.print(line)

    def drain(self) -> None:
        """Wait until every line was printed (blocks as long as the reader does)."""
        self._lines.put(None)
        self._thread.join()


class TerminalBars:
    """Progress bars (rich, loaded only for a terminal) where `console` is a terminal, none otherwise
    (CI logs get lines instead): started and stopped with the `with` block. For `run` and `explore`."""

    def __init__(self, console: Output) -> None:
        self.progress = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), console=console.rich, transient=True)

    def __enter__(self) -> "TerminalBars":
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()


class ConsoleListener(Listener, TerminalBars):
    """A progress bar per target on a terminal; one line per scenario otherwise (CI logs)."""

    def __init__(self, console: Output) -> None:
        TerminalBars.__init__(self, console)
        self.console = console
        self.pump = Pump(console)
        self.live = console.is_terminal
        self._lock = threading.Lock()
        self._tasks: dict[str, int] = {}

    def __exit__(self, *exc: object) -> None:
        """Every line printed (this waits for a slow reader: leave the block once the files are written)."""
        TerminalBars.__exit__(self, *exc)
        self.pump.drain()

    def target_started(self, target: Target, total: int) -> None:
        if self.progress:
            with self._lock:
                self._tasks[target.name] = self.progress.add_task(f"{target.name}: starting", total=total)

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        self.target_phase(target, ident.label() if ident else f"unavailable: {reason}")

    def target_phase(self, target: Target, text: str) -> None:
        """On the target's progress bar; as a line of its own in logs."""
        if self.progress:
            self.progress.update(self._tasks[target.name], description=clean(f"{target.name}: {text}", 200))
        else:
            self.pump.print(clean(f"{target.name}: {text}"))

    def verdict(self, verdict: ScenarioVerdict) -> None:
        if self.progress:
            self.progress.advance(self._tasks[verdict.target])
        if verdict.verdict in ("fail", "error") or not self.live:
            line: list = [" " * (7 - len(verdict.verdict)), verdict_cell(verdict.verdict),
                          clean(f" {verdict.target} {verdict.scenario.id}")]
            if verdict.reason and verdict.verdict != "pass":
                line.append(f": {clean(verdict.reason)}")  # `[linux<3.9]` is text: never markup
            self.pump.print(line)

    def target_finished(self, target: Target) -> None:
        pass


def summary_table(scenarios: list[Scenario], targets: list[Target], verdicts: list[ScenarioVerdict],
                  identities: dict[str, Optional[Identity]]) -> Grid:
    """Scenarios down, targets across: the same shape as the HTML report's matrix."""
    heads = ["scenario"]
    for t in targets:
        ident = identities.get(t.name)
        head = t.name + (f"\n{ident.family} {ident.version}" if ident else "")
        if ident and ident.emulated:
            head += " (emulated)"
        if t.info.model:
            head += "\n(model)"
        heads.append(head)
    cells = {(v.scenario.id, v.target): v for v in verdicts}
    rows: list[list[Line]] = []
    for sc in scenarios:
        row = [cells.get((sc.id, t.name)) for t in targets]
        rows.append([clean(sc.id), *[_cell(v, t) if v else "-" for v, t in zip(row, targets)]])
    return Grid(heads, rows, title="harness results", centred=frozenset(range(1, len(heads))))


def _cell(verdict: ScenarioVerdict, target: Target) -> Styled:
    """A verdict, or in a model column `predicted` (≠ where a prediction disagrees with what was written)."""
    if target.info.model and any(s.predicted is not None for s in verdict.steps):
        differs = any(s.agreement == "disagree" for s in verdict.steps)
        return Styled("predicted ≠" if differs else "predicted", "cyan")
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
