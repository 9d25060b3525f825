"""What every command that runs scenarios shares: the default targets, the providers' options and
settings, the timeouts, and the checks that turn bad targets or unusable outputs into exit 2.

Apart from cli.py so that commands defined in their own packages (`harness explore`) use them
without importing the command line that adds them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping

import click

from .files import OutputError, claim_outputs
from .runlog import run_logger
from .targets.base import Target
from .targets.registry import TargetSettings, UnknownTarget, cli_modules, select_targets
from .terminal import bad_input

DEFAULT_TARGETS = "local,local-legacy"
RUN_DEFAULT_SHOWN = f"{DEFAULT_TARGETS}, and rump where its libraries are found"
PROVIDER_CLI = cli_modules()


def default_run_targets() -> str:
    """`harness run`'s targets when none are named: HARNESS_TARGETS (as explore reads it), else this
    kernel and the emulated 3.8, and NetBSD's kernel code (`rump`) wherever its libraries are found, so
    that the main job's matrix has a BSD column a kernel answered, not only expectations. Not explore's
    default: every Linux and NetBSD difference would be a finding there."""
    from .targets.rump import library_folder

    found = library_folder()[0] is not None
    return os.environ.get("HARNESS_TARGETS", DEFAULT_TARGETS + (",rump" if found else ""))


def provider_options(command: Callable) -> Callable:
    """The options providers add to `harness run` (Vagrant's --keep, --destroy...)."""
    for _, module in reversed(PROVIDER_CLI):
        command = module.run_options(command)
    return command


def target_settings(log: Path, provider_values: Mapping[str, Any]) -> TargetSettings:
    """The settings every target is made with: the run's log and each provider's options."""
    return TargetSettings(log=run_logger(log),
                          options={p.name: module.settings(dict(provider_values)) for p, module in PROVIDER_CLI})


def timeout_options(scenario_seconds: float) -> Callable[[Callable], Callable]:
    """--step-timeout and --scenario-timeout, for a command that runs scenarios (`run`, `explore`)."""
    def apply(command: Callable) -> Callable:
        command = click.option("--scenario-timeout", default=scenario_seconds, show_default=True,
                               type=click.FloatRange(0.1), help="Seconds one scenario may take in all.")(command)
        return click.option("--step-timeout", default=5.0, show_default=True, type=click.FloatRange(0.1),
                            help="Seconds a step may take beyond its own timeout_ms before it counts as an "
                                 "infrastructure error.")(command)
    return apply


def targets_or_exit(spec: str, settings: TargetSettings) -> list[Target]:
    try:
        return select_targets(spec, settings)
    except UnknownTarget as exc:
        bad_input(str(exc))


def claim_or_exit(files: list[Path], lock: bool = True) -> list[Any]:
    """Every output usable and its folder this command's alone, or bad input (exit 2) before any work."""
    try:
        return claim_outputs(files, lock)
    except OutputError as exc:
        bad_input(str(exc))
