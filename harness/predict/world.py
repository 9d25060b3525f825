"""What the model remembers between steps: sockets and the kernel's other PCBs, ports, time, users.

A `Sock` is anything that holds a port in a kernel's tables: a socket a step made, a connection a
listener accepted (named by `accept ... as`, or not yet accepted), the other end of a connection,
an orphan closing or in TIME_WAIT. Kernels keep their own extra facts (reuseport groups, fast-path
records) in their own fields of `Sock.k` and `World.k`; this module only holds what every kernel
family shares. Ports are symbols: a name (`P`), a number written in the scenario, or `~N` for one
the kernel picked (never equal to a named one). Plain data, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Union

from .addrs import Addr

Port = Union[str, int]

# Socket states, as far as the rules need them. DROPPED: still open, but the kernel has let go of its
# protocol state (NetBSD frees the PCB of a refused or reset TCP connection: it is in no table).
NEW, BOUND, LISTEN, CONNECTED, ORPHAN, TIME_WAIT = "new", "bound", "listening", "connected", "orphan", "time_wait"
DROPPED = "dropped"


@dataclass(eq=False)
class Sock:
    id: int
    name: Optional[str]  # the agent's name for it; None: nobody can name it (orphan, unaccepted, replaced)
    actor: str
    uid: Union[int, str]  # 0 root, 65534 nobody, "self": the invoking user (root or not: unknown)
    type: str  # tcp | udp
    family: str  # inet | inet6
    v6only: bool = False
    opts: dict[str, int] = field(default_factory=dict)  # option name -> value as last set
    addr: Optional[Addr] = None  # local address, once it has a port
    port: Optional[Port] = None
    explicit: bool = False  # the port came from bind(), not from an autobind
    state: str = NEW
    peer: Optional[tuple[Addr, Port]] = None
    seq: int = 0  # when it entered its port's tables (bind, autobind, accept): larger is newer
    # TCP connections: the other end, what arrived, the listener's queue.
    other: Optional["Sock"] = None
    fin_in: bool = False  # the peer sent FIN: recv reads end of file
    reset_in: bool = False  # the peer sent RST
    unread: int = 0  # bytes arrived and not read
    queue: list["Sock"] = field(default_factory=list)  # a listener's connections not yet accepted
    listener: Optional["Sock"] = None  # a connection waiting in this listener's queue
    expires: Optional[int] = None  # TIME_WAIT: the clock (ms) at which it goes away
    shut: set[str] = field(default_factory=set)  # rd, wr
    k: dict[str, Any] = field(default_factory=dict)  # kernel-specific facts

    def opt(self, name: str) -> int:
        return self.opts.get(name, 0)

    def on(self, name: str) -> bool:
        return bool(self.opts.get(name, 0))

    @property
    def alive(self) -> bool:
        return self.port is not None or self.state != NEW or self.name is not None

    def __repr__(self) -> str:
        return f"<{self.name or '#%d' % self.id} {self.type}/{self.family} {self.addr}:{self.port} {self.state}>"


@dataclass
class World:
    """Every socket and PCB, by creation; the agent's names; the clock; what the model lost track of."""

    socks: list[Sock] = field(default_factory=list)
    names: dict[str, Sock] = field(default_factory=dict)
    clock: int = 0  # ms since the scenario started (sleep steps; other steps count as instant)
    ports: dict[str, int] = field(default_factory=dict)  # concrete numbers of named ports, where known
    seq: int = 0
    ephemeral: int = 0
    unsure_socks: set[int] = field(default_factory=set)  # sockets whose state the model no longer knows
    unsure_ports: set[tuple[str, Port]] = field(default_factory=set)  # (type, port) likewise
    k: dict[str, Any] = field(default_factory=dict)  # kernel-specific facts

    def new_sock(self, **kw: Any) -> Sock:
        sock = Sock(id=len(self.socks) + 1, **kw)
        self.socks.append(sock)
        return sock

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def ephemeral_port(self) -> Port:
        """A port the kernel picks: distinct from every named port and every other pick."""
        self.ephemeral += 1
        return f"~{self.ephemeral}"

    def on_port(self, type_: str, port: Port) -> Iterator[Sock]:
        """Every PCB holding `port` for the protocol, newest first (the order BSD port chains keep)."""
        held = [s for s in self.socks if s.type == type_ and s.port == port and s.state != "gone"]
        return iter(sorted(held, key=lambda s: -s.seq))

    def remove(self, sock: Sock) -> None:
        """It leaves every table (closed for good)."""
        sock.state = "gone"
        sock.port = None
        if sock.name is not None and self.names.get(sock.name) is sock:
            del self.names[sock.name]
        sock.name = None
        if sock.listener is not None and sock in sock.listener.queue:
            sock.listener.queue.remove(sock)
        sock.listener = None

    def reset(self, sock: Sock) -> None:
        """`sock`'s peer sent RST: it reads ECONNRESET; a closing orphan or TIME_WAIT entry goes away."""
        sock.reset_in, sock.other = True, None
        if sock.state in (ORPHAN, TIME_WAIT):
            self.remove(sock)

    def unsure(self, sock: Optional[Sock] = None, port: Optional[tuple[str, Port]] = None) -> None:
        if sock is not None:
            self.unsure_socks.add(sock.id)
        if port is not None:
            self.unsure_ports.add(port)

    def is_unsure(self, sock: Optional[Sock] = None, port: Optional[tuple[str, Port]] = None) -> bool:
        return (sock is not None and sock.id in self.unsure_socks) or (port is not None and port in self.unsure_ports)
