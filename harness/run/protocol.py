"""The harness's side of the agent protocol (docs/agent-protocol.md), in one place.

The input document the agent reads, and the decoding of the agent's events
into model data (harness/transport.py cuts its output into events).
The plan carries no expectations: the agent only observes, the harness judges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..model import Identity, Scenario, ScenarioRun, StepRun
from ..transport import ERROR, HELLO, PROTOCOL, AgentError

VERSION = PROTOCOL  # the agent's own constant: one number, written once
IDENTITY_FIELDS = ("system", "release", "version", "family", "machine", "python", "hostname", "netns")


@dataclass(frozen=True)
class RunOptions:
    """How a run is driven; the agent enforces the step and scenario budgets itself,
    so a hung step cannot hang the run, and the harness gives up on a silent agent."""

    jobs: int = 4
    scenario_jobs: int = 0  # scenarios at once on a target, each in its own namespace; 0: one per CPU
    step_timeout_ms: int = 5000
    scenario_timeout_ms: int = 60000
    hello_timeout_s: float = 60.0

    @property
    def idle_timeout_s(self) -> float:
        """How long without a line from the agent before the harness gives up on it."""
        return self.scenario_timeout_ms / 1000 + 15


def scenario_plan(scenario: Scenario) -> dict[str, Any]:
    return {
        "id": scenario.id,
        "actors": {name: {"user": actor.user} for name, actor in scenario.actors.items()},
        "steps": [{"op": step.op, "actor": step.actor, **step.args} for step in scenario.steps],
    }


def agent_input(scenarios: list[Scenario], options: RunOptions, netns: bool) -> dict[str, Any]:
    """The document the agent reads on stdin."""
    return {
        "protocol": VERSION,
        "options": {
            "netns": netns,
            "parallel": options.scenario_jobs,
            "step_timeout_ms": options.step_timeout_ms,
            "scenario_timeout_ms": options.scenario_timeout_ms,
        },
        "scenarios": [scenario_plan(s) for s in scenarios],
    }


def identity_from_hello(event: Optional[dict[str, Any]]) -> Identity:
    if event and event.get("event") == ERROR:  # the agent cannot run here at all, and says why
        raise AgentError(str(event.get("reason")))
    if not event or event.get("event") != HELLO:
        raise AgentError(f"agent did not greet first: {str(event)[:200]}")
    if event.get("protocol") != VERSION:
        raise AgentError(f"agent speaks protocol {event.get('protocol')}, the harness {VERSION}")
    ident = event.get("identity") or {}
    return Identity(**{k: str(ident.get(k, "")) for k in IDENTITY_FIELDS})


def environment(event: dict[str, Any]) -> dict[str, Any]:
    """The kernel settings the agent read (`values`: name -> text or null) and `where` it read them."""
    values = event.get("values")
    return {"where": str(event.get("where", "")),
            "values": {str(k): None if v is None else str(v) for k, v in (values or {}).items()}}


def scenario_run(event: dict[str, Any]) -> ScenarioRun:
    steps = [
        StepRun(outcome=str(s.get("outcome")), ms=float(s.get("ms") or 0),
                extra={k: v for k, v in s.items() if k not in ("outcome", "ms")})
        for s in event.get("steps") or []
    ]
    return ScenarioRun(status=str(event.get("status")), steps=steps, reason=event.get("reason"),
                       ports=event.get("ports") or {}, ms=float(event.get("ms") or 0))
