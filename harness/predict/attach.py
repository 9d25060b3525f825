"""Predictions for the columns no kernel answered: a reference column, an unavailable target, a model target.

A step whose system has a written expectation keeps it, shown as expected; a step whose expectation
is `any` (or where no rule matches) shows the model's prediction instead, marked predicted. A model
column (model://SYSTEM) shows the prediction of every step, with whether it agrees with what was
written. Nothing here is an observation: the verdict stays what it was (skipped), so a prediction
never passes, fails, or enters a baseline.
"""
from __future__ import annotations

from collections import Counter

from ..judge.chances import missed
from ..model import Identity, ScenarioVerdict, StepRun
from .agree import DISAGREE, UNKNOWN, with_written
from .engine import predict
from .systems import System


def predicted(verdict: ScenarioVerdict, declared: Identity, model: bool) -> ScenarioVerdict:
    """The verdict of a scenario no kernel ran, with the model's predictions where they are shown."""
    system = System(declared.family, declared.version)
    predictions = predict(verdict.scenario, system)
    # A step on a socket whose making the model predicts to fail would never run there (judge/chances.py);
    # an unknown step counts as made (the steps after it are unknown anyway).
    never = missed(verdict.scenario.steps, [StepRun(p.outcome if p.known else "ok") for p in predictions])
    for sv, prediction in zip(verdict.steps, predictions):
        sv.not_run = never.get(sv.step.index, sv.not_run)
        written = sv.expected
        if model:
            sv.predicted, sv.agreement = prediction, with_written(prediction.outcome, written)
        elif written is None or written.kind == "any":
            sv.predicted = prediction
    if model:
        verdict.reason = f"{model_reason(system)}; {agreement_line(verdict)}"
    return verdict


def model_reason(system: System) -> str:
    return f"the model of {system.label}'s rules predicted this (docs/model.md); no kernel ran"


def agreement_line(verdict: ScenarioVerdict) -> str:
    """`14 steps agree with the written expectations, 1 disagrees, 2 unknown`."""
    counts = Counter(sv.agreement for sv in verdict.steps)
    return (f"{counts['agree']} step(s) agree with the written expectations, {counts[DISAGREE]} disagree, "
            f"{counts[UNKNOWN]} unknown to the model, {counts['unchecked']} with nothing written (any)")


def disagreements(verdict: ScenarioVerdict) -> list[str]:
    """One line per step whose prediction disagrees with the written expectation (a model column)."""
    from ..scenario.ops import describe
    out = []
    for sv in verdict.steps:
        if sv.agreement == DISAGREE:
            step = sv.step
            out.append(f"step {step.index} ({describe(step.op, step.args)}) at line {step.pos.line}: written "
                       f"{sv.expected} [{sv.selector}], predicted {sv.predicted.outcome} "
                       f"({', '.join(sv.predicted.rules)})")
    return out
