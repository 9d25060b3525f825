"""The one small interface every provider implements (local, emulated, Vagrant...).

A target says whether it can run here and why not, starts the agent somewhere
and hands back an AgentSession: a line-oriented pipe to that agent which the
runner drives the same way whatever carries it (a subprocess, an SSH channel).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from ..model import Identity
from ..transport import END, AgentError, LineReader, parse_event
from ..scenario.selector import parse_system

AGENT_PATH = Path(__file__).resolve().parent.parent / "agent.py"
__all__ = ["AGENT_PATH", "AgentError", "AgentSession", "Availability", "Target", "TargetInfo"]


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""


@dataclass
class TargetInfo:
    """What reports say about a target besides the agent's identity.

    `system` is the system the target stands for (`freebsd 14`): where no
    agent answers, expectations for it are shown, marked as not measured, and
    where none was written the model's prediction, marked as predicted.
    A `reference` target never runs anything: it is such a column by design;
    a `model` target (model://SYSTEM) is one whose every step shows the model's
    prediction.
    """

    name: str
    provider: str
    description: str
    emulated: bool = False
    details: dict[str, Any] = field(default_factory=dict)  # box name, version...
    system: str = ""
    reference: bool = False
    model: bool = False


class AgentSession(ABC):
    """A running agent: first a hello line, then our plan in, then result lines out.

    Transports (a subprocess, an SSH channel) only say how bytes arrive
    (`_read_chunk`); reading lines and events is the same for all of them.
    """

    def __init__(self) -> None:
        self._lines = LineReader(self._read_chunk)
        self.ended = False  # the agent sent its `end` event

    @abstractmethod
    def _read_chunk(self, wait: float) -> Optional[bytes]:
        """Bytes of the agent's stdout that arrive within `wait` s; None if none did; b"" at the end."""

    def read_line(self, timeout: float) -> Optional[str]:
        """The next line of the agent's stdout; None at end of output; AgentError on timeout."""
        return self._lines.read_line(timeout)

    def read_event(self, timeout: float) -> Optional[dict[str, Any]]:
        event = parse_event(self.read_line(timeout))
        self.ended = self.ended or (event is not None and event.get("event") == END)
        return event

    @abstractmethod
    def send(self, data: bytes) -> None:
        """Write the plan to the agent's stdin and close it."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the agent and everything it started; safe from any thread.

        The thread reading the session then sees end of output and closes it.
        """

    @abstractmethod
    def close(self) -> int:
        """Kill if still running, reap, release; its exit status.  Only the reading thread calls it."""

    @abstractmethod
    def stderr_tail(self, limit: int = 2000) -> str:
        """The end of what the agent wrote to stderr, for error messages."""


class Target(ABC):
    """A place scenarios run: knows if it is usable here and how to start the agent."""

    info: TargetInfo
    on_phase: Callable[[str], None] = staticmethod(lambda text: None)  # the runner points it at the display

    def phase(self, text: str) -> None:
        """Say what slow step is under way (box, boot, ssh...)."""
        self.on_phase(text)

    @property
    def name(self) -> str:
        return self.info.name

    @abstractmethod
    def availability(self) -> Availability:
        """Cheap check, no side effects: can this target run on this machine now?"""

    def prepare(self) -> Availability:
        """Work that may be slow but decides availability (fetching a box); after availability()."""
        return Availability(True)

    @abstractmethod
    def launch(self, needs_root: bool = False) -> AgentSession:
        """Start the agent (as root when asked); raises AgentError if it cannot be started."""

    def release(self, ok: bool, interrupted: bool = False) -> None:
        """After the run on this target (ok: every scenario passed); e.g. destroy a VM."""

    def abort(self) -> None:
        """Ctrl-C while preparing or launching: stop what is in flight, from any thread."""

    @property
    def opt_in(self) -> bool:
        """Opt-in targets are never part of `--targets all`."""
        return False

    def describe(self) -> dict[str, str]:
        """Provider facts for `harness targets` (box, state...), asked only of available targets; may be slow."""
        return {}

    def identity(self, observed: Identity) -> Identity:
        """The identity selectors see; emulated targets override the observed one."""
        return observed

    def declared(self) -> Optional[Identity]:
        """The system this target stands for, for expectations where no agent answered."""
        if not self.info.system:
            return None
        return Identity.of_system(*parse_system(self.info.system))

    def skip_reason(self, avail: Availability) -> str:
        """Why its scenarios are skipped when it cannot run."""
        return f"target unavailable: {avail.reason}"

    def netns(self) -> bool:
        """Whether the agent should isolate each scenario in a network namespace."""
        return False
