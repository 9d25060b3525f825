"""Judge what a target's kernel did against what the scenario expected.

Pure functions.  Infrastructure trouble (the agent's `error` status) never
becomes a behaviour verdict: it is `error`, whatever the steps said.  Every
verdict records which expectation rule applied to each step, also for steps
that did not run, so that reports only read what was decided here.
"""
from __future__ import annotations

from typing import Optional

from .. import observation
from ..model import Identity, Scenario, ScenarioRun, ScenarioVerdict, Step, StepRun, StepVerdict
from ..scenario.ops import describe
from .chances import missed
from .expectations import matches, resolve


def not_applicable(scenario: Scenario, ident: Identity) -> Optional[str]:
    """Why the scenario's `only:` (or its variant) excludes this target, or None if it applies."""
    reason = next((why for sel, why in scenario.excluded if matches(sel, ident)), None)
    if reason:
        return reason
    if not scenario.only or any(matches(sel, ident) for sel in scenario.only):
        return None
    return f"only for {', '.join(map(str, scenario.only))}; target is {ident.family} {ident.version}"


def judge_step(step: Step, ident: Optional[Identity], run: Optional[StepRun]) -> StepVerdict:
    rule = resolve(step.expect, ident) if ident is not None else None
    verdict = StepVerdict(step=step, rule=rule, observed=run, ok=False)
    verdict.ok = bool(verdict.expected and run is not None
                      and observation.satisfies(verdict.expected, run.record, step.args, ident and ident.family))
    return verdict


def judge(scenario: Scenario, target: str, ident: Identity, run: ScenarioRun) -> ScenarioVerdict:
    """The verdict for one scenario on one target from the agent's observations."""
    observed: list[Optional[StepRun]] = list(run.steps) + [None] * (len(scenario.steps) - len(run.steps))
    never = missed(scenario.steps, observed) if run.status == "ran" else {}
    steps = [judge_step(step, ident, None if step.index in never else obs)
             for step, obs in zip(scenario.steps, observed)]
    for sv in steps:
        sv.not_run = never.get(sv.step.index)
    verdict = ScenarioVerdict(scenario, target, "pass", None, steps, run)
    if run.status == "skipped":
        verdict.verdict, verdict.reason = "skipped", run.reason
    elif run.status != "ran" or len(run.steps) != len(scenario.steps):
        verdict.verdict = "error"
        verdict.reason = run.reason or f"agent returned {len(run.steps)} of {len(scenario.steps)} steps"
    elif unresolved := [s for s in steps if s.expected is None]:
        verdict.verdict = "error"
        verdict.reason = "no expectation matches {} at {}".format(
            ident.label(), ", ".join(str(s.step.expect.pos or s.step.pos) for s in unresolved)
        )
    elif verdict.mismatches:
        verdict.verdict = "fail"
        verdict.reason = "; ".join(mismatch_text(s) for s in verdict.mismatches + verdict.not_run)
    elif verdict.not_run:  # no kernel answered these steps: the scenario did not run whole, it cannot pass
        verdict.verdict = "error"
        verdict.reason = "; ".join(mismatch_text(s) for s in verdict.not_run)
    return verdict


def mismatch_text(sv: StepVerdict) -> str:
    step = sv.step
    if sv.not_run is not None:
        return f"step {step.index} ({describe(step.op, step.args)}) at line {step.pos.line} never ran: {sv.not_run}"
    return observation.mismatch_line(step.index, describe(step.op, step.args), step.pos.line, sv.expected,
                                     sv.selector, step.op, None if sv.observed is None else sv.observed.record)


def not_run(scenario: Scenario, target: str, verdict: str, reason: str,
            ident: Optional[Identity] = None) -> ScenarioVerdict:
    """A scenario no kernel answered (skipped, or an error before it ran): each step still records
    the expectation that applies to the target, where its system is known."""
    return ScenarioVerdict(scenario, target, verdict, reason, [judge_step(s, ident, None) for s in scenario.steps])


def skipped(scenario: Scenario, target: str, reason: str, ident: Optional[Identity] = None) -> ScenarioVerdict:
    return not_run(scenario, target, "skipped", reason, ident)


def errored(scenario: Scenario, target: str, reason: str, ident: Optional[Identity] = None) -> ScenarioVerdict:
    return not_run(scenario, target, "error", reason, ident)
