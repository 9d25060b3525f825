"""Where targets first part ways on one sequence, judged as the rest of the harness judges.

Each step's answer is its observation's signature (harness/observation.py:
the outcome and the fields its op row compares; a distribution's shape), or,
in a column that answers by prediction (a model://), the signature its
predicted outcome would have (`unknown`: no answer). A target whose scenario
did not run through (the agent's error, the harness's own timeout, a target
that could not run) gave no answer: that is infrastructure, never a
disagreement.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional

from ..model import ScenarioVerdict
from ..observation import expected_signature, signature

Answers = list[Optional[str]]  # one signature per step; None where the step did not run


def answers(verdict: ScenarioVerdict) -> Optional[Answers]:
    """Every step's signature on the target, or None if it answered nothing (did not run through)."""
    if verdict.verdict in ("pass", "fail"):
        return [signature(sv.step.op, sv.observed.record if sv.observed else None) for sv in verdict.steps]
    if verdict.steps and all(sv.predicted is not None for sv in verdict.steps):
        return [expected_signature(sv.predicted.outcome) if sv.predicted.known and not sv.not_run else None
                for sv in verdict.steps]
    return None


@dataclass(frozen=True)
class Difference:
    """The first step whose answers differ: its index (0-based), op, and each target's answer, in target order."""

    index: int
    op: str
    answers: tuple[tuple[str, str], ...]

    def shape(self) -> tuple[str, tuple[str, ...]]:
        """What a shrunk sequence must still show: the op and each target's answer (the index may move)."""
        return self.op, tuple(a for _, a in self.answers)

    def loose(self) -> tuple[str, tuple[str, ...]]:
        """The shape without socket names (`single:s3` -> `single`, which shrinking renames) and numbers
        (`ok value=212992` -> `ok value=#`: one option's read-back differs whatever was set)."""
        return self.op, tuple(re.sub(r"=-?\d+", "=#", re.sub(r"^single:.*", "single", a)) for _, a in self.answers)

    def text(self) -> str:
        """`bind: local ok · rump EADDRINUSE`"""
        return f"{self.op}: " + " · ".join(f"{target} {answer}" for target, answer in self.answers)


def first_difference(verdicts: Mapping[str, ScenarioVerdict]) -> tuple[Optional[Difference], bool]:
    """(the first step where the targets' answers differ, or None; whether every target answered).

    Steps are compared while every target answered them; the first that differs is the one."""
    read = {target: answers(v) for target, v in verdicts.items()}
    if any(a is None for a in read.values()) or not read:
        return None, False
    steps = next(iter(verdicts.values())).scenario.steps
    for index, step in enumerate(steps):
        row = [(target, a[index]) for target, a in read.items()]
        if any(answer is None for _, answer in row):
            return None, True
        if len({answer for _, answer in row}) > 1:
            return Difference(index, step.op, tuple((t, str(a)) for t, a in row)), True
    return None, True
