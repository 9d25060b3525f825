"""Command line: `harness run`, `harness validate`, `harness targets`.

Exit status: 0 every scenario passed (or was skipped), 1 some behaviour differs
from its expectation, 2 bad input (nothing run, nothing written), 3
infrastructure errors (they win over 1: such a run cannot be trusted), 130
interrupted.
"""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn, Optional, Sequence

import click
from rich.console import Console
from rich.table import Table

from . import htmlreport, junit, matrix
from .console import ConsoleListener, counts, counts_line, summary_table
from .loader import ScenarioFileError, load_files
from .model import Scenario, ScenarioVerdict
from .results import ResultsWriter
from .runner import RunConfig, Runner
from .targets import UnknownTarget, all_targets, select_targets

EXIT_OK, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_INFRA, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_TARGETS = "local,local-legacy"

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def bad_input(message: str) -> NoReturn:
    err.print(f"harness: {message}", markup=False)
    sys.exit(EXIT_BAD_INPUT)


def load_or_exit(files: Sequence[str]) -> list[Scenario]:
    """Every scenario of every file, or every problem listed and exit 2."""
    try:
        suites = load_files(files)
    except ScenarioFileError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False)
        bad_input(f"{len(exc.problems)} problem(s) in scenario files; nothing was run")
    return [sc for suite in suites for sc in suite.scenarios]


def exit_status(verdicts: list[ScenarioVerdict], failed_targets: list[str]) -> int:
    c = counts(verdicts)
    if c["error"] or failed_targets:
        return EXIT_INFRA
    return EXIT_FAIL if c["fail"] else EXIT_OK


@dataclass(frozen=True)
class OutputPaths:
    json: Path
    junit: Path
    html: Path

    @classmethod
    def choose(cls, out_dir: str, json_path: Optional[str], junit_path: Optional[str],
               html_path: Optional[str]) -> "OutputPaths":
        """Each file where asked, else in the --out folder under its usual name."""
        folder = Path(out_dir)
        return cls(json=Path(json_path) if json_path else folder / "results.json",
                   junit=Path(junit_path) if junit_path else folder / "junit.xml",
                   html=Path(html_path) if html_path else folder / "report.html")


def output_options(command: Callable) -> Callable:
    for option in reversed([
        click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(file_okay=False),
                      help="Folder for results.json, junit.xml and report.html."),
        click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Results file (default OUT/results.json)."),
        click.option("--junit", "junit_path", type=click.Path(dir_okay=False), help="JUnit XML (default OUT/junit.xml)."),
        click.option("--html", "html_path", type=click.Path(dir_okay=False), help="HTML report (default OUT/report.html)."),
    ]):
        command = option(command)
    return command


def write_reports(m: matrix.Matrix, paths: OutputPaths) -> None:
    junit.write(m, paths.junit)
    htmlreport.write(m, paths.html)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def cli() -> None:
    """Run socket scenarios on real kernels and show how operating systems differ."""


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--targets", "targets_spec", default=lambda: os.environ.get("HARNESS_TARGETS", DEFAULT_TARGETS),
              show_default=DEFAULT_TARGETS, help="Comma-separated target names, or `all`.")
@click.option("--tags", multiple=True, help="Only scenarios carrying one of these tags (repeat or comma-separate).")
@output_options
@click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 64), help="Targets run at once.")
@click.option("--step-timeout", default=5.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a step may take beyond its own timeout_ms before it counts as an infrastructure error.")
@click.option("--scenario-timeout", default=60.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds one scenario may take in all.")
def run(files: tuple[str, ...], targets_spec: str, tags: tuple[str, ...], out_dir: str, json_path: Optional[str],
        junit_path: Optional[str], html_path: Optional[str], jobs: int, step_timeout: float,
        scenario_timeout: float) -> None:
    """Run scenario FILES (or folders of them) on the chosen targets."""
    scenarios = load_or_exit(files)
    wanted = {t.strip() for group in tags for t in group.split(",") if t.strip()}
    if wanted:
        scenarios = [sc for sc in scenarios if wanted & set(sc.tags)]
        if not scenarios:
            bad_input(f"no scenario carries any of the tags {', '.join(sorted(wanted))}")
    try:
        targets = select_targets(targets_spec)
    except UnknownTarget as exc:
        bad_input(str(exc))

    paths = OutputPaths.choose(out_dir, json_path, junit_path, html_path)
    results_path = paths.json
    writer = ResultsWriter(results_path, ["harness", *sys.argv[1:]], files,
                           [t.name for t in targets], [sc.id for sc in scenarios])
    config = RunConfig(jobs=jobs, step_timeout_ms=int(step_timeout * 1000),
                       scenario_timeout_ms=int(scenario_timeout * 1000))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    with ConsoleListener(err) as listener:
        runner = Runner(scenarios, config, [listener, writer])
        try:
            runner.run(targets)
        except KeyboardInterrupt:
            interrupted = True
    writer.finish(interrupted)
    write_reports(matrix.build([(str(results_path), writer.doc)]), paths)
    verdicts = runner.verdicts

    out.print(summary_table(scenarios, targets, verdicts, runner.identities))
    for v in verdicts:
        if v.verdict in ("fail", "error"):
            out.print(f"[bold]{v.verdict.upper()}[/] {v.target} {v.scenario.id} ({v.scenario.pos}):", highlight=False)
            for line in (v.reason or "").split("; "):
                out.print(f"    {line}", markup=False)
    out.print(counts_line(verdicts))
    out.print(f"results: {results_path}  junit: {paths.junit}  html: {paths.html}")
    if interrupted:
        err.print("harness: interrupted; results hold the scenarios that finished")
        sys.exit(EXIT_INTERRUPTED)
    explicit = targets_spec.strip() != "all"
    unavailable = [n for n, ident in runner.identities.items() if ident is None and explicit]
    sys.exit(exit_status(verdicts, unavailable))


@cli.command()
@click.argument("results", nargs=-1, required=True)
@output_options
def report(results: tuple[str, ...], out_dir: str, json_path: Optional[str], junit_path: Optional[str],
           html_path: Optional[str]) -> None:
    """Rebuild JUnit XML and HTML from RESULTS files, merging runs from several machines."""
    if json_path:
        bad_input("--json does not apply to report: the results files are its input")
    try:
        docs = [(path, matrix.load_results(path)) for path in results]
    except matrix.ResultsFileError as exc:
        bad_input(str(exc))
    m = matrix.build(docs)
    paths = OutputPaths.choose(out_dir, None, junit_path, html_path)
    write_reports(m, paths)
    c = m.counts
    out.print(f"{len(m.rows)} scenario(s) x {len(m.columns)} target(s): "
              f"{c['pass']} passed, {c['fail']} failed, {c['skipped']} skipped, {c['error']} errors")
    out.print(f"junit: {paths.junit}  html: {paths.html}")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check scenario FILES against the format without running anything."""
    scenarios = load_or_exit(files)
    suites = {sc.suite for sc in scenarios}
    out.print(f"ok: {len(suites)} suite(s), {len(scenarios)} scenario(s)")


@cli.command("targets")
def list_targets() -> None:
    """List every target, whether it can run here, and why not."""
    table = Table()
    for col in ("target", "provider", "description", "available"):
        table.add_column(col)
    for t in all_targets().values():
        avail = t.availability()
        state = "[green]yes[/]" if avail.available else f"[red]no[/]: {avail.reason}"
        table.add_row(t.name, t.info.provider, t.info.description + (" [emulated]" if t.info.emulated else ""), state)
    out.print(table)


def main(argv: Optional[Sequence[str]] = None) -> None:
    cli.main(args=argv, prog_name="harness")
