"""Scenarios run on targets in-process, their verdicts kept: the edge where the model meets real kernels.

Used by the tests that hold the model against `local`, `local-legacy` and `rump`, and by
scripts/model_agreement.py, which prints the figures of docs/model.md. No results file is written:
thousands of generated scenarios are compared as they come back.
"""
from __future__ import annotations

from typing import Optional

from ..model import Identity, Scenario, ScenarioVerdict
from ..targets.base import Target
from ..targets.registry import select_targets
from .protocol import RunOptions
from .runner import Listener, Runner


class _Identities(Listener):
    def __init__(self) -> None:
        self.seen: dict[str, Optional[Identity]] = {}

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        self.seen[target.name] = ident


def observe(scenarios: list[Scenario], targets: str, chunk: int = 400,
            scenario_jobs: int = 0) -> tuple[list[ScenarioVerdict], dict[str, Optional[Identity]]]:
    """Every scenario run on every target of `targets` (a --targets spec), `chunk` at a time, up to
    `scenario_jobs` side by side on a target (0: one per CPU); and each target's identity."""
    verdicts: list[ScenarioVerdict] = []
    idents = _Identities()
    for start in range(0, len(scenarios), chunk):
        runner = Runner(scenarios[start:start + chunk], RunOptions(jobs=4, scenario_jobs=scenario_jobs), [idents])
        runner.run(select_targets(targets))
        verdicts += runner.verdicts
    return verdicts, idents.seen
