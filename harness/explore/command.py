"""`harness explore`: the command line of an exploration (docs/explore.md).

Exit status: 0 no disagreement found; 1 findings written; 2 bad input (nothing
run, nothing written); 3 a target answered nothing (it cannot run here), or
the findings could not be written; 130 interrupted (Ctrl-C, SIGTERM; 129 for
SIGHUP): the findings made so far are written.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import click

from ..command_options import DEFAULT_TARGETS, claim_or_exit, provider_options, target_settings, targets_or_exit, timeout_options
from ..interrupt import interrupted_status, stop_on_signals, stopped_by
from ..report.console import TerminalBars
from ..run.protocol import RunOptions
from ..targets.registry import split_spec
from ..terminal import EXIT_FAIL, EXIT_INFRA, EXIT_OK, Grid, bad_input, clean, err, out
from .bench import Bench, kept
from .findings import Book
from .output import PAGE, SUMMARY, foreign_files, report_run, write_findings, write_summary
from .session import Counts, Outcome, Session
from .write import Exploration


@click.command()
@click.option("--targets", "targets_spec", default=lambda: os.environ.get("HARNESS_TARGETS", DEFAULT_TARGETS),
              show_default=DEFAULT_TARGETS,
              help="Two or more targets, comma-separated; a name given twice is two agents of one kernel "
                   "(local,local: the second is local@2).")
@click.option("--seed", default=1, show_default=True, type=int, help="Sequence N of a seed is always the same.")
@click.option("--budget", default=1000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="How many sequences to generate.")
@click.option("--time", "seconds", type=click.FloatRange(0, min_open=True), metavar="S",
              help="Start no new batch of sequences after S seconds (what was found is still shrunk).")
@click.option("--out", "out_dir", default="explore", show_default=True, type=click.Path(file_okay=False),
              help=f"Folder for a scenario file per finding, {SUMMARY}, {PAGE}, and the report of the findings' run.")
@click.option("--scenario-jobs", default=24, show_default=True, type=click.IntRange(0, 256),
              help="Sequences run at once on a target that gives each its own namespace or kernel "
                   "(most of a sequence's time is waiting); 0: one per CPU.")
@timeout_options(30.0)
@provider_options
def explore(targets_spec: str, seed: int, budget: int, seconds: Optional[float], out_dir: str, scenario_jobs: int,
            step_timeout: float, scenario_timeout: float, **values: Any) -> None:
    """Generate call sequences, run them on two or more targets, and shrink every disagreement to a scenario."""
    stop_on_signals()  # SIGTERM and SIGHUP are Ctrl-C, from the first line on
    out = Path(out_dir)
    try:
        targets, lock = _prepare(targets_spec, out, values)
    except KeyboardInterrupt:
        err.print(f"harness: {stopped_by()} before anything ran; nothing was written")
        sys.exit(interrupted_status())
    config = RunOptions(jobs=len(targets), scenario_jobs=scenario_jobs, step_timeout_ms=int(step_timeout * 1000),
                        scenario_timeout_ms=int(scenario_timeout * 1000))
    bench = Bench(targets, config)
    command = ["harness", "explore", *sys.argv[2:]] if sys.argv[1:2] == ["explore"] else ["harness", "explore"]
    how = Exploration(seed, budget, tuple(t.name for t in targets), {}, shlex.join(command))
    with Display(budget) as display:
        outcome = Session(bench, how, seconds, display.say, display.update).run()
    status = _finish(outcome, bench, out, command)
    sys.exit(status)


def _prepare(spec: str, out: Path, values: dict[str, Any]):
    """Targets (a name given twice counted twice) and the output folder, checked before anything runs."""
    settings = target_settings(out / "run.log", values)
    targets = kept([t for item in split_spec(spec) for t in targets_or_exit(item, settings)])
    if len(targets) < 2:
        bad_input(f"explore compares two or more targets, got {', '.join(t.name for t in targets) or 'none'}; "
                  "to compare a kernel with itself, name it twice: --targets local,local")
    foreign = foreign_files(out)
    if foreign:
        bad_input(f"{out} holds scenario files no exploration wrote ({', '.join(p.name for p in foreign[:3])}); "
                  "give another --out")
    return targets, claim_or_exit([out / SUMMARY, out / PAGE])


def _finish(outcome: Outcome, bench: Bench, folder: Path, command: list[str]) -> int:
    """Write what was found, say it; the exit status."""
    interrupted = outcome.interrupted
    try:
        written, report = write_findings(outcome, folder), None
        write_summary(outcome, written, folder, report)
        if written and not interrupted and not outcome.unavailable:
            report = report_run([p for _, p in written], bench, folder, command)
            write_summary(outcome, written, folder, report)
    except KeyboardInterrupt:
        interrupted = True
        written, report = [], None
        err.print(f"harness: {stopped_by()} while writing; the files written are whole")
    except OSError as exc:
        err.print(f"harness: cannot write into {folder}: {clean(str(exc))}")
        return EXIT_INFRA
    finally:
        bench.finish(interrupted)
    _print(outcome, written, folder, report)
    if interrupted:
        err.print(f"harness: {stopped_by()}; the findings made so far are written")
        return interrupted_status()
    if outcome.unavailable:
        for target, why in outcome.unavailable.items():
            err.print(f"harness: {clean(target)} answered nothing: {clean(why)}")
        return EXIT_INFRA
    return EXIT_FAIL if written else EXIT_OK


def _print(outcome: Outcome, written: list, folder: Path, report: Optional[str]) -> None:
    c = outcome.counts
    if written:
        rows = [[str(f.count), clean(f.title()), str(len(f.sequence.calls)), clean(str(path))] for f, path in written]
        out.print(Grid(["count", "signature", "steps", "file"], rows, title="findings, by signature",
                       folded=frozenset({1, 3})))
    out.print(f"{c.generated} sequences ({c.rate:.0f}/s), {c.disagreed} disagreements: {len(written)} finding(s), "
              f"{c.explained} counted with one, {c.not_reproduced} not reproduced, {c.not_checked} not kept; "
              f"{c.infrastructure} not run through")
    for target, why in c.infra_reasons.items():
        out.print(f"  not run through on {clean(target)}, first: {clean(why, 300)}")
    files = [folder / PAGE, folder / SUMMARY] + ([folder / report] if report else [])
    out.print(f"written: {'  '.join(map(str, files))}")


class Display(TerminalBars):
    """A progress bar with the counts on a terminal; a line per batch otherwise (CI logs)."""

    def __init__(self, budget: int) -> None:
        super().__init__(err)
        self.task = self.progress.add_task("exploring", total=budget) if self.progress else None

    def say(self, text: str) -> None:
        if self.progress:
            self.progress.console.print(clean(text), markup=False, highlight=False, soft_wrap=True)
        else:
            err.print(clean(text))

    def update(self, counts: Counts, book: Book) -> None:
        line = f"{counts.disagreed} disagreements, {len(book.findings)} findings, {counts.rate:.0f} sequences/s"
        if self.progress:
            self.progress.update(self.task, completed=counts.generated, description=f"exploring: {line}")
        else:
            self.say(f"{counts.generated} sequences: {line}")
