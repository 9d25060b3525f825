"""Command line: `harness run`, `report`, `validate`, `targets`, plus the commands providers add.

Exit statuses: harness/terminal.py.
"""
from __future__ import annotations

import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import click
from rich.markup import escape
from rich.table import Table

from .model import Scenario, ScenarioVerdict
from .report import console, html, junit, matrix
from .run.protocol import RunOptions
from .run.results import ResultsWriter
from .run.runner import Runner
from .runlog import run_logger
from .scenario.loader import ScenarioFileError, load_files
from .targets.base import Availability, Target
from .targets.registry import TargetSettings, UnknownTarget, all_targets, cli_modules, select_targets, split_spec
from .terminal import EXIT_FAIL, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, bad_input, err, out

DEFAULT_TARGETS = "local,local-legacy"
PROVIDER_CLI = cli_modules()


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
    c = console.counts(verdicts)
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


def provider_options(command: Callable) -> Callable:
    """The options providers add to `harness run` (Vagrant's --keep, --destroy...)."""
    for _, module in reversed(PROVIDER_CLI):
        command = module.run_options(command)
    return command


def targets_or_exit(spec: str, settings: TargetSettings) -> list[Target]:
    try:
        return select_targets(spec, settings)
    except UnknownTarget as exc:
        bad_input(str(exc))


def write_reports(m: matrix.Matrix, paths: OutputPaths) -> None:
    junit.write(m, paths.junit)
    html.write(m, paths.html)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="harness")
def cli() -> None:
    """Run socket scenarios on real kernels and show how operating systems differ."""


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--targets", "targets_spec", default=lambda: os.environ.get("HARNESS_TARGETS", DEFAULT_TARGETS),
              show_default=DEFAULT_TARGETS, help="Comma-separated target names, or `all`.")
@click.option("--tags", multiple=True, help="Only scenarios carrying one of these tags (repeat or comma-separate).")
@click.option("--reference", "references", multiple=True, metavar="SYSTEM[,SYSTEM]",
              help="Add a column of what the scenarios expect of SYSTEM (e.g. freebsd-14, macos-14), not measured.")
@output_options
@click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 64), help="Targets run at once.")
@click.option("--step-timeout", default=5.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a step may take beyond its own timeout_ms before it counts as an infrastructure error.")
@click.option("--scenario-timeout", default=60.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds one scenario may take in all.")
@provider_options
def run(files: tuple[str, ...], targets_spec: str, tags: tuple[str, ...], references: tuple[str, ...],
        out_dir: str, json_path: Optional[str],
        junit_path: Optional[str], html_path: Optional[str], jobs: int, step_timeout: float,
        scenario_timeout: float, **provider_values: Any) -> None:
    """Run scenario FILES (or folders of them) on the chosen targets."""
    scenarios = load_or_exit(files)
    wanted = {t.strip() for group in tags for t in group.split(",") if t.strip()}
    if wanted:
        scenarios = [sc for sc in scenarios if wanted & set(sc.tags)]
        if not scenarios:
            bad_input(f"no scenario carries any of the tags {', '.join(sorted(wanted))}")
    paths = OutputPaths.choose(out_dir, json_path, junit_path, html_path)
    settings = TargetSettings(log=run_logger(paths.json.parent / "run.log"),
                              options={p.name: module.settings(provider_values) for p, module in PROVIDER_CLI})
    systems = [f"reference://{system}" for group in references for system in split_spec(group)]
    targets = targets_or_exit(",".join([targets_spec, *systems]), settings)

    results_path = paths.json
    writer = ResultsWriter(results_path, ["harness", *sys.argv[1:]], files,
                           [t.name for t in targets], [sc.id for sc in scenarios])
    config = RunOptions(jobs=jobs, step_timeout_ms=int(step_timeout * 1000),
                        scenario_timeout_ms=int(scenario_timeout * 1000))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted = False
    with console.ConsoleListener(err) as listener:
        runner = Runner(scenarios, config, [listener, writer])
        try:
            runner.run(targets)
        except KeyboardInterrupt:
            interrupted = True
    writer.finish(interrupted)
    write_reports(matrix.build([(str(results_path), writer.doc)]), paths)
    verdicts = runner.verdicts

    out.print(console.summary_table(scenarios, targets, verdicts, runner.identities))
    for v in verdicts:
        if v.verdict in ("fail", "error"):
            out.print(f"[bold]{v.verdict.upper()}[/] {escape(f'{v.target} {v.scenario.id} ({v.scenario.pos}):')}")
            for line in (v.reason or "").split("; "):
                out.print(f"    {line}", markup=False)
    out.print(console.counts_line(verdicts))
    out.print(f"results: {results_path}  junit: {paths.junit}  html: {paths.html}")
    if interrupted:
        err.print("harness: interrupted; results hold the scenarios that finished")
        sys.exit(EXIT_INTERRUPTED)
    explicit = targets_spec.strip() != "all"
    unavailable = [t.name for t in targets if runner.identities.get(t.name) is None and explicit
                   and not t.info.reference]
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
    """List every target, whether it can run here (and why not), its box and state."""
    targets = list(all_targets().values())
    with ThreadPoolExecutor(max_workers=8) as pool:  # vagrant status is slow; ask every machine at once
        def facts(t: Target) -> tuple[Target, Availability, dict[str, str]]:
            avail = t.availability()
            return t, avail, {**t.info.details, **(t.describe() if avail.available else {})}

        rows = list(pool.map(facts, targets))
    table = Table(caption="available: the provider works here; a missing box is fetched or built when needed. "
                          "Also: ssh://USER@HOST (a machine you have), reference://SYSTEM (expectations only)")
    columns = ("box", "network", "box present", "state")
    for col in ("target", "provider", *columns):
        table.add_column(col, no_wrap=True)
    table.add_column("available", overflow="fold")
    for t, avail, facts in rows:
        state = "[green]yes[/]" if avail.available else f"[red]no[/]: {escape(avail.reason)}"
        provider = t.info.provider + (" (emulated)" if t.info.emulated else "")
        table.add_row(t.name, provider, *(escape(facts.get(col, "-")) for col in columns), state)
    out.print(table)


for _, _module in PROVIDER_CLI:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: Optional[Sequence[str]] = None) -> None:
    cli.main(args=argv, prog_name="harness")
