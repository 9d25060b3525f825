"""The vocabulary of a scenario: one row per operation, option names, addresses.

Like packetdrill's one system-call table, each op is declared once here: its
fields, the outcomes a scenario may expect of it, how a step reads in one
line, and which observed fields tell two targets apart. The loader, the
schema, the verdict, the observation readings and the reports all consult this
table; adding an op is one row here, one `op_<name>` method in the agent, an
example step in each list of every op and a line of docs (docs/extending.md,
whose snippets a test applies and runs).

The agent keeps its own copy of option levels and addresses (it must stay a
single stdlib file); a test checks that both say the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Field:
    """One field of an op.  `kind` is a row of FIELD_KINDS (harness/scenario/fields.py): what the
    field accepts, how the loader checks it, and its JSON Schema form."""

    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    maximum: Optional[int] = None  # for int fields: the largest value a step may use


# Real ranges: what validate accepts must also run (no 30-digit timeout, no 100 GB buffer).
HOUR_MS = 3_600_000


# The outcome kinds an op may expect (besides `any`, which every op takes); how each is written is
# OUTCOME_KINDS in harness/scenario/outcomes.py.
CALL = ("ok", "unsupported", "timeout", "errno")  # a system call: it worked, failed, or waited
DISTRIBUTION = ("spread", "single", "each", "none", "receipts")  # who received a distribute step's traffic


@dataclass(frozen=True)
class Op:
    """Everything the harness knows about one operation."""

    fields: dict[str, Field]
    text: Callable[[dict[str, Any]], str]  # the step after the op name: `a 127.0.0.1:P`
    outcomes: tuple[str, ...] = CALL
    compare: tuple[str, ...] = ()  # observed fields that, with the outcome, tell targets apart
    default_expect: str = "ok"  # the outcome of a step written without `expect`

    @property
    def distributes(self) -> bool:
        """Its observation is a histogram over sockets, judged by who received."""
        return "spread" in self.outcomes


def hostport(addr: Any, port: Any) -> str:
    return f"[{addr}]:{port}" if ":" in str(addr) else f"{addr}:{port}"


def _sock(a: dict[str, Any]) -> str:
    return str(a["sock"])


def _socket(a: dict[str, Any]) -> str:
    """`a`, `a inet6`, `a inet6 v6only=0`: what the reports show of a socket step."""
    v6only = a.get("v6only")
    return " ".join([str(a["sock"])] + ["inet6"] * (a.get("family") == "inet6")
                    + ([f"v6only={int(v6only)}"] if v6only is not None else []))


def _sock_at(a: dict[str, Any]) -> str:
    return f"{a['sock']} {hostport(a['addr'], a['port'])}"


def _option(a: dict[str, Any]) -> str:
    return f"{a['sock']} {a['opt']}" + (f"={a['value']}" if "value" in a else "")


def _sock_flags(a: dict[str, Any]) -> str:
    """`c`, `c flags=fastopen`, `c 127.0.0.1:P flags=fastopen`: a send step and its flags."""
    where = _sock_at(a) if "addr" in a else str(a["sock"])
    return where + (f" flags={','.join(a['flags'])}" if a.get("flags") else "")


def _as_port(a: dict[str, Any]) -> str:
    return f"{a['sock']} as {a['as']}" if a.get("as") else str(a["sock"])


def _poll(a: dict[str, Any]) -> str:
    return f"{a['sock']} {','.join(a['events'])} {a['timeout_ms']}ms"


def _accept(a: dict[str, Any]) -> str:
    listeners = "|".join([str(a["sock"])] + [str(s) for s in a.get("or") or ()])
    return f"{listeners} as {a['as']}" if a.get("as") else listeners


def _connect(a: dict[str, Any]) -> str:
    return _sock_at(a) + (" nowait" if a.get("wait") is False else "")


def _distribute(a: dict[str, Any]) -> str:
    dest = a["to"]
    return f"{a['count']}x {a['type']} to {hostport(dest['addr'], dest['port'])} over {','.join(a['over'])}"


TIMEOUT_MS = Field("int", default=1000, maximum=HOUR_MS)
SOCK = Field("sock", required=True)
ADDR = Field("addr", required=True)
PORT = Field("port", required=True)
# A malformed sockaddr for bad-input tests: the step's address with its family and/or length replaced.
SOCKADDR = Field("sockaddr")
# send/sendto flags by name; the agent maps each to the system's MSG_* number (absent: unsupported).
SEND_FLAGS = Field("flags", default=(), choices=("oob", "dontroute", "dontwait", "nosignal", "more", "eor",
                                                 "fastopen"))
# poll(2) events a step may ask for; POLLERR, POLLHUP and POLLNVAL are reported whether asked or not.
POLL_ASK = ("in", "pri", "out", "rdhup")
POLL_EVENTS = ("in", "pri", "out", "err", "hup", "nval", "rdhup")

OPS: dict[str, Op] = {
    "socket": Op({
        "sock": Field("sock_new", required=True),
        "type": Field("choice", required=True, choices=("tcp", "udp")),
        "family": Field("choice", default="inet", choices=("inet", "inet6")),
        "v6only": Field("bool"),  # IPV6_V6ONLY set right after socket(); omitted: the system's default
        "actor": Field("actor", default="main"),
    }, _socket),
    "setsockopt": Op({
        "sock": SOCK,
        "opt": Field("opt", required=True),
        "value": Field("value", default=1),
        "level": Field("level"),
        "size": Field("int", maximum=256),  # optlen in bytes, to pass a short or long value: the value padded or cut
    }, _option),
    "getsockopt": Op({
        "sock": SOCK,
        "opt": Field("opt", required=True),
        "level": Field("level"),
    }, _option, outcomes=CALL + ("value",), compare=("value",)),
    "bind": Op({
        "sock": SOCK,
        "addr": ADDR,
        "port": PORT,
        "sockaddr": SOCKADDR,
    }, _sock_at),
    "listen": Op({
        "sock": SOCK,
        "backlog": Field("int", default=16, maximum=65535),
    }, lambda a: f"{a['sock']} backlog={a['backlog']}"),
    "connect": Op({
        "sock": SOCK,
        "addr": ADDR,
        "port": PORT,
        "timeout_ms": Field("int", default=2000, maximum=HOUR_MS),
        "wait": Field("bool"),  # false: one non-blocking call, its answer as is (EINPROGRESS); omitted: waited for
        "sockaddr": SOCKADDR,
    }, _connect),
    "accept": Op({
        "sock": SOCK,
        "or": Field("socks"),  # other listeners of the same port: accept from whichever has the connection
        "as": Field("sock_new"),
        "timeout_ms": TIMEOUT_MS,
    }, _accept),
    "send": Op({
        "sock": SOCK,
        "data": Field("text", required=True),
        "timeout_ms": TIMEOUT_MS,
        "flags": SEND_FLAGS,
    }, _sock_flags),
    "recv": Op({
        "sock": SOCK,
        "size": Field("int", default=1024, maximum=16 * 1024 * 1024),
        "timeout_ms": TIMEOUT_MS,
    }, _sock),
    "sendto": Op({
        "sock": SOCK,
        "data": Field("text", required=True),
        "addr": ADDR,
        "port": PORT,
        "timeout_ms": TIMEOUT_MS,
        "flags": SEND_FLAGS,
        "sockaddr": SOCKADDR,
    }, _sock_flags),
    "recvfrom": Op({
        "sock": SOCK,
        "size": Field("int", default=1024, maximum=16 * 1024 * 1024),
        "timeout_ms": TIMEOUT_MS,
    }, _sock),
    "getsockname": Op({
        "sock": SOCK,
        "as": Field("port_new"),  # a port name later steps may use: the port this step read
    }, _as_port, outcomes=CALL + ("port",), compare=("addr", "port_is")),
    "poll": Op({
        "sock": SOCK,
        "events": Field("flags", default=("in",), choices=POLL_ASK),
        "timeout_ms": Field("int", default=0, maximum=HOUR_MS),
    }, _poll, outcomes=CALL + ("events",), compare=("events",)),
    "pending": Op({"sock": SOCK}, _sock, outcomes=CALL + ("value",), compare=("value",)),
    "close": Op({"sock": SOCK}, _sock),
    "shutdown": Op({
        "sock": SOCK,
        "how": Field("choice", default="rdwr", choices=("rd", "wr", "rdwr")),
    }, lambda a: f"{a['sock']} {a['how']}"),
    "sleep": Op({"ms": Field("int", required=True, maximum=HOUR_MS)}, lambda a: f"{a['ms']}ms"),
    "distribute": Op({
        "to": Field("dest", required=True),
        "over": Field("socks", required=True),
        "count": Field("int", default=32, maximum=100_000),
        "type": Field("choice", choices=("tcp", "udp")),
        "timeout_ms": Field("int", default=5000, maximum=HOUR_MS),
    }, _distribute, outcomes=DISTRIBUTION, default_expect="any"),
}

# Fields of a `dest` mapping (distribute's `to:`).
DEST_FIELDS: dict[str, Field] = {"addr": ADDR, "port": PORT}

# Ops the scenario's supervisor runs itself, not an actor (none of them may be in a together: group).
SCENARIO_OPS = ("sleep", "distribute")

# Keys every step may carry besides its op's own fields.
COMMON_STEP_KEYS = ("op", "expect", "note", "if")
# Fields of a `sockaddr` mapping: the family number or name it claims, and the length passed to the call.
SOCKADDR_FAMILIES = ("unspec", "inet", "inet6")

# Option name -> level it lives at (the agent maps both to numbers per OS; a system without the option
# answers `unsupported`). Where each number comes from is said beside the agent's tables.
OPTIONS: dict[str, str] = {
    "SO_REUSEADDR": "SOL_SOCKET",
    "SO_REUSEPORT": "SOL_SOCKET",
    "SO_REUSEPORT_LB": "SOL_SOCKET",  # FreeBSD 12+
    "SO_LINGER": "SOL_SOCKET",
    "SO_RCVBUF": "SOL_SOCKET",
    "SO_SNDBUF": "SOL_SOCKET",
    "SO_KEEPALIVE": "SOL_SOCKET",
    "SO_BROADCAST": "SOL_SOCKET",
    "SO_BINDTODEVICE": "SOL_SOCKET",  # Linux; value: an interface name
    "SO_BINDANY": "SOL_SOCKET",  # OpenBSD
    "IPV6_V6ONLY": "IPPROTO_IPV6",
    "IPV6_BINDANY": "IPPROTO_IPV6",  # FreeBSD
    "IPV6_FREEBIND": "IPPROTO_IPV6",  # Linux 4.15+
    "TCP_NODELAY": "IPPROTO_TCP",
    "IP_ADD_MEMBERSHIP": "IPPROTO_IP",
    "IP_BINDANY": "IPPROTO_IP",  # FreeBSD
    "IP_FREEBIND": "IPPROTO_IP",  # Linux
    "IP_TRANSPARENT": "IPPROTO_IP",  # Linux
    "IP_BIND_ADDRESS_NO_PORT": "IPPROTO_IP",  # Linux 4.2+
    "IP_LOCAL_PORT_RANGE": "IPPROTO_IP",  # Linux 6.3+; value: [low, high] (or the packed high << 16 | low)
    # Options servers set that a port to another system must revisit (issue 25).
    "TCP_KEEPIDLE": "IPPROTO_TCP",
    "TCP_KEEPINTVL": "IPPROTO_TCP",
    "TCP_KEEPCNT": "IPPROTO_TCP",
    "TCP_DEFER_ACCEPT": "IPPROTO_TCP",
    "TCP_FASTOPEN": "IPPROTO_TCP",
    "TCP_USER_TIMEOUT": "IPPROTO_TCP",
    "TCP_QUICKACK": "IPPROTO_TCP",
    "IP_MTU_DISCOVER": "IPPROTO_IP",
    "IPV6_MTU_DISCOVER": "IPPROTO_IPV6",
    "IPV6_MTU": "IPPROTO_IPV6",
}
LEVELS = ("SOL_SOCKET", "IPPROTO_IP", "IPPROTO_IPV6", "IPPROTO_TCP")
# The options only some systems define, and which (elsewhere a step with one is `unsupported`).
OPTION_SYSTEMS: dict[str, tuple[str, ...]] = {
    "SO_REUSEPORT_LB": ("freebsd",),
    "SO_BINDTODEVICE": ("linux",),
    "SO_BINDANY": ("openbsd",),
    "IPV6_BINDANY": ("freebsd",),
    "IPV6_FREEBIND": ("linux",),
    "IP_BINDANY": ("freebsd", "netbsd"),
    "IP_FREEBIND": ("linux",),
    "IP_TRANSPARENT": ("linux",),
    "IP_BIND_ADDRESS_NO_PORT": ("linux",),
    "IP_LOCAL_PORT_RANGE": ("linux",),
}
# Options whose `value` is an IPv4 multicast group address rather than a number.
GROUP_OPTIONS = ("IP_ADD_MEMBERSHIP",)
# Options whose `value` is an interface name (`lo`).
DEVICE_OPTIONS = ("SO_BINDTODEVICE",)
# Options whose `value` is a port range [low, high], packed by the agent as high << 16 | low.
RANGE_OPTIONS = ("IP_LOCAL_PORT_RANGE",)

# Symbolic addresses; the agent resolves them on the target.
ADDRESSES: dict[str, str] = {
    "any": "0.0.0.0",
    "any6": "::",
    "loopback": "127.0.0.1",
    "loopback6": "::1",
    "loopback2": "127.0.0.2",
}


def describe(op: str, args: dict[str, Any]) -> str:
    """`bind a 127.0.0.1:P`: one line for messages and reports."""
    return f"{op} {OPS[op].text(args)}"
