"""The edge where the model meets real kernels: run scenarios on targets in-process, keep the verdicts.

Used by the tests that hold the model against `local`, `local-legacy` and `rump`, and by
scripts/model_agreement.py, which prints the figures of docs/model.md. No results file is written:
thousands of generated scenarios are compared as they come back.
"""
from __future__ import annotations

from typing import Optional

from ..model import Identity, Scenario, ScenarioVerdict
from ..run.protocol import RunOptions
from ..run.runner import Listener, Runner
from ..targets.base import Target
from ..targets.registry import select_targets
from .systems import System


class _Identities(Listener):
    def __init__(self) -> None:
        self.seen: dict[str, Optional[Identity]] = {}

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        self.seen[target.name] = ident


def observe(scenarios: list[Scenario], targets: str, chunk: int = 400,
            scenario_jobs: int = 0) -> tuple[list[ScenarioVerdict], dict[str, Optional[Identity]]]:
    """Every scenario run on every target of `targets` (a --targets spec), `chunk` at a time, up to
    `scenario_jobs` side by side on a target (0: one per CPU)."""
    verdicts: list[ScenarioVerdict] = []
    idents = _Identities()
    for start in range(0, len(scenarios), chunk):
        runner = Runner(scenarios[start:start + chunk], RunOptions(jobs=4, scenario_jobs=scenario_jobs), [idents])
        runner.run(select_targets(targets))
        verdicts += runner.verdicts
    return verdicts, idents.seen


def system_of(ident: Optional[Identity]) -> Optional[System]:
    """The system the model predicts for a target that ran: its own, or for an emulated Linux (local-legacy)
    the emulated version on the host's kernel."""
    if ident is None:
        return None
    if ident.emulated_on:
        host = ident.emulated_on.split()[-1] if ident.emulated_on.split() else ident.emulated_on
        return System.emulated(ident.version, host)
    return System(ident.family, ident.version)
