"""The targets of an exploration, and running a batch of scenarios on all of them through the Runner.

An exploration runs many batches; each is an ordinary run (every target side by
side, scenarios side by side where the target allows), but a target is
prepared once and released once, at the end (a VM is not booted per batch),
and named as the command line counts it: `--targets local,local` gives
`local` and `local@2`, two agents of one kernel.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from ..model import Identity, Scenario, ScenarioVerdict
from ..run.protocol import RunOptions
from ..run.runner import Listener, Runner
from ..targets.base import AgentSession, Availability, Target


class Kept(Target):
    """A target held for a whole exploration: prepared once, released by `finish`, under its own name."""

    def __init__(self, inner: Target, name: str) -> None:
        self.inner = inner
        self.info = replace(inner.info, name=name)
        self._avail: Optional[Availability] = None
        self._prepared: Optional[Availability] = None
        inner.on_phase = lambda text: self.on_phase(text)

    def availability(self) -> Availability:
        if self._avail is None:
            self._avail = self.inner.availability()
        return self._avail

    def prepare(self) -> Availability:
        if self._prepared is None:
            self._prepared = self.inner.prepare()
        return self._prepared

    def launch(self, needs_root: bool = False) -> AgentSession:
        return self.inner.launch(needs_root)

    def release(self, ok: bool, interrupted: bool = False) -> None:
        """After each batch: nothing (see finish)."""

    def finish(self, interrupted: bool) -> None:
        """After the exploration. Its scenarios carry no expectations, so `ok` says only that it ran."""
        if self._prepared is not None:
            self.inner.release(True, interrupted)

    def abort(self) -> None:
        self.inner.abort()

    def identity(self, observed: Identity) -> Identity:
        return self.inner.identity(observed)

    def declared(self) -> Optional[Identity]:
        return self.inner.declared()

    def skip_reason(self, avail: Availability) -> str:
        return self.inner.skip_reason(avail)

    def netns(self) -> bool:
        return self.inner.netns()


def kept(targets: list[Target]) -> list[Kept]:
    """Each target under the name the command line counts it by: the second `local` is `local@2`."""
    seen: dict[str, int] = {}
    out = []
    for target in targets:
        seen[target.name] = seen.get(target.name, 0) + 1
        count = seen[target.name]
        out.append(Kept(target, target.name if count == 1 else f"{target.name}@{count}"))
    return out


Results = dict[str, dict[str, ScenarioVerdict]]  # scenario id -> target name -> verdict


class Bench:
    """Runs batches on every target; remembers each target's identity and the runner to stop on Ctrl-C."""

    def __init__(self, targets: list[Kept], config: RunOptions, listeners: list[Listener] = ()) -> None:
        self.targets = targets
        self.config = config
        self.listeners = list(listeners)
        self.identities: dict[str, Optional[Identity]] = {}
        self.runs = 0  # batches run
        self.scenarios = 0  # scenarios run on every target

    def run(self, scenarios: list[Scenario]) -> Results:
        """Every scenario on every target; KeyboardInterrupt stops the agents and propagates."""
        runner = Runner(scenarios, self.config, self.listeners)
        runner.run(list(self.targets))
        self.identities.update({k: v for k, v in runner.identities.items() if v is not None or k not in
                                self.identities})
        self.runs += 1
        self.scenarios += len(scenarios)
        found = {(v.scenario.id, v.target): v for v in runner.verdicts}
        return {sc.id: {t.name: found[sc.id, t.name] for t in self.targets if (sc.id, t.name) in found}
                for sc in scenarios}

    def identity(self, target: str) -> Optional[Identity]:
        """What the target is, as its agent said (or, where none answered, the system it stands for)."""
        found = self.identities.get(target)
        if found is not None:
            return found
        return next((t.declared() for t in self.targets if t.name == target), None)

    def finish(self, interrupted: bool) -> None:
        for target in self.targets:
            target.finish(interrupted)
