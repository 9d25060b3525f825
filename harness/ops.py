"""The vocabulary of a scenario: operations, their fields, option names, addresses.

One table drives the loader's validation, the defaults the plan fills in and the
docs, so the three cannot drift apart.  The agent keeps its own copy of the
option numbers (it must stay a single stdlib file); only names live here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Field:
    """One field of an op.  `kind` names the validator the loader applies."""

    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()


# Field kinds:
#   sock_new  a socket name this step defines      sock     a socket defined earlier
#   socks     a non-empty list of earlier sockets  actor    a declared actor name
#   choice    one of `choices`                     int      a non-negative integer
#   value     int or bool (or, for IP_ADD_MEMBERSHIP, a group address)
#   text      a string                             addr     symbolic or literal address
#   port      a number or a symbolic port name     opt      a known socket option name
#   level     a known option level name            dest     a mapping {addr, port}
TIMEOUT_MS = Field("int", default=1000)

OPS: dict[str, dict[str, Field]] = {
    "socket": {
        "sock": Field("sock_new", required=True),
        "type": Field("choice", required=True, choices=("tcp", "udp")),
        "family": Field("choice", default="inet", choices=("inet", "inet6")),
        "actor": Field("actor", default="main"),
    },
    "setsockopt": {
        "sock": Field("sock", required=True),
        "opt": Field("opt", required=True),
        "value": Field("value", default=1),
        "level": Field("level"),
    },
    "getsockopt": {
        "sock": Field("sock", required=True),
        "opt": Field("opt", required=True),
        "level": Field("level"),
    },
    "bind": {
        "sock": Field("sock", required=True),
        "addr": Field("addr", required=True),
        "port": Field("port", required=True),
    },
    "listen": {
        "sock": Field("sock", required=True),
        "backlog": Field("int", default=16),
    },
    "connect": {
        "sock": Field("sock", required=True),
        "addr": Field("addr", required=True),
        "port": Field("port", required=True),
        "timeout_ms": Field("int", default=2000),
    },
    "accept": {
        "sock": Field("sock", required=True),
        "as": Field("sock_new"),
        "timeout_ms": TIMEOUT_MS,
    },
    "send": {
        "sock": Field("sock", required=True),
        "data": Field("text", required=True),
        "timeout_ms": TIMEOUT_MS,
    },
    "recv": {
        "sock": Field("sock", required=True),
        "size": Field("int", default=1024),
        "timeout_ms": TIMEOUT_MS,
    },
    "sendto": {
        "sock": Field("sock", required=True),
        "data": Field("text", required=True),
        "addr": Field("addr", required=True),
        "port": Field("port", required=True),
        "timeout_ms": TIMEOUT_MS,
    },
    "recvfrom": {
        "sock": Field("sock", required=True),
        "size": Field("int", default=1024),
        "timeout_ms": TIMEOUT_MS,
    },
    "close": {"sock": Field("sock", required=True)},
    "shutdown": {
        "sock": Field("sock", required=True),
        "how": Field("choice", default="rdwr", choices=("rd", "wr", "rdwr")),
    },
    "sleep": {"ms": Field("int", required=True)},
    "distribute": {
        "to": Field("dest", required=True),
        "over": Field("socks", required=True),
        "count": Field("int", default=32),
        "type": Field("choice", choices=("tcp", "udp")),
        "timeout_ms": Field("int", default=5000),
    },
}

# Fields of a `dest` mapping (distribute's `to:`).
DEST_FIELDS: dict[str, Field] = {
    "addr": Field("addr", required=True),
    "port": Field("port", required=True),
}

# Keys every step may carry besides its op's own fields.
COMMON_STEP_KEYS = ("op", "expect", "note")

# Option name -> level it lives at (the agent maps both to numbers per OS).
OPTIONS: dict[str, str] = {
    "SO_REUSEADDR": "SOL_SOCKET",
    "SO_REUSEPORT": "SOL_SOCKET",
    "SO_REUSEPORT_LB": "SOL_SOCKET",
    "SO_LINGER": "SOL_SOCKET",
    "SO_RCVBUF": "SOL_SOCKET",
    "SO_SNDBUF": "SOL_SOCKET",
    "SO_KEEPALIVE": "SOL_SOCKET",
    "SO_BROADCAST": "SOL_SOCKET",
    "IPV6_V6ONLY": "IPPROTO_IPV6",
    "TCP_NODELAY": "IPPROTO_TCP",
    "IP_ADD_MEMBERSHIP": "IPPROTO_IP",
}
LEVELS = ("SOL_SOCKET", "IPPROTO_IP", "IPPROTO_IPV6", "IPPROTO_TCP")
# Options whose `value` is an IPv4 multicast group address rather than a number.
GROUP_OPTIONS = ("IP_ADD_MEMBERSHIP",)

# Symbolic addresses; the agent resolves them on the target.
ADDRESSES: dict[str, str] = {
    "any": "0.0.0.0",
    "any6": "::",
    "loopback": "127.0.0.1",
    "loopback6": "::1",
    "loopback2": "127.0.0.2",
}

# Outcomes a distribute step may expect, besides `any`.
DISTRIBUTE_OUTCOMES = ("spread", "single", "each", "none")
# Outcomes any other step may expect, besides errno names and `any`.
PLAIN_OUTCOMES = ("ok", "unsupported", "timeout")


def field_default(op: str, name: str) -> Optional[Any]:
    """The value a step gets for an omitted optional field."""
    return OPS[op][name].default
