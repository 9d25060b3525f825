"""Judge what a target's kernel did against what the scenario expected.

Pure functions.  Infrastructure trouble (the agent's `error` status) never
becomes a behaviour verdict: it is `error`, whatever the steps said.
"""
from __future__ import annotations

from typing import Any, Optional

from .model import Identity, Outcome, Scenario, ScenarioRun, ScenarioVerdict, Step, StepRun, StepVerdict
from .expectations import matches, resolve


def not_applicable(scenario: Scenario, ident: Identity) -> Optional[str]:
    """Why the scenario's `only:` excludes this target, or None if it applies."""
    if not scenario.only or any(matches(sel, ident) for sel in scenario.only):
        return None
    return f"only for {', '.join(map(str, scenario.only))}; target is {ident.family} {ident.version}"


def distribution_matches(expected: Outcome, run: StepRun, over: list[str], count: int) -> bool:
    hist: dict[str, int] = run.extra.get("histogram") or {}
    lost = int(run.extra.get("lost") or 0)
    receivers = [sock for sock in over if hist.get(sock, 0) > 0]
    if expected.kind == "none":
        return not receivers
    if expected.kind == "spread":
        return len(receivers) >= 2
    if expected.kind == "single":
        return len(receivers) == 1 and lost == 0 and expected.arg in (None, receivers[0])
    if expected.kind == "each":
        return all(hist.get(sock, 0) == count for sock in over)
    return False


def outcome_matches(expected: Outcome, step: Step, run: StepRun) -> bool:
    """Does the observed outcome satisfy the expected one?  Errnos compare by name."""
    if expected.kind == "any":
        return True
    if expected.kind in ("spread", "single", "each", "none"):
        return run.outcome == "ok" and distribution_matches(expected, run, step.args["over"], step.args["count"])
    if expected.kind == "value":
        return run.outcome == "ok" and run.extra.get("value") == expected.arg
    return run.outcome == str(expected)


def observation_text(observed: Optional[dict[str, Any]]) -> str:
    """A short human reading of an observation (as in results.json), for terminals and JUnit."""
    if observed is None:
        return "(not run)"
    outcome = str(observed.get("outcome"))
    if "histogram" in observed:
        hist = " ".join(f"{sock}={n}" for sock, n in observed["histogram"].items())
        lost = f" lost={observed['lost']}" if observed.get("lost") else ""
        return f"{outcome}: {hist}{lost}" if outcome != "ok" else f"{hist}{lost}"
    if "value" in observed and outcome == "ok":
        return f"ok value={observed['value']}"
    return outcome


def observed_text(run: Optional[StepRun]) -> str:
    return observation_text(None if run is None else {**run.extra, "outcome": run.outcome})


def judge_step(step: Step, ident: Identity, run: Optional[StepRun]) -> StepVerdict:
    rule = resolve(step.expect, ident)
    expected = rule.outcome if rule else None
    ok = bool(rule and run is not None and outcome_matches(rule.outcome, step, run))
    return StepVerdict(step=step, expected=expected, selector=rule.selector if rule else None, observed=run, ok=ok)


def judge(scenario: Scenario, target: str, ident: Identity, run: ScenarioRun) -> ScenarioVerdict:
    """The verdict for one scenario on one target from the agent's observations."""
    observed: list[Optional[StepRun]] = list(run.steps) + [None] * (len(scenario.steps) - len(run.steps))
    steps = [judge_step(step, ident, obs) for step, obs in zip(scenario.steps, observed)]
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
        verdict.reason = "; ".join(mismatch_text(s) for s in verdict.mismatches)
    return verdict


def mismatch_text(sv: StepVerdict) -> str:
    """`step 7 (bind b 127.0.0.1:P): expected EADDRINUSE [linux<3.9], observed ok`."""
    return (
        f"step {sv.step.index} ({sv.step.describe()}) at line {sv.step.pos.line}: "
        f"expected {sv.expected} [{sv.selector}], observed {observed_text(sv.observed)}"
    )


def skipped(scenario: Scenario, target: str, reason: str) -> ScenarioVerdict:
    return ScenarioVerdict(scenario, target, "skipped", reason, [])


def errored(scenario: Scenario, target: str, reason: str) -> ScenarioVerdict:
    return ScenarioVerdict(scenario, target, "error", reason, [])
