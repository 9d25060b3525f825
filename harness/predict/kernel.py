"""What a kernel model is: one handler per op, each returning the outcome and the rules that decided it.

A handler reads and updates the World. Where no rule the model holds decides the step (an option
the notes never read, a version whose code nobody read, a number the kernel picks), it raises
`Unknown` with the reason, and the step is predicted `unknown`: never a guess.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from .addrs import Addr
from .world import ORPHAN, TIME_WAIT, Port, Sock, World


class Unknown(Exception):
    """No rule decides this step; `why` says what the model does not know."""

    def __init__(self, why: str, rules: Sequence[str] = ()) -> None:
        super().__init__(why)
        self.why = why
        self.rules = tuple(rules)


@dataclass(frozen=True)
class Answer:
    """A predicted outcome as a scenario writes it (`ok`, `EADDRINUSE`, `value=512`, `single:s3`...)."""

    outcome: str
    rules: tuple[str, ...] = ()
    why: str = ""  # what else a reader should know (an assumption the prediction rests on)

    @classmethod
    def of(cls, outcome: str, *rules: str, why: str = "") -> "Answer":
        return cls(outcome, tuple(rules), why)


@dataclass(frozen=True)
class Dest:
    """Where a connect, sendto or distribute goes: the address as the agent resolves it, and the port."""

    addr: Addr
    port: Port
    family: str  # the family of the packets (an AF_INET6 socket sending to ::ffff:x speaks IPv4)


def linger_rst(s: Sock) -> bool:
    """SO_LINGER set on with 0 seconds: close sends RST (the agent writes `false` as l_onoff=0, a number n as
    l_onoff=1, l_linger=n)."""
    value = s.opts.get("SO_LINGER")
    return value is not None and value is not False and int(value) == 0


def linger_value(s: Sock) -> int:
    """What getsockopt(SO_LINGER) reads back as the harness's `value`: l_linger, 0 when off."""
    value = s.opts.get("SO_LINGER")
    return 0 if value is None or value is False else int(value)


def take_connection(listeners: list[Sock]) -> Optional[Sock]:
    """The connection an accept gets from these listeners, the step's own first (the agent's accept_any), or
    None if none waits; Unknown where a SO_REUSEPORT group may have given it to a listener not among them."""
    queued = list({id(c): c for L in listeners for c in L.queue}.values())
    if not queued:
        return None
    maybe = [c for c in queued if c.k.get("maybe")]
    if maybe:
        ours = {id(L) for L in listeners}
        if len(queued) > 1 or not all(id(m) in ours for m in maybe[0].k["maybe"]):
            raise Unknown("a connection a SO_REUSEPORT group gave to one of its listeners, not known which (L35), "
                          "waits beside others or maybe elsewhere")
        child = queued[0]
    else:
        child = next(L.queue[0] for L in listeners if L.queue)
    for L in listeners:
        if child in L.queue:
            L.queue.remove(child)
    for L in child.k.pop("maybe", ()):
        if child in L.queue:
            L.queue.remove(child)
    child.listener = None
    return child


class Kernel:
    """One system family at one version. Subclasses implement the ops their notes cover."""

    family = ""
    label = ""
    unsupported = ""  # why no step of this version can be predicted (its code was not read), if so
    rule_socket = "B0"
    rule_close = "B8"  # close() of an open socket returns 0, whatever it leaves behind

    name = ""  # how reports name the system (FreeBSD, macOS...)
    oldest: tuple[int, ...] = ()  # the oldest version whose code was read: older ones are unknown

    def __init__(self, version: tuple[int, ...]) -> None:
        self.version = version
        self.label = f"{self.name} {'.'.join(map(str, version))}"
        if self.oldest and self.before(*self.oldest):
            self.unsupported = f"{self.name} before {'.'.join(map(str, self.oldest))} was not read"

    def since(self, *version: int) -> bool:
        """Is this kernel at least `version` (missing components count as 0, as selectors compare)?"""
        width = max(len(self.version), len(version))
        pad = lambda v: tuple(v) + (0,) * (width - len(v))  # noqa: E731
        return pad(self.version) >= pad(version)

    def before(self, *version: int) -> bool:
        return not self.since(*version)

    # -- the ops ---------------------------------------------------------------------------------
    def socket(self, w: World, s: Sock) -> Answer:
        return Answer.of("ok", self.rule_socket)

    def setsockopt(self, w: World, s: Sock, opt: str, value: int, level: Optional[str]) -> Answer:
        raise Unknown(f"setsockopt {opt} is not modelled for {self.label}")

    def getsockopt(self, w: World, s: Sock, opt: str, level: Optional[str]) -> Answer:
        raise Unknown(f"getsockopt {opt} is not modelled for {self.label}")

    def bind(self, w: World, s: Sock, addr: Addr, port: Port) -> Answer:
        raise Unknown(f"bind is not modelled for {self.label}")

    def listen(self, w: World, s: Sock, backlog: int) -> Answer:
        raise Unknown(f"listen is not modelled for {self.label}")

    def connect(self, w: World, s: Sock, dest: Dest) -> Answer:
        raise Unknown(f"connect is not modelled for {self.label}")

    def accept(self, w: World, s: Sock, others: list[Sock]) -> tuple[Answer, Optional[Sock]]:
        """accept on `s`, or with `or:` on whichever of `others` has a connection (rule A10)."""
        raise Unknown(f"accept is not modelled for {self.label}")

    def send(self, w: World, s: Sock, size: int) -> Answer:
        raise Unknown(f"send is not modelled for {self.label}")

    def recv(self, w: World, s: Sock) -> Answer:
        raise Unknown(f"recv is not modelled for {self.label}")

    def sendto(self, w: World, s: Sock, dest: Dest, size: int) -> Answer:
        raise Unknown(f"sendto is not modelled for {self.label}")

    def shutdown(self, w: World, s: Sock, how: str) -> Answer:
        raise Unknown(f"shutdown is not modelled for {self.label}")

    def close(self, w: World, s: Sock) -> Answer:
        raise Unknown(f"close is not modelled for {self.label}")

    def distribute(self, w: World, dest: Dest, over: list[Optional[Sock]], count: int, type_: str) -> Answer:
        raise Unknown(f"distribute is not modelled for {self.label}")

    # -- closing a TCP connection: the same state machine everywhere (L33, B8) ---------------------
    def close_connection(self, w: World, s: Sock, rst: bool) -> Answer:
        """RST (nothing stays), passive close (this end goes; the peer's orphan enters TIME_WAIT), or active
        close (this end stays as an orphan until the peer closes)."""
        other = s.other
        if s.reset_in or other is None:
            w.remove(s)
        elif rst:
            w.reset(other)
            w.remove(s)
        elif s.fin_in:
            w.remove(s)
            if other.state == ORPHAN:
                return self.time_wait(w, other)
            w.unsure(other)  # an open socket that shut down its sending side receives FIN: not modelled
        else:
            other.fin_in = True
            s.state, s.name, s.expires = ORPHAN, None, self.orphan_expires(w)
        return Answer.of("ok", self.rule_close)

    def orphan_expires(self, w: World) -> Optional[int]:
        """When an orphan whose peer never closes goes away (None: it stays for the scenario)."""
        return None

    def time_wait(self, w: World, s: Sock) -> Answer:
        """The active closer's end enters TIME_WAIT for the system's time; unknown time: its port is unsure."""
        ms, rule = self.time_wait_ms(s)
        s.other = None
        if ms is None:
            w.unsure(port=(s.type, s.port))
            w.remove(s)
            return Answer.of("ok", self.rule_close)
        if ms == 0:
            w.remove(s)
        else:
            s.state, s.expires = TIME_WAIT, w.clock + ms
        return Answer.of("ok", self.rule_close, rule)

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        return None, ""

    def tick(self, w: World) -> None:
        """Time passed (a sleep step): TIME_WAIT entries whose time is up go away."""
        for s in list(w.socks):
            if s.expires is not None and s.expires <= w.clock:
                w.remove(s)
