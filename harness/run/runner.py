"""Drive targets: start each agent, send the plan, judge results as they stream in.

Side effects stay here and in the targets; judging is verdict.py's pure code.
Targets run side by side (up to `jobs` at once); a target whose agent fails
gets `error` verdicts and the others carry on.
"""
from __future__ import annotations

import json
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Optional

from ..judge.verdict import errored, judge, not_applicable, skipped
from ..model import Identity, Scenario, ScenarioVerdict
from ..targets.base import AgentSession, Target
from ..transport import END, ENVIRONMENT, SCENARIO, AgentError
from .protocol import RunOptions, agent_input, environment, identity_from_hello, scenario_run

END_WAIT_S = 10.0  # for the agent's `end` after its last result (it is sent straight after)


class Listener:
    """What the runner reports as it goes; the CLI shows it, tests may record it."""

    def target_started(self, target: Target, total: int) -> None: ...

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None: ...

    def target_phase(self, target: Target, text: str) -> None: ...

    def target_environment(self, target: Target, environment: dict[str, Any]) -> None: ...

    def verdict(self, verdict: ScenarioVerdict) -> None: ...

    def target_finished(self, target: Target) -> None: ...


class Broadcast(Listener):
    """Hands every event to each listener in turn (console, results file...)."""

    def __init__(self, listeners: list[Listener]) -> None:
        self.listeners = listeners

    def target_started(self, target: Target, total: int) -> None:
        for listener in self.listeners:
            listener.target_started(target, total)

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        for listener in self.listeners:
            listener.target_ready(target, ident, reason)

    def target_phase(self, target: Target, text: str) -> None:
        for listener in self.listeners:
            listener.target_phase(target, text)

    def target_environment(self, target: Target, environment: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener.target_environment(target, environment)

    def verdict(self, verdict: ScenarioVerdict) -> None:
        for listener in self.listeners:
            listener.verdict(verdict)

    def target_finished(self, target: Target) -> None:
        for listener in self.listeners:
            listener.target_finished(target)


class Runner:
    """One run of many scenarios over many targets."""

    def __init__(self, scenarios: list[Scenario], config: RunOptions, listeners: list[Listener]) -> None:
        self.scenarios = scenarios
        self.config = config
        self.listener = Broadcast(listeners)
        self.verdicts: list[ScenarioVerdict] = []
        self.stopping = threading.Event()
        self._sessions: set[AgentSession] = set()
        self._active: set[Target] = set()
        self._lock = threading.Lock()
        self.identities: dict[str, Optional[Identity]] = {}

    def _emit(self, verdict: ScenarioVerdict) -> None:
        if not self.stopping.is_set():  # after Ctrl-C only what finished is recorded
            with self._lock:
                self.verdicts.append(verdict)
            self.listener.verdict(verdict)

    def run(self, targets: list[Target]) -> None:
        """Run every target; on KeyboardInterrupt stop all agents, then re-raise."""
        pool = ThreadPoolExecutor(max_workers=max(1, self.config.jobs), thread_name_prefix="target")
        futures = [pool.submit(self.run_target, t) for t in targets]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()
        except BaseException:
            self.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def stop(self) -> None:
        """Kill every running agent (and its scenario processes)."""
        self.stopping.set()
        with self._lock:
            sessions, active = list(self._sessions), list(self._active)
        for session in sessions:
            session.kill()
        for target in active:
            target.abort()

    def run_target(self, target: Target) -> None:
        if self.stopping.is_set():
            return
        self.listener.target_started(target, len(self.scenarios))
        target.on_phase = lambda text: self.listener.target_phase(target, text)
        with self._lock:
            self._active.add(target)
        ok = False
        try:
            avail = target.availability()
            if avail.available and not self.stopping.is_set():
                avail = target.prepare()
            if not avail.available:
                self.identities[target.name] = None
                self.listener.target_ready(target, None, avail.reason)
                declared = target.declared()
                for sc in self.scenarios:
                    # A scenario the declared system could not run at all (only:, a variant it lacks)
                    # says so, rather than showing expectations for it.
                    why = not_applicable(sc, declared) if declared else None
                    verdict = skipped(sc, target.name, why or target.skip_reason(avail), None if why else declared)
                    if declared and not why:
                        from ..predict.attach import predicted  # the model: loaded only where no kernel answers

                        verdict = predicted(verdict, declared, target.info.model)
                    self._emit(verdict)
                return
            ok = self._run_agent(target)
        finally:
            with self._lock:
                self._active.discard(target)
            target.release(ok, interrupted=self.stopping.is_set())
            self.listener.target_finished(target)

    def _run_agent(self, target: Target) -> bool:
        """Run every scenario on the target; True if each one passed or was skipped."""
        pending: dict[str, Scenario] = {sc.id: sc for sc in self.scenarios}
        reason: Optional[str] = None
        needs_root = any(actor.user for sc in self.scenarios for actor in sc.actors.values())
        try:
            session = target.launch(needs_root)
        except AgentError as exc:
            self.listener.target_ready(target, None, str(exc))
            for sc in self.scenarios:
                self._emit(errored(sc, target.name, str(exc), target.declared()))
            return False
        with self._lock:
            self._sessions.add(session)
        try:
            ident = target.identity(identity_from_hello(session.read_event(self.config.hello_timeout_s)))
            self.identities[target.name] = ident
            self.listener.target_ready(target, ident, None)
            for sc in self.scenarios:
                why = not_applicable(sc, ident)
                if why:
                    del pending[sc.id]
                    self._emit(skipped(sc, target.name, why, ident))
            plan = agent_input(list(pending.values()), self.config, netns=target.netns())
            session.send(json.dumps(plan).encode("utf-8"))
            self._collect(session, target, ident, pending)
        except AgentError as exc:
            reason = str(exc)
        finally:
            status = session.close()
            with self._lock:
                self._sessions.discard(session)
        if pending:
            tail = session.stderr_tail()
            why = reason or f"agent exited with status {status} before finishing"
            why += f"; agent stderr: {tail}" if tail else ""
            for sc in pending.values():
                self._emit(errored(sc, target.name, why, self.identities.get(target.name) or target.declared()))
            return False
        return all(v.verdict in ("pass", "skipped") for v in self.verdicts if v.target == target.name)

    def _collect(self, session: AgentSession, target: Target, ident: Identity, pending: dict[str, Scenario]) -> None:
        """Every pending scenario's result, then the agent's `end`, which follows the last one at once:
        a session closed before it came would take the agent for stuck and kill it (a second lost on a VM)."""
        while True:
            event = session.read_event(self.config.idle_timeout_s if pending else END_WAIT_S)
            if event is None or event.get("event") == END:
                return
            if event.get("event") == ENVIRONMENT:
                self.listener.target_environment(target, environment(event))
                continue
            if event.get("event") != SCENARIO or event.get("id") not in pending:
                raise AgentError(f"agent sent an unexpected event: {str(event)[:200]}")
            sc = pending.pop(event["id"])
            self._emit(judge(sc, target.name, ident, scenario_run(event)))
