"""The harness's side of the agent protocol (docs/agent-protocol.md), in one place.

The version, the input document the agent reads, the line reader every
transport uses, and the decoding of the agent's JSON lines into model data.
The plan carries no expectations: the agent only observes, the harness judges.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..model import Identity, Scenario, ScenarioRun, StepRun

VERSION = 3
IDENTITY_FIELDS = ("system", "release", "version", "family", "machine", "python", "hostname", "netns")


class AgentError(Exception):
    """The agent or its transport failed: an infrastructure error, never behaviour."""


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


class LineReader:
    """Lines out of a byte stream, whatever carries it (a pipe, an SSH channel).

    `read_chunk(wait)` returns the bytes that arrived within `wait` seconds,
    None if none did, or b"" at end of stream.
    """

    def __init__(self, read_chunk: Callable[[float], Optional[bytes]]) -> None:
        self._read_chunk = read_chunk
        self._buffer = b""
        self.eof = False

    def read_line(self, timeout: float) -> Optional[str]:
        """The next line (a last one without newline too); None at end of stream; AgentError on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self.eof:
                line, self._buffer = self._buffer, b""
                return line.decode("utf-8", "replace") if line else None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentError(f"agent produced no output for {timeout:.0f} s")
            chunk = self._read_chunk(remaining)
            if chunk is not None:
                self.eof = not chunk
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")


def parse_event(line: Optional[str]) -> Optional[dict[str, Any]]:
    """One of the agent's lines as an event; None at end of output."""
    if line is None:
        return None
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise AgentError(f"agent wrote a line that is not JSON ({exc}): {line[:200]!r}") from None
    if not isinstance(event, dict) or "event" not in event:
        raise AgentError(f"agent wrote an unexpected line: {line[:200]!r}")
    return event


def identity_from_hello(event: Optional[dict[str, Any]]) -> Identity:
    if not event or event.get("event") != "hello":
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
