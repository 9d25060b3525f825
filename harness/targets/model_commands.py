"""`harness predict FILE... --system freebsd-14[,macos-14]`: every step's predicted outcome, per system.

The model provider's part of the command line (harness/targets/registry.py loads it at start-up,
so it imports nothing heavy until the command runs). Each step shows the prediction, the rules that
decided it, and whether it agrees with what the scenario's author wrote for that system; the end
lists every rule cited with its source. `--json` prints the same as one document.
"""
from __future__ import annotations

import json
from typing import Any, Callable

import click

from ..terminal import EXIT_FAIL, EXIT_OK, bad_input, clean, out


def run_options(command: Callable) -> Callable:
    return command


def settings(values: dict[str, Any]) -> dict[str, Any]:
    return {}




@click.command("predict")
@click.argument("files", nargs=-1)
@click.option("--system", "systems", multiple=True, metavar="SYSTEM[,SYSTEM]",
              help="Systems to predict for: freebsd-14, macos-14, openbsd-7.6, netbsd-10, linux-3.8, linux-6...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option("--tags", multiple=True, help="Only scenarios carrying one of these tags.")
@click.option("--check", is_flag=True, help="Exit 1 if a prediction disagrees with a written expectation.")
@click.option("--rules", "rules_table", is_flag=True,
              help="Print every rule of the model with its sources, as docs/model.md lists them, and exit.")
def predict_command(files: tuple[str, ...], systems: tuple[str, ...], as_json: bool, tags: tuple[str, ...],
                    check: bool, rules_table: bool) -> None:
    """Predict every step of scenario FILES (or shipped suites by name) for each SYSTEM, with the rules
    and sources behind each prediction (docs/model.md). No kernel runs.

    Each step shows ✓ where the prediction agrees with the expectation written for that system, ✗
    where it does not, ? where the model does not know (it never guesses), · where nothing is written."""
    from ..predict.listing import predictions, render_json, render_tables, rules_markdown
    from ..scenario.arguments import files_or_exit, load_or_exit
    from .registry import split_spec

    if rules_table:
        click.echo(rules_markdown(), nl=False)
        raise SystemExit(EXIT_OK)
    if not files or not systems:
        bad_input("predict needs scenario FILES and --system SYSTEM (or --rules)")
    chosen = []
    for spec in [s for group in systems for s in split_spec(group)]:
        try:
            from ..predict.systems import System
            chosen.append(System.parse(spec))
        except ValueError as exc:
            bad_input(f"--system {exc}")
    scenarios = load_or_exit(files_or_exit(files))
    wanted = {t.strip() for group in tags for t in group.split(",") if t.strip()}
    if wanted:
        scenarios = [sc for sc in scenarios if wanted & set(sc.tags)]
        if not scenarios:
            bad_input(f"no scenario carries any of the tags {', '.join(sorted(wanted))}")
    table = predictions(scenarios, chosen)
    if as_json:
        click.echo(json.dumps(render_json(table), indent=1, ensure_ascii=False))
    else:
        for renderable in render_tables(table):
            out.print(renderable if not isinstance(renderable, str) else clean(renderable))
    disagree = any(cell is not None and cell.agreement == "disagree" for row in table.rows for step in row.cells
                   for cell in step)
    raise SystemExit(EXIT_FAIL if check and disagree else EXIT_OK)


COMMANDS = [predict_command]
