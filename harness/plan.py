"""Turn loaded scenarios into the agent's input document (docs/agent-protocol.md).

The plan carries no expectations: the agent only observes, the harness judges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Scenario

PROTOCOL = 1


@dataclass(frozen=True)
class RunOptions:
    """Limits the agent enforces itself, so a hung step cannot hang the run."""

    netns: bool = False
    step_timeout_ms: int = 5000
    scenario_timeout_ms: int = 60000


def scenario_plan(scenario: Scenario) -> dict[str, Any]:
    return {
        "id": scenario.id,
        "actors": {name: {"user": actor.user} for name, actor in scenario.actors.items()},
        "steps": [{"op": step.op, "actor": step.actor, **step.args} for step in scenario.steps],
    }


def agent_input(scenarios: list[Scenario], options: RunOptions) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL,
        "options": {
            "netns": options.netns,
            "step_timeout_ms": options.step_timeout_ms,
            "scenario_timeout_ms": options.scenario_timeout_ms,
        },
        "scenarios": [scenario_plan(s) for s in scenarios],
    }
