"""Command line: `harness run`, `report`, `validate`, `targets`, plus the commands providers add.

Exit statuses: harness/terminal.py.
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import click

from . import __version__, streams
from .model import BaselineComparison, Scenario, ScenarioVerdict
from .report import console, matrix
from .report.formats import REPORTS, preload, write_all
from .run.protocol import RunOptions
from .run.results import ResultsWriter
from .run.runner import Runner
from .files import atomic_write, in_place, write_or_fall_back
from .command_options import (PROVIDER_CLI, RUN_DEFAULT_SHOWN, claim_or_exit, default_run_targets, provider_options,
                              target_settings, targets_or_exit, timeout_options)
from .interrupt import interrupted_status, stop_on_signals, stopped_by
from .resources import scenarios_dir, shown
from .scenario import library
from .scenario.arguments import files_or_exit, load_or_exit, load_suites_or_exit
from .targets.base import Availability, Target
from .targets.registry import all_targets, split_spec
from .terminal import EXIT_FAIL, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, Grid, Styled, bad_input, clean, err, out

if TYPE_CHECKING:
    from .judge import baseline
    from .report.schema import ResultsFile

def exit_status(m: matrix.Matrix, failed_targets: Sequence[str] = ()) -> int:
    """3 infrastructure (errors, a named target that could not run), else 1 behaviour (a failed scenario
    the baseline does not know, or any kernel answer changed since the baseline), else 0."""
    cells = [cell for row in m.rows for cell in row.cells]
    if failed_targets or any(c.verdict == "error" for c in cells):
        return EXIT_INFRA
    if any(sc.baseline and sc.baseline.fails for c in cells for sc in c.steps):
        return EXIT_FAIL
    return EXIT_FAIL if any(c.verdict == "fail" and not c.known for c in cells) else EXIT_OK


BASELINE_OPTION = click.option("--baseline", "baseline_dir", type=click.Path(file_okay=False),
                               help="Compare every observation with the baseline in this folder: a changed kernel "
                                    "answer fails, a known unchanged mismatch does not.")
BASELINE_OPTIONAL = click.option("--baseline-optional", is_flag=True,
                                 help="A --baseline folder that does not exist is no error: say so, and judge by "
                                      "the expectations alone (a CI's first night, before one is recorded).")


def load_baselines(folder: str, must_exist: bool = True) -> dict[tuple[str, str], "baseline.Baseline"]:
    """The baseline files of a folder by (target, system); bad input (exit 2) naming file:line otherwise."""
    from .judge import baseline  # loaded only with --baseline

    path = Path(folder)
    if not path.is_dir():
        if must_exist:
            bad_input(f"{folder}: no such baseline folder (record one with `harness baseline update`)")
        return {}
    out: dict[tuple[str, str], baseline.Baseline] = {}
    for file in sorted(path.glob("*.txt")):
        try:
            base = baseline.parse(file.read_text(encoding="utf-8"), str(file))
        except (OSError, UnicodeDecodeError) as exc:
            bad_input(f"{file}: cannot read the baseline: {exc}")
        except baseline.BaselineError as exc:
            bad_input(str(exc))
        if base.key in out:
            bad_input(f"{file}: same target and system as {out[base.key].path}")
        out[base.key] = base
    return out


def compared(docs: list[tuple[str, dict]], baseline_dir: Optional[str],
             optional: bool = False) -> Optional[BaselineComparison]:
    if baseline_dir is None:
        return None
    if optional and not Path(baseline_dir).is_dir():
        return BaselineComparison(notes=[
            f"no baseline folder {baseline_dir}: nothing compared, judged by the expectations alone; record one "
            f"from these results: harness baseline update RESULTS.json... --out {baseline_dir}"])
    from .judge import baseline

    today = dt.datetime.now(dt.timezone.utc).date()
    return baseline.compare(docs, load_baselines(baseline_dir), today)


def print_changes(comparison: Optional[BaselineComparison]) -> None:
    """One line per kernel answer that changed since the baseline, naming the cell and the entry."""
    if comparison is None:
        return
    for (source, target, scenario, step), mark in comparison.marks.items():
        if mark.state == "changed":
            flaky = " (flaky: not failing)" if mark.flaky else ""
            out.print(clean(f"CHANGED {target} {scenario} step {step}: {mark.old} -> {mark.new}{flaky} [{mark.where}]"),
                      markup=False, soft_wrap=True)
    for note in comparison.notes:
        out.print(clean(f"baseline: {note}"), markup=False, soft_wrap=True)


def print_model_disagreements(verdicts: Sequence[ScenarioVerdict], targets: Sequence[Target]) -> None:
    """A model column's predictions that differ from what was written: not failures, shown as what they are."""
    models = {t.name for t in targets if t.info.model}
    if not models:
        return
    from .predict.attach import disagreements

    for v in verdicts:
        if v.target in models:
            for line in disagreements(v):
                out.print(clean(f"MODEL {v.target} {v.scenario.id}: {line}"), soft_wrap=True)


@dataclass(frozen=True)
class OutputPaths:
    json: Path
    reports: dict[str, Path]  # report format -> where it is written
    folder: Path  # --out

    @classmethod
    def choose(cls, out_dir: str, json_path: Optional[str], asked: dict[str, Any]) -> "OutputPaths":
        """Each file where asked (`--junit FILE`), else in the --out folder under its usual name."""
        folder = Path(out_dir)
        reports = {fmt.name: Path(asked.get(f"{fmt.name}_path") or folder / fmt.filename) for fmt in REPORTS}
        return cls(json=Path(json_path) if json_path else folder / "results.json", reports=reports, folder=folder)

    @property
    def files(self) -> list[Path]:
        return [self.json, *self.reports.values()]

    @property
    def log(self) -> Path:
        """run.log: beside the results, or in --out where they go to a device (`--json /dev/stdout`)."""
        return (self.folder if in_place(self.json) else self.json.parent) / "run.log"


def output_options(command: Callable) -> Callable:
    names = ", ".join(fmt.filename for fmt in REPORTS)
    for option in reversed([
        click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(file_okay=False),
                     help=f"Folder for results.json, {names}."),
        click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Results file (default OUT/results.json)."),
        *(click.option(f"--{fmt.name}", f"{fmt.name}_path", type=click.Path(dir_okay=False),
                       help=f"{fmt.title} (default OUT/{fmt.filename}).") for fmt in REPORTS),
    ]):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Run socket scenarios on real kernels and show how operating systems differ."""


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--targets", "targets_spec", default=default_run_targets, show_default=RUN_DEFAULT_SHOWN,
              help="Comma-separated target names, or `all`.")
@click.option("--tags", multiple=True, help="Only scenarios carrying one of these tags (repeat or comma-separate).")
@click.option("--reference", "references", multiple=True, metavar="SYSTEM[,SYSTEM]",
              help="Add a column of what the scenarios expect of SYSTEM (e.g. freebsd-14, macos-14), not measured.")
@output_options
@BASELINE_OPTION
@BASELINE_OPTIONAL
@click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 64), help="Targets run at once.")
@click.option("--scenario-jobs", default=0, show_default=True, type=click.IntRange(0, 256),
              help="Scenarios run at once on a target where each has a network namespace of its own "
                   "(Linux as root); 0: one per CPU of the target.")
@timeout_options(60.0)
@click.option("--host-sysctl", is_flag=True,
              help="Let scenarios' sysctl: change machine-wide settings where no network namespace or rump kernel "
                   "of their own isolates them (restored after each scenario); without it they are skipped there.")
@provider_options
def run(files: tuple[str, ...], targets_spec: str, tags: tuple[str, ...], references: tuple[str, ...],
        out_dir: str, json_path: Optional[str], baseline_dir: Optional[str], baseline_optional: bool, jobs: int,
        scenario_jobs: int, step_timeout: float, scenario_timeout: float, host_sysctl: bool, **values: Any) -> None:
    """Run scenario FILES (or folders of them, or shipped suites by name: `harness suites`) on the chosen targets."""
    stop_on_signals()  # SIGTERM and SIGHUP are Ctrl-C, from the first line on
    try:
        files = tuple(files_or_exit(files))
        prepared = _prepare_run(files, targets_spec, tags, references,
                                OutputPaths.choose(out_dir, json_path, values), baseline_dir, baseline_optional,
                                values)
    except KeyboardInterrupt:
        err.print(f"harness: {stopped_by()} before anything ran; nothing was written", soft_wrap=True)
        sys.exit(interrupted_status())
    scenarios, targets, paths, lock = prepared  # the output folder's lock is held until the process exits
    config = RunOptions(jobs=jobs, scenario_jobs=scenario_jobs, step_timeout_ms=int(step_timeout * 1000),
                        scenario_timeout_ms=int(scenario_timeout * 1000), host_sysctl=host_sysctl)
    _run(scenarios, targets, paths, files, targets_spec, (baseline_dir, baseline_optional), config)


def _prepare_run(files: Sequence[str], targets_spec: str, tags: Sequence[str], references: Sequence[str],
                 paths: OutputPaths, baseline_dir: Optional[str], baseline_optional: bool,
                 provider_values: dict[str, Any]):
    """Everything checked before anything runs: files, tags, baseline, targets, output folders (exit 2)."""
    scenarios = load_or_exit(files)
    if baseline_dir is not None:
        load_baselines(baseline_dir, must_exist=not baseline_optional)  # bad input before anything runs
    wanted = {t.strip() for group in tags for t in group.split(",") if t.strip()}
    if wanted:
        scenarios = [sc for sc in scenarios if wanted & set(sc.tags)]
        if not scenarios:
            bad_input(f"no scenario carries any of the tags {', '.join(sorted(wanted))}")
    settings = target_settings(paths.log, provider_values)
    systems = [f"ref://{system}" for group in references for system in split_spec(group)]
    targets = targets_or_exit(",".join([targets_spec, *systems]), settings)
    return scenarios, targets, paths, claim_or_exit(paths.files)


def _run(scenarios: list[Scenario], targets: list[Target], paths: OutputPaths, files: Sequence[str],
         targets_spec: str, baseline: tuple[Optional[str], bool], config: RunOptions) -> None:
    writer = ResultsWriter(paths.json, ["harness", *sys.argv[1:]], files,
                           [t.name for t in targets], [sc.id for sc in scenarios])
    interrupted = False
    listener = console.ConsoleListener(err)
    try:
        with listener:  # its lines are printed by a thread: a slow reader holds up no agent
            preload()  # the report writers load while the agents run
            runner = Runner(scenarios, config, [listener, writer])
            try:
                runner.run(targets)
            except KeyboardInterrupt:
                interrupted = True
            try:
                m, written, problems = _write_outputs(writer, interrupted, paths, baseline)
            except KeyboardInterrupt:  # while writing: the run counts as interrupted, and what can be written is
                interrupted = True
                m, written, problems = _write_outputs(writer, interrupted, paths, baseline)
        # everything is written: from here on a stuck or closed terminal costs nothing
        _print_run(scenarios, targets, runner, m, f"results: {writer.path}  {written_line(written)}")
    except KeyboardInterrupt:
        interrupted = True
    for problem in problems:
        err.print(f"harness: {clean(problem)}", soft_wrap=True)
    say_lost_output()
    if interrupted:
        err.print(f"harness: {stopped_by()}; results hold the scenarios that finished", soft_wrap=True)
        sys.exit(interrupted_status())
    explicit = targets_spec.strip() != "all"
    unavailable = [t.name for t in targets if runner.identities.get(t.name) is None and explicit
                   and not t.info.reference]
    sys.exit(EXIT_INFRA if problems else exit_status(m, unavailable))


def _print_run(scenarios: list[Scenario], targets: list[Target], runner: Runner, m: matrix.Matrix,
               where: str) -> None:
    """The summary table, each failure and why, changes since the baseline, the counts, the files."""
    verdicts = runner.verdicts
    out.print(console.summary_table(scenarios, targets, verdicts, runner.identities))
    for v in verdicts:
        if v.verdict in ("fail", "error"):
            out.print([Styled(v.verdict.upper(), "bold"), clean(f" {v.target} {v.scenario.id} ({v.scenario.pos}):")])
            for line in (v.reason or "").split("; "):
                out.print(f"    {clean(line)}", soft_wrap=True)
    print_changes(m.baseline)
    print_model_disagreements(verdicts, targets)
    out.print(console.counts_line(verdicts), soft_wrap=True)
    out.print(clean(where), soft_wrap=True)


def written_line(written: dict[str, Optional[Path]]) -> str:
    """`junit: reports/junit.xml  html: reports/report.html`, each where it really went."""
    return "  ".join(f"{name}: {path if path is not None else '(not written)'}" for name, path in written.items())


def say_lost_output() -> None:
    """On stderr, if it works: that stdout stopped taking output (a pipe closed early) while the run went on."""
    lost = streams.failure("stdout")
    if lost:
        err.print(f"harness: standard output failed ({lost}); the run went on and wrote its files", soft_wrap=True)


def _write_outputs(writer: ResultsWriter, interrupted: bool, paths: OutputPaths, baseline: tuple[Optional[str], bool]
                   ) -> tuple[matrix.Matrix, dict[str, Optional[Path]], list[str]]:
    """Results, JUnit and HTML; where each went, and what could not be written where asked (then in a
    fallback file, said so)."""
    problems = [p for p in [writer.finish(interrupted)] if p]
    docs = [(str(writer.path), writer.doc)]
    m = matrix.build(docs, compared(docs, *baseline))
    written, report_problems = write_all(m, paths.reports)
    return m, written, problems + report_problems


def results_or_exit(results: Sequence[str]) -> list["ResultsFile"]:
    """Each results file checked (harness/report/schema.py); the same file twice would be two runs of one."""
    from .report.schema import ResultsFile, ResultsFileError

    seen: dict[str, str] = {}
    for path in results:
        first = seen.setdefault(os.path.realpath(path), path)
        if first != path or list(results).count(path) > 1:
            bad_input(f"{path}: the same results file as {first}, given twice")
    try:
        return [ResultsFile(path) for path in results]
    except ResultsFileError as exc:
        bad_input(str(exc))


@cli.command()
@click.argument("results", nargs=-1, required=True)
@output_options
@BASELINE_OPTION
@BASELINE_OPTIONAL
def report(results: tuple[str, ...], out_dir: str, json_path: Optional[str], baseline_dir: Optional[str],
           baseline_optional: bool, **report_paths: Optional[str]) -> None:
    """Rebuild JUnit XML and HTML from RESULTS files, merging runs from several machines.

    Exit status 0, or with --baseline as `run` would give it: 1 for a changed kernel answer or
    an unknown mismatch, 3 for infrastructure errors (with --baseline-optional and no such folder:
    by the expectations alone, 1 for any mismatch)."""
    if json_path:
        bad_input("--json does not apply to report: the results files are its input")
    stop_on_signals()
    try:
        files = results_or_exit(results)
        paths = OutputPaths.choose(out_dir, None, report_paths)
        locks = claim_or_exit(list(paths.reports.values()))  # noqa: F841 (held until the process exits)
        docs = [(f.path, f.streamed_document()) for f in files]  # read only with --baseline
        m = matrix.build_streamed(files, compared(docs, baseline_dir, baseline_optional))
        written, problems = write_all(m, paths.reports)
    except KeyboardInterrupt:  # each report is written whole or not at all (atomic_write)
        err.print(f"harness: {stopped_by()}; the reports written so far are whole, the rest were not written",
                  soft_wrap=True)
        sys.exit(interrupted_status())
    c = m.counts
    print_changes(m.baseline)
    out.print(f"{len(m.rows)} scenario(s) x {len(m.columns)} target(s): "
              f"{c['pass']} passed, {c['fail']} failed, {c['skipped']} skipped, {c['error']} errors", soft_wrap=True)
    out.print(clean(written_line(written)), soft_wrap=True)
    for problem in problems:
        err.print(f"harness: {clean(problem)}", soft_wrap=True)
    say_lost_output()
    sys.exit(EXIT_INFRA if problems else exit_status(m) if baseline_dir is not None else EXIT_OK)


@cli.group("baseline")
def baseline_group() -> None:
    """Record what kernels answered, to compare later runs with (--baseline)."""


@baseline_group.command("update")
@click.argument("results", nargs=-1, required=True)
@click.option("--out", "folder", required=True, type=click.Path(file_okay=False),
              help="The baseline folder: one text file per target and system.")
def baseline_update(results: tuple[str, ...], folder: str) -> None:
    """Record every observation of RESULTS files into the baseline folder (reviewable text)."""
    from .judge import baseline

    docs = [(f.path, f.document()) for f in results_or_exit(results)]
    known = load_baselines(folder, must_exist=False)
    claim_or_exit([Path(folder) / "baseline.txt"], lock=False)  # the folder takes files (a lock would be committed)
    updated, summary = baseline.update(docs, known)
    problems = []
    for base in updated:
        target = Path(base.path) if base.path else Path(folder) / base.filename
        text = baseline.render(base, f"from {', '.join(results)}").encode("utf-8", "backslashreplace")
        problems += [p for p in [write_or_fall_back(target, lambda path: atomic_write(path, text))[1]] if p]
    for line in summary:
        out.print(clean(line), soft_wrap=True)
    out.print(clean(f"baseline: {len(updated)} file(s) in {folder}"), soft_wrap=True)
    for problem in problems:
        err.print(f"harness: {clean(problem)}", soft_wrap=True)
    sys.exit(EXIT_INFRA if problems else EXIT_OK)


@cli.command()
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> None:
    """Check scenario FILES (or shipped suites by name) against the format without running anything."""
    scenarios = load_or_exit(files_or_exit(files))
    suites = {sc.suite for sc in scenarios}
    out.print(f"ok: {len(suites)} suite(s), {len(scenarios)} scenario(s)")


@cli.command()
def suites() -> None:
    """List the scenario library the harness ships: run one with `harness run NAME`, all with `harness run all`."""
    files = library.shipped()
    loaded = {suite.name: suite for suite in load_suites_or_exit(list(map(str, files.values())))}
    total = sum(len(suite.scenarios) for suite in loaded.values())
    table = Grid(["suite", "scenarios", "description"], folded=frozenset({2}),
                 caption=f"{total} scenarios in all (each address-family variant counted); "
                         f"the files: {shown(scenarios_dir())}{os.sep}")
    for name in files:
        suite = loaded.get(name)
        table.rows.append([clean(name), str(len(suite.scenarios)) if suite else "-",
                           clean(suite.description or "") if suite else "-"])
    out.print(table)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="The scenario file to write (default NAME.yaml in this folder).")
@click.option("--name", help="Suite and scenario name (default: the program's name).")
@click.option("--duration", type=click.FloatRange(0, min_open=True), metavar="S",
              help="Stop the program after S seconds (default: when it exits, or on Ctrl-C).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def record(out_path: Optional[str], name: Optional[str], duration: Optional[float], command: tuple[str, ...]) -> None:
    """Run COMMAND under strace and write its socket calls as a scenario: `harness record -- nginx -c x.conf`.

    Every step expects what this Linux kernel returned (`linux:`) and claims nothing elsewhere (`default: any`);
    replay it with `harness run FILE --targets ...`. Exit status 0 file written, 2 bad input (no such program, no
    IP socket opened), 3 could not run (no strace, tracing not permitted, the program failed before any socket)."""
    from .record.session import record as record_program
    from .record.tracer import RecordError, Stopped

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):  # stop the program and keep the recording, as Ctrl-C does
        signal.signal(signum, stop)
    try:
        path, summary = record_program(list(command), out_path, name, duration,
                                       lambda text: err.print(clean(text), markup=False, soft_wrap=True))
    except RecordError as exc:
        _say(err, f"harness: {exc}")
        sys.exit(exc.status)
    except (KeyboardInterrupt, Stopped):
        _say(err, "harness: interrupted; nothing was written")
        sys.exit(EXIT_INTERRUPTED)
    _say(out, f"recorded: {summary.line()}")
    _say(out, f"wrote {path}; replay it with: harness run {path} --targets local,local-legacy")


def _say(console: Any, text: str) -> None:
    """A last message; a terminal that is gone (SIGHUP) does not turn a kept recording into a traceback."""
    try:
        console.print(clean(text), markup=False, soft_wrap=True)
    except OSError:
        pass


@cli.command()
def schema() -> None:
    """Print the JSON Schema of scenario files, for editors (docs/scenario-format.md, "Editors")."""
    import json

    from .scenario.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command("targets")
def list_targets() -> None:
    """List every target, whether it can run here (and why not), its box and state."""
    targets = list(all_targets().values())
    with ThreadPoolExecutor(max_workers=8) as pool:  # vagrant status is slow; ask every machine at once
        def facts(t: Target) -> tuple[Target, Availability, dict[str, str]]:
            avail = t.availability()
            return t, avail, {**t.info.details, **(t.describe() if avail.available else {})}

        rows = list(pool.map(facts, targets))
    columns = ("box", "network", "box present", "state")
    table = Grid(["target", "provider", *columns, "available"], folded=frozenset({len(columns) + 2}),
                 caption="available: the provider works here; a missing box is fetched or built when needed. "
                         "Also: ssh://USER@HOST (a machine you have), ref://SYSTEM (expectations only), "
                         "model://SYSTEM (the model's predictions, docs/model.md)")
    for t, avail, facts in rows:
        state = Styled("yes", "green") if avail.available else [Styled("no", "red"), f": {clean(avail.reason)}"]
        provider = t.info.provider + (" (emulated)" if t.info.emulated else "")
        table.rows.append([t.name, provider, *(clean(str(facts.get(col, "-"))) for col in columns), state])
    out.print(table)


for _, _module in PROVIDER_CLI:
    for _command in _module.COMMANDS:
        cli.add_command(_command)

from .explore.command import explore  # noqa: E402 (after the helpers of this module it uses)

cli.add_command(explore)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """The command line; a bug in the harness itself exits 3 with its traceback, never 1 (which says a
    kernel behaved otherwise, or that explore found a difference)."""
    try:
        cli.main(args=argv, prog_name="harness")
    except Exception:  # click has handled bad usage; what is left is ours
        import traceback
        traceback.print_exc()
        err.print("harness: internal error (a bug in the harness, not an answer of any kernel): the traceback is "
                  "above", markup=False, soft_wrap=True)
        raise SystemExit(EXIT_INFRA)
