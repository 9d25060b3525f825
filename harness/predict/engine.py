"""Stepping a scenario through a kernel model: one Prediction per step, with the rules that decided it.

What the agent does around the kernel is the same for every system and lives here: socket names
(a name nobody opened is EBADF), the option table (a name the agent has no number for on the system
is `unsupported`), a variant's IPV6_V6ONLY set right after socket(), sleep, which sockets a
distribute step counts. Once a step is `unknown`, what it touched (its socket, its port) is no
longer known either, and later steps that depend on it are `unknown` too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

from ..agent import OPTION_TABLES
from ..model import Scenario, Step
from ..scenario.ops import OPTIONS
from .addrs import NotAnAddress, client_family, resolve
from .kernel import Answer, Dest, Kernel, Unknown
from .rulebook import RULES, rules
from .systems import System
from .world import Port, Sock, World

AGENT = "harness/agent.py"
ASSUMES = "assumes the ports the kernel picked for"
rules("agent", [
    ("A1", "a step on a socket name its actor has not opened (never, or closed since): the agent answers "
           "EBADF; where the step that should have made it failed, the harness reports the step as never run",
     "verified", ("harness", AGENT, "Actor.sock", ""), ("harness", "harness/judge/chances.py", "missed", "")),
    ("A2", "an option the agent has no number for on the system: unsupported, before any system call",
     "verified", ("harness", AGENT, "Actor.option, OPTION_TABLES", "")),
    ("A3", "errnos are reported by the name each system documents: EOPNOTSUPP, EAGAIN, EDEADLK where an "
           "alias (ENOTSUP, EWOULDBLOCK, EDEADLOCK) shares the number; an expectation names either", "verified",
     ("harness", AGENT, "errno_name, CANONICAL_ERRNOS", ""), ("harness", "harness/errnos.py", "canonical, same", "")),
    ("A4", "a variant's socket step sets IPV6_V6ONLY right after socket(); if the kernel refuses, the step "
           "fails with that errno and no socket is left", "verified", ("harness", AGENT, "Actor.op_socket", "")),
    ("A5", "sleep waits and succeeds; TIME_WAIT entries whose time is up go away meanwhile", "verified",
     ("harness", AGENT, "Supervisor.run_step", "")),
    ("A6", "distribute: one connection (TCP) or datagram (UDP) per fresh client socket, each from its own "
           "port; what reaches a socket outside `over` is lost", "verified",
     ("harness", AGENT, "Supervisor.distribute, connect_clients, send_datagrams", "")),
    ("A8", "distribute's receive loop also accepts (and resets) connections already waiting in the queue of a "
           "listener of `over`; they are not the step's own, so they are not counted", "verified",
     ("harness", AGENT, "Actor.serve_distribute, Actor.drain, Tally.fold", "")),
    ("A9", "connect with `wait: false` reports the one non-blocking call: EINPROGRESS for a TCP connection "
           "under way (it then completes, or fails, as a waited one would)", "verified",
     ("harness", AGENT, "Actor.op_connect", "")),
    ("A10", "accept with `or:` takes the connection from whichever of the listeners has one, the step's own "
            "first; only the step's own listener's errors are the step's", "verified",
     ("harness", AGENT, "accept_any", "")),
    ("A7", "connections a hash spreads over k sockets are predicted `spread` when the chance that all n land "
           "on one, k*k^-n, is below one in a million (n >= 21 for k = 2); fewer are unknown", "verified",
     ("harness", "harness/predict/shapes.py", "distribution", "")),
])


@dataclass(frozen=True)
class Prediction:
    """One step's predicted outcome (`unknown` where no rule decides) and the rules behind it."""

    outcome: str
    rules: tuple[str, ...] = ()
    why: str = ""

    @property
    def known(self) -> bool:
        return self.outcome != "unknown"

    def record(self) -> dict[str, Any]:
        """As results.json and `harness predict --json` hold it: every rule with its source."""
        out: dict[str, Any] = {"outcome": self.outcome, "rules": [RULES[r].record() for r in self.rules]}
        if self.why:
            out["why"] = self.why
        return out


def beyond_the_model(scenario: Scenario, st: Step) -> str:
    """Why no rule can decide this step, for what the model leaves out (docs/model.md): issue 26's reading
    of bound ports and readiness, bytes pending, send flags, malformed addresses, kernel settings other than
    the defaults, and steps racing in a together group."""
    if not hasattr(Run, f"_op_{st.op}"):
        return f"the model has no rules for {st.op}"
    if scenario.sysctl:
        return f"the model knows each system's default settings, not this scenario's sysctl: ({', '.join(scenario.sysctl)})"
    if st.group is not None:
        return "steps of a together group race one another; the model follows one step at a time"
    if st.args.get("sockaddr"):
        return "the model has no rules for a malformed sockaddr"
    if st.args.get("flags"):
        return "the model has no rules for send flags"
    return ""


class Run:
    """One scenario on one system's model."""

    def __init__(self, scenario: Scenario, system: System, ports: Optional[dict[str, int]] = None) -> None:
        self.scenario = scenario
        self.system = system
        self.kernel: Kernel = system.kernel()
        self.world = World(ports=dict(ports or {}))
        self.table = OPTION_TABLES.get(system.family, {})
        root = any(actor.user for actor in scenario.actors.values())
        self.uids = {name: (0 if (root and not a.user) or a.user == "root" else a.user or "self")
                     for name, a in scenario.actors.items()}
        self.maybe_names: set[str] = set()  # names an unknown accept may or may not have given

    def predictions(self) -> list[Prediction]:
        return [self.step(st) for st in self.scenario.steps]

    def step(self, st: Step) -> Prediction:
        try:
            answer = self._dispatch(st)
        except Unknown as exc:
            self._lost_track(st)
            return Prediction("unknown", exc.rules, exc.why)
        except NotAnAddress as exc:
            self._lost_track(st)
            return Prediction("unknown", (), f"{exc} (the agent's resolver fails, not the kernel)")
        return Prediction(answer.outcome, answer.rules, answer.why or self._assumption(st))

    def _assumption(self, st: Step) -> str:
        """A named port meets sockets whose ports the kernel picked: the prediction assumes they differ (the
        agent picks named ports from the same ephemeral range, so they may coincide, about 1 in 14,000)."""
        if st.op not in ("bind", "connect", "sendto", "distribute"):
            return ""
        port = self._port(st.args["to"]["port"] if st.op == "distribute" else st.args["port"])
        if not isinstance(port, str):
            return ""
        picked = sorted({s.name or f"#{s.id}" for s in self.world.socks
                         if isinstance(s.port, str) and s.port.startswith("~") and s.state != "gone"})
        return f"{ASSUMES} {', '.join(picked)} are not {port} (rule L13)" if picked else ""

    # -- what a step touches, and what the model no longer knows --------------------------------
    def _touches(self, st: Step) -> tuple[list[str], list[tuple[str, Port]]]:
        a = st.args
        names = ([a["sock"]] + list(a.get("or") or [])) if "sock" in a else list(a.get("over") or [])
        socks = [self.world.names[n] for n in names if n in self.world.names]
        ports = [(s.type, s.port) for s in socks if s.port is not None]
        if st.op in ("bind", "connect", "sendto"):
            ports += [(s.type, self._port(a["port"])) for s in socks]
        if st.op == "distribute":
            ports.append((self._type(a), self._port(a["to"]["port"])))
        return names, ports

    def _lost_track(self, st: Step) -> None:
        names, ports = self._touches(st)
        for name in names:
            sock = self.world.names.get(name)
            if sock is not None:
                self.world.unsure(sock)
        if st.op == "accept" and st.args.get("as"):
            self.maybe_names.add(st.args["as"])
        if st.op == "getsockname" and st.args.get("as"):  # a port name whose number the model does not know
            for type_ in ("tcp", "udp"):
                self.world.unsure(port=(type_, st.args["as"]))
        for port in ports:
            self.world.unsure(port=port)

    def _check_known(self, st: Step) -> None:
        names, ports = self._touches(st)
        if st.op == "close":  # closing a socket that exists succeeds whatever its state
            ports = []
        for name in names:
            sock = self.world.names.get(name)
            if name in self.maybe_names or (sock is not None and self.world.is_unsure(sock)):
                if st.op == "close" and name not in self.maybe_names:
                    continue
                raise Unknown(f"an earlier unknown step left socket {name} in a state the model does not know")
        for port in ports:
            if self.world.is_unsure(port=port):
                raise Unknown(f"an earlier unknown step left port {port[1]} in a state the model does not know")

    # -- the ops -------------------------------------------------------------------------------------
    def _port(self, port: Union[str, int]) -> Port:
        return int(port) if isinstance(port, str) and port.isdigit() else port

    def _type(self, a: dict[str, Any]) -> str:
        first = self.world.names.get(a["over"][0]) if a.get("over") else None
        return a.get("type") or (first.type if first is not None else "tcp")

    def _sock(self, name: str) -> Sock:
        sock = self.world.names.get(name)
        if sock is None:
            raise _Refused(Answer.of("EBADF", "A1"))
        return sock

    def _dispatch(self, st: Step) -> Answer:
        if self.kernel.unsupported:
            raise Unknown(self.kernel.unsupported)
        unmodelled = beyond_the_model(self.scenario, st)
        if unmodelled:
            raise Unknown(unmodelled)
        self._check_known(st)
        try:
            return getattr(self, f"_op_{st.op}")(st, st.args)
        except _Refused as refused:
            return refused.answer

    def _op_socket(self, st: Step, a: dict[str, Any]) -> Answer:
        w = self.world
        sock = w.new_sock(name=None, actor=st.actor, uid=self.uids.get(st.actor, "self"), type=a["type"],
                          family=a["family"], v6only=False)
        self._defaults(sock)
        answer = self.kernel.socket(w, sock)
        if answer.outcome == "ok" and a.get("v6only") is not None and a["family"] == "inet6":
            answer = self.kernel.setsockopt(w, sock, "IPV6_V6ONLY", int(a["v6only"]), None)
            answer = Answer(answer.outcome, ("A4",) + answer.rules, answer.why)
        if answer.outcome != "ok":
            w.remove(sock)
            return answer
        old = w.names.get(a["sock"])
        if old is not None:
            old.name = None  # the agent keeps a replaced socket open, nameless
        sock.name = a["sock"]
        w.names[a["sock"]] = sock
        self.maybe_names.discard(a["sock"])
        return answer

    def _defaults(self, sock: Sock) -> None:
        if sock.family == "inet6":
            sock.v6only = self.kernel.v6only_default() if hasattr(self.kernel, "v6only_default") else False

    def _option(self, opt: str) -> Optional[Answer]:
        level = OPTIONS.get(opt, "SOL_SOCKET")
        if self.table.get(opt) is None or self.table.get(level) is None:
            return Answer.of("unsupported", "A2")
        return None

    def _op_setsockopt(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        keep = a["opt"] in ("IP_ADD_MEMBERSHIP", "SO_LINGER")  # SO_LINGER false (off) is not 0 (RST)
        value = a["value"] if keep else int(a["value"])
        return self._option(a["opt"]) or self.kernel.setsockopt(self.world, sock, a["opt"], value, a.get("level"))

    def _op_getsockopt(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        return self._option(a["opt"]) or self.kernel.getsockopt(self.world, sock, a["opt"], a.get("level"))

    def _op_bind(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        return self.kernel.bind(self.world, sock, resolve(a["addr"], sock.family), self._port(a["port"]))

    def _op_listen(self, st: Step, a: dict[str, Any]) -> Answer:
        return self.kernel.listen(self.world, self._sock(a["sock"]), a["backlog"])

    def _dest(self, addr: str, port: Union[str, int], family: str) -> Dest:
        resolved = resolve(addr, family)
        return Dest(resolved, self._port(port), "inet" if resolved.v4 is not None else "inet6")

    def _op_connect(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        answer = self.kernel.connect(self.world, sock, self._dest(a["addr"], a["port"], sock.family))
        if a.get("wait") is not False or sock.type != "tcp" or answer.outcome not in ("ok", "ECONNREFUSED", "timeout"):
            return answer
        if answer.outcome != "ok":
            self.world.unsure(sock)  # the refusal waits in SO_ERROR for whatever call comes next
        return Answer("EINPROGRESS", answer.rules + ("A9",), answer.why)

    def _op_accept(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        others = [self._sock(name) for name in a.get("or") or ()]
        answer, child = self.kernel.accept(self.world, sock, others)
        if child is not None:
            child.actor = st.actor
            name = a.get("as")
            if name:
                old = self.world.names.get(name)
                if old is not None:
                    old.name = None
                child.name = name
                self.world.names[name] = child
                self.maybe_names.discard(name)
        return answer

    def _op_send(self, st: Step, a: dict[str, Any]) -> Answer:
        return self.kernel.send(self.world, self._sock(a["sock"]), len(a["data"].encode("utf-8")))

    def _op_recv(self, st: Step, a: dict[str, Any]) -> Answer:
        return self.kernel.recv(self.world, self._sock(a["sock"]))

    _op_recvfrom = _op_recv

    def _op_sendto(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        return self.kernel.sendto(self.world, sock, self._dest(a["addr"], a["port"], sock.family),
                                  len(a["data"].encode("utf-8")))

    def _op_shutdown(self, st: Step, a: dict[str, Any]) -> Answer:
        return self.kernel.shutdown(self.world, self._sock(a["sock"]), a["how"])

    def _op_close(self, st: Step, a: dict[str, Any]) -> Answer:
        sock = self._sock(a["sock"])
        unsure = self.world.is_unsure(sock) or (sock.port is not None and self.world.is_unsure(port=(sock.type, sock.port)))
        answer = self.kernel.close(self.world, sock) if not unsure else Answer.of("ok", self.kernel.rule_close)
        if unsure and sock.port is not None:
            self.world.unsure(port=(sock.type, sock.port))
            self.world.remove(sock)
        if self.world.names.get(a["sock"]) is sock:
            del self.world.names[a["sock"]]
        sock.name = None
        return answer

    def _op_sleep(self, st: Step, a: dict[str, Any]) -> Answer:
        self.world.clock += int(a["ms"])
        self.kernel.tick(self.world)
        return Answer.of("ok", "A5")

    def _op_distribute(self, st: Step, a: dict[str, Any]) -> Answer:
        over = [(name, self.world.names.get(name)) for name in a["over"]]
        dest = self._dest(a["to"]["addr"], a["to"]["port"], client_family(a["to"]["addr"]))
        return self.kernel.distribute(self.world, dest, over, int(a["count"]), self._type(a))


class _Refused(Exception):
    """The agent answers before the kernel is asked (EBADF for an unknown name)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def predict(scenario: Scenario, system: System, ports: Optional[dict[str, int]] = None) -> list[Prediction]:
    """Every step's prediction for `system`; `ports` (the numbers a run gave named ports) where the
    answer depends on them (NetBSD's port hash, rule N-9)."""
    return Run(scenario, system, ports).predictions()
