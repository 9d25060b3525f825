"""What the generator knows about a sequence while drawing it: its sockets and what was done to them.

Only what the calls say, never what a kernel answered (a bind that will fail
still counts as bound): enough to draw calls that are valid and likely to meet
(sockets sharing a port, a listener to connect to). Read from the op table by
field kind; the few ops whose effect the draft tracks are named in EFFECTS.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional

from ..scenario.ops import OPS
from .sequence import Call

# Ops whose effect on their socket the draft records, by effect.
EFFECTS = {"bind": "bound", "listen": "listening", "connect": "connected", "close": "closed"}


@dataclass
class Sock:
    name: str
    type: str
    family: str
    actor: str
    done: list[str] = field(default_factory=list)  # ops applied to it, in order
    options: list[str] = field(default_factory=list)  # options a step named on it
    local: Optional[tuple[str, Any]] = None  # (addr, port) of its bind
    v6only: Optional[bool] = None  # as its socket step set it (None: the system's default)

    def has(self, effect: str) -> bool:
        return any(EFFECTS.get(op) == effect for op in self.done)

    @property
    def open(self) -> bool:
        return not self.has("closed")


@dataclass
class Draft:
    socks: dict[str, Sock] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    used: dict[tuple[str, str], list[Any]] = field(default_factory=lambda: defaultdict(list))  # (op, field) -> values

    @property
    def open(self) -> list[Sock]:
        return [s for s in self.socks.values() if s.open]

    def on_port(self, port: Any) -> list[Sock]:
        """Open sockets bound to the port."""
        return [s for s in self.open if s.local and s.local[1] == port]

    def shared_ports(self) -> list[Any]:
        """Ports two or more open sockets are bound to."""
        ports = [s.local[1] for s in self.open if s.local]
        return sorted({p for p in ports if ports.count(p) > 1}, key=str)

    def add(self, call: Call) -> None:
        """Record a call: the sockets it defines, what it did to the sockets it names."""
        self.calls.append(call)
        args = call.fields
        for name, value in args.items():
            self.used[(call.op, name)].append(value)
        owner = self.socks.get(args.get("sock", ""))
        for name in call.defines():
            self.socks[name] = Sock(name, args.get("type") or (owner.type if owner else "tcp"),
                                    args.get("family") or (owner.family if owner else "inet"),
                                    args.get("actor") or (owner.actor if owner else "main"), v6only=args.get("v6only"))
        fields = OPS[call.op].fields
        for name, fld in fields.items():
            sock = self.socks.get(args.get(name, "")) if fld.kind == "sock" else None
            if sock is None:
                continue
            sock.done.append(call.op)
            sock.options += [args[n] for n, f in fields.items() if f.kind == "opt" and n in args]
            if EFFECTS.get(call.op) == "bound":
                sock.local = (args.get("addr"), args.get("port"))
