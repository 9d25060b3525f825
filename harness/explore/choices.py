"""How the generator draws a value for each kind of field: one chooser per row of FIELD_KINDS.

A new op is explorable as it is: its fields are drawn by kind. The tables
below only tune the draw towards what makes kernels differ: a small space of
ports and addresses (so that binds collide), the address-sharing options,
values that read back differently. A chooser returns a value, OMIT (leave an
optional field out: its default applies) or IMPOSSIBLE (no valid value now:
the op is not drawn at this point of the sequence).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ..scenario import ops
from .draft import Draft, Sock

OMIT = object()
IMPOSSIBLE = object()

OTHER_ACTOR, OTHER_USER = "other", "nobody"  # another user's actor (nobody: every Unix has one)
PORTS = {"P": 3, "Q": 1}  # two symbolic ports, P mostly: binds meet
GROUP = "239.1.2.3"  # the multicast group of IP_ADD_MEMBERSHIP
# Addresses a socket of each family may bind or reach: inet6 sockets also take IPv4-mapped ones.
ADDRESSES = {
    "inet": {"loopback": 4, "any": 4, "loopback2": 1},
    "inet6": {"any6": 3, "loopback6": 2, "::ffff:127.0.0.1": 2, "::ffff:0.0.0.0": 1},
}
# The address a client reaches a socket bound to each address by (distribute's `to`).
REACHED_BY = {"any": "loopback", "any6": "loopback6", "::ffff:127.0.0.1": "loopback", "::ffff:0.0.0.0": "loopback"}
MAPPED_BY_DEFAULT = 0.15  # weight of an IPv4-mapped address on a socket that left IPV6_V6ONLY to the system
# How often an optional field is written (by field name); any other optional field keeps its default.
SET_OPTIONAL = {"family": 1.0, "how": 1.0, "v6only": 0.3, "as": 0.7, "actor": 0.12, "value": 1.0, "timeout_ms": 1.0}
# A field drawn only where its step's other fields allow it.
WHEN: dict[str, Callable[[Mapping[str, Any]], bool]] = {"v6only": lambda args: args.get("family") == "inet6"}
CHOICE_WEIGHTS = {"type": {"tcp": 3, "udp": 1}, "family": {"inet": 3, "inet6": 2}}
# How often a field repeats a value the sequence already used for it: sockets of one type, on one
# address, with the same option set meet (0.8 for a choice field not named here, 0 for other kinds).
KEEP = {"type": 0.85, "family": 0.7, "opt": 0.7, "addr": 0.35}
OPTION_WEIGHTS = {"SO_REUSEADDR": 8, "SO_REUSEPORT": 8, "SO_REUSEPORT_LB": 1, "IPV6_V6ONLY": 1.5, "SO_LINGER": 1.5,
                  "SO_RCVBUF": 0.7, "SO_SNDBUF": 0.5, "SO_KEEPALIVE": 0.3, "SO_BROADCAST": 0.3, "TCP_NODELAY": 0.7,
                  "IP_ADD_MEMBERSHIP": 0.3}
NEW_OPTION_WEIGHT = 0.25  # an option of the table not named here (TCP_KEEPIDLE, IPV6_MTU...)
# Which sockets an option is drawn for: by its level (a TCP option for TCP sockets...), and by name.
LEVEL_FITS: dict[str, Callable[[Sock], bool]] = {
    "IPPROTO_TCP": lambda s: s.type == "tcp",
    "IPPROTO_IPV6": lambda s: s.family == "inet6",
    "IPPROTO_IP": lambda s: s.family == "inet",
}
OPTION_FITS: dict[str, Callable[[Sock], bool]] = {
    "IP_ADD_MEMBERSHIP": lambda s: s.type == "udp",
    "SO_BROADCAST": lambda s: s.type == "udp",
}


def fits(option: str, sock: Sock) -> bool:
    return (LEVEL_FITS.get(ops.OPTIONS[option], lambda s: True)(sock)
            and OPTION_FITS.get(option, lambda s: True)(sock))
READ_BACK = 0.6  # getsockopt (any op with an opt field) reads an option the socket already set
OPTION_VALUES = {"SO_LINGER": {0: 1, 1: 1}, "SO_RCVBUF": {4096: 1, 65536: 1}, "SO_SNDBUF": {4096: 1, 65536: 1},
                 "IP_ADD_MEMBERSHIP": {GROUP: 1}}
FLAG_VALUES = {1: 9, 0: 1}
# Integers by field name (and op): short waits, so that a dropped SYN costs little; one sleep that
# outlasts NetBSD's TIME_WAIT on 127.0.0.1 (2 s, tcp_msl_loop) and none of Linux's (60 s).
INTS: dict[str, Any] = {"timeout_ms": {"connect": 300, "distribute": 500, "": 100}, "ms": {10: 3, 2500: 1}}
# Which sockets an op would rather act on (six times as likely); others take any open socket.
PREFER: dict[str, Callable[[Sock], bool]] = {
    "setsockopt": lambda s: not s.has("bound") and not s.options,
    "bind": lambda s: not s.has("bound"),
    "listen": lambda s: s.type == "tcp" and not s.has("listening"),
    "accept": lambda s: s.has("listening"),
    "connect": lambda s: not s.has("listening") and not s.has("connected"),
    "shutdown": lambda s: s.has("listening") or s.has("connected"),
    "send": lambda s: s.has("connected"),
    "recv": lambda s: s.has("connected"),
    "sendto": lambda s: s.type == "udp",
    "recvfrom": lambda s: s.type == "udp" and s.has("bound"),
    "getsockopt": lambda s: bool(s.options),
}


@dataclass
class Pick:
    """What a chooser may consult: the draw, the sequence so far, and this step's fields drawn so far."""

    rng: random.Random
    draft: Draft
    op: str
    name: str
    fld: ops.Field
    args: dict[str, Any]
    options: Optional[frozenset] = None  # the options this sequence may set (its profile's), None: all

    def weighted(self, table: Mapping[Any, float]) -> Any:
        keys = list(table)
        return self.rng.choices(keys, weights=[table[k] for k in keys])[0] if keys else IMPOSSIBLE

    def sock(self) -> Optional[Sock]:
        """The socket this step acts on, if drawn already."""
        return self.draft.socks.get(self.args.get("sock", ""))

    def again(self, value: Any, allowed: Optional[Mapping[Any, float]] = None) -> Any:
        """A value the sequence already used for this field of this op (one of `allowed`), as often
        as KEEP says, else `value`."""
        before = [v for v in self.draft.used.get((self.op, self.name), ()) if allowed is None or allowed.get(v)]
        keep = KEEP.get(self.name, 0.8 if self.fld.kind == "choice" else 0.0)
        return self.rng.choice(before) if before and self.rng.random() < keep else value


def _sock_new(p: Pick) -> Any:
    return f"s{len(p.draft.socks)}"


def _sock(p: Pick) -> Any:
    candidates = p.draft.open
    prefer = PREFER.get(p.op, lambda s: True)
    return p.weighted({s.name: 6 if prefer(s) else 1 for s in candidates})


def _socks(p: Pick) -> Any:
    """The open sockets of one type bound to the port the step sends to: everyone who could receive."""
    port = (p.args.get("to") or {}).get("port")
    on_port = p.draft.on_port(port)
    by_type = {t: [s.name for s in on_port if s.type == t] for t in ("tcp", "udp")}
    best = max(by_type.values(), key=len)
    return best or IMPOSSIBLE


def _dest(p: Pick) -> Any:
    """A bound socket's address as a client reaches it, preferring a port that several sockets share."""
    shared = p.draft.shared_ports()
    bound = [s for s in p.draft.open if s.local and (not shared or s.local[1] in shared)]
    if not bound:
        return IMPOSSIBLE
    addr, port = p.rng.choice(bound).local
    return {"addr": REACHED_BY.get(addr, addr), "port": port}


def _actor(p: Pick) -> Any:
    return OTHER_ACTOR


def _choice(p: Pick) -> Any:
    weights = CHOICE_WEIGHTS.get(p.name, {})
    value = p.again(p.weighted({c: weights.get(c, 1) for c in p.fld.choices}))
    return OMIT if value == p.fld.default else value


def _int(p: Pick) -> Any:
    table = INTS.get(p.name)
    if isinstance(table, dict) and "" in table:
        return table.get(p.op, table[""])
    if table:
        return p.weighted(table)
    return OMIT if not p.fld.required else (p.fld.default if p.fld.default is not None else 1)


def _bool(p: Pick) -> Any:
    return p.rng.random() < 0.5


def _value(p: Pick) -> Any:
    value = p.weighted(OPTION_VALUES.get(p.args.get("opt"), FLAG_VALUES))
    return OMIT if value == p.fld.default else value


def _text(p: Pick) -> Any:
    return "x"


def _addr(p: Pick) -> Any:
    sock = p.sock()
    table = ADDRESSES["inet6" if sock and sock.family == "inet6" else "inet"]
    if sock and sock.family == "inet6" and sock.v6only is not False:
        # mapped addresses need IPV6_V6ONLY off: rarely where the system's default decides, never where it is on
        table = {a: w * (0 if sock.v6only else MAPPED_BY_DEFAULT) if a.startswith("::ffff:") else w
                 for a, w in table.items()}
    if sock and set(sock.options) & set(ops.GROUP_OPTIONS) and p.rng.random() < 0.5:
        return GROUP  # a socket that joined the group binds it, or sends to it
    return p.again(p.weighted(table), table)


def _port(p: Pick) -> Any:
    return p.weighted(PORTS)


def _opt(p: Pick) -> Any:
    sock = p.sock()
    if sock and sock.options and p.op != "setsockopt" and p.rng.random() < READ_BACK:
        return p.rng.choice(sock.options)
    table = {o: OPTION_WEIGHTS.get(o, NEW_OPTION_WEIGHT) for o in ops.OPTIONS
             if (sock is None or fits(o, sock)) and (p.options is None or o in p.options)}
    return p.again(p.weighted(table), table)


def _omitted(p: Pick) -> Any:
    return OMIT


def _flags(p: Pick) -> Any:
    return [p.rng.choice(p.fld.choices)]  # one flag at a time: a difference names its flag


Chooser = Callable[[Pick], Any]
CHOOSERS: dict[str, Chooser] = {
    "sock_new": _sock_new, "sock": _sock, "socks": _socks, "actor": _actor, "choice": _choice, "int": _int,
    "bool": _bool, "value": _value, "text": _text, "addr": _addr, "port": _port, "opt": _opt,
    "level": _omitted,  # each option's own level: the agent knows it
    "dest": _dest,
    "port_new": _omitted,  # its ports are P and Q: a sequence names no port it reads (getsockname's as:)
    "flags": _flags,
    "sockaddr": _omitted,  # a malformed address tests bad input, not how kernels share addresses
}


def draw(p: Pick) -> Any:
    """A value for the field, OMIT or IMPOSSIBLE: an optional field is written only as often as
    SET_OPTIONAL says, and only where WHEN allows."""
    if not WHEN.get(p.name, lambda args: True)(p.args):
        return OMIT
    if not p.fld.required and p.rng.random() >= SET_OPTIONAL.get(p.name, 0.0):
        return OMIT
    return CHOOSERS[p.fld.kind](p)
