"""The model held against kernels and against written expectations: agreement counts and every disagreement.

Pure: it reads verdicts (what targets observed) or loaded scenarios (what authors wrote); running
the targets is measure.py's. The figures docs/model.md gives come from here.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..judge.expectations import resolve
from ..judge.verdict import not_applicable
from ..model import Identity, Scenario, ScenarioVerdict
from ..scenario.ops import describe
from .agree import AGREE, DISAGREE, UNKNOWN, with_observation, with_written
from ..observation import text
from .engine import ASSUMES, predict

COLLISION = "collision"  # disagreed where the prediction assumed a kernel-picked port differs from a named one, or later
# in a scenario where that assumption already failed
from .systems import System


@dataclass(frozen=True)
class Disagreement:
    scenario: str
    step: int
    text: str
    predicted: str
    actual: str  # what the kernel returned, or what was written
    rules: tuple[str, ...]

    def __str__(self) -> str:
        return (f"{self.scenario} step {self.step} ({self.text}): predicted {self.predicted} "
                f"[{' '.join(self.rules)}], {self.actual}")


@dataclass
class Agreement:
    """Steps counted by agree / disagree / unknown (and unchecked: nothing to compare with)."""

    counts: Counter = field(default_factory=Counter)
    disagreements: list[Disagreement] = field(default_factory=list)
    unknown: list[Disagreement] = field(default_factory=list)
    collisions: list[Disagreement] = field(default_factory=list)  # a kernel-picked port turned out to be a named one

    @property
    def checked(self) -> int:
        return self.counts[AGREE] + self.counts[DISAGREE] + self.counts[UNKNOWN]

    def line(self, what: str) -> str:
        c = self.counts
        rate = f" ({100 * c[AGREE] / self.checked:.1f}% agree)" if self.checked else ""
        collided = f", {c[COLLISION]} where a port the kernel picked was a named one" if c[COLLISION] else ""
        return (f"{what}: {self.checked} steps compared: {c[AGREE]} agree, {c[DISAGREE]} disagree, "
                f"{c[UNKNOWN]} unknown to the model{collided}{rate}")


def with_kernels(verdicts: list[ScenarioVerdict], system_of: Callable[[str], Optional[System]]) -> dict[str, Agreement]:
    """Every observed step of every scenario that ran, against the prediction for the target's system
    (with the port numbers the run gave, where an answer depends on them)."""
    out: dict[str, Agreement] = {}
    for v in verdicts:
        system = system_of(v.target)
        if system is None or v.run is None or v.run.status != "ran":
            continue
        tally = out.setdefault(v.target, Agreement())
        collided = False  # a step of this scenario was a collision: later ones rest on the same wrong assumption
        for sv, p in zip(v.steps, predict(v.scenario, system, v.run.ports)):
            observed = sv.observed.record if sv.observed is not None else None
            verdict = with_observation(sv.step.op, p.outcome, observed)
            if verdict == DISAGREE and (collided or p.why.startswith(ASSUMES)):
                verdict, collided = COLLISION, True
            tally.counts[verdict] += 1
            if verdict in (DISAGREE, UNKNOWN, COLLISION) and observed is not None:
                item = Disagreement(v.scenario.id, sv.step.index, describe(sv.step.op, sv.step.args), p.outcome,
                                    f"observed {text(sv.step.op, observed)}" + (f" ({p.why})" if p.why else ""),
                                    p.rules)
                {DISAGREE: tally.disagreements, UNKNOWN: tally.unknown, COLLISION: tally.collisions}[verdict].append(item)
    return out


def with_expectations(scenarios: list[Scenario], system: System) -> Agreement:
    """Every step's prediction against the expectation written for the system (as the verdict resolves it)."""
    ident = Identity.of_system(system.family, system.version)
    tally = Agreement()
    for sc in scenarios:
        if not_applicable(sc, ident):
            continue
        for step, p in zip(sc.steps, predict(sc, system)):
            rule = resolve(step.expect, ident)
            written = step.expect.rules[rule] if rule is not None else None
            verdict = with_written(p.outcome, written.outcome if written else None, system.family)
            tally.counts[verdict] += 1
            if verdict in (DISAGREE, UNKNOWN):
                item = Disagreement(sc.id, step.index, describe(step.op, step.args), p.outcome,
                                    f"written {written.outcome} [{written.selector}]" + (f" ({p.why})" if p.why else ""),
                                    p.rules)
                (tally.disagreements if verdict == DISAGREE else tally.unknown).append(item)
    return tally
