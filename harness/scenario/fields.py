"""The kinds of field a step may have: each kind's check and its JSON Schema form, in one table.

An op's row (harness/scenario/ops.py) gives each field a kind; this table says
what a kind accepts, so the loader and the schema editors use cannot disagree:
`FIELD_KINDS[kind].check` reads a field's YAML node (recording problems at
file:line:column) and `FIELD_KINDS[kind].schema(field)` is what a schema-aware
editor is told. A new kind is one row here.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Union

from yaml.nodes import Node, ScalarNode, SequenceNode

from ..model import Actor, Pos
from . import ops
from .expand import REFERENCE_SCHEMA, Binding
from .variants import SYMBOLIC, Family
from .yamlfile import Pairs, YamlFile, at, given, is_int, show, unknown_name

IDENT = re.compile(r"[A-Za-z0-9_.-]+")  # socket and actor names: no ':', see single:<sock>
PORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ALLOWED_NETS = "127.0.0.0/8, ::1, 0.0.0.0, :: or a multicast group"
INT32 = (-2**31, 2**31 - 1)  # setsockopt values are C ints (or 32-bit words, as IP_LOCAL_PORT_RANGE's)
UINT32 = 2**32 - 1
DEVICE = re.compile(r"[A-Za-z0-9_.:-]{1,15}")  # an interface name: IFNAMSIZ is 16 with its NUL


@dataclass
class SockInfo:
    type: Optional[str]
    actor: str
    pos: Pos


@dataclass
class StepContext:
    """What a field validator may consult: the actors and the sockets defined by earlier steps
    (a step may only use what precedes it), and in `args` the step's fields checked so far."""

    f: YamlFile
    actors: dict[str, Actor]
    socks: dict[str, SockInfo]
    binding: Binding = field(default_factory=dict)  # this combination's parameters
    family: Optional[Family] = None  # the address-family variant being read, if any
    skips: list[str] = field(default_factory=list)  # why this variant cannot run anywhere
    op: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, Pos] = field(default_factory=dict)  # port names used so far -> where first
    obtained: dict[str, Pos] = field(default_factory=dict)  # port names a getsockname step read -> where


def read_fields(c: StepContext, node: Node, pairs: Pairs, table: dict[str, ops.Field], what: str, into: dict) -> dict:
    """Check each field in table order (so `value` and `level` can consult `opt`), filling in defaults."""
    for name, fld in table.items():
        value = given(pairs, name)
        if value is None and fld.required:
            c.f.problem(node, f"{what} is missing required field {name!r}")
        into[name] = fld.default if value is None else FIELD_KINDS[fld.kind].check(c, name, value, fld)
    return into


def _v_sock_new(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    sock = c.f.string(node, "socket name", IDENT)
    if sock in c.socks:
        c.f.problem(node, f"socket {sock!r} is already defined (at {at(c.socks[sock].pos)})")
    return sock


def _v_sock(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    sock = c.f.string(node, "socket name", IDENT)
    if sock is not None and sock not in c.socks:  # returned all the same: single:<sock> checks the names written
        c.f.problem(node, f"undefined socket {sock!r} (defined so far: {', '.join(c.socks) or 'none'})")
    return sock


def _v_socks(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[list]:
    if not isinstance(node, SequenceNode) or not node.value:
        return c.f.problem(node, f"{name} must be a non-empty list of sockets, not {show(node)}")
    socks = [_v_sock(c, name, item, fld) for item in node.value]
    for i, item in enumerate(node.value):
        if socks[i] is not None and socks[i] in socks[:i]:
            c.f.problem(item, f"socket {socks[i]!r} is listed twice in {name}")
    return socks


def _one_of(c: StepContext, node: Node, what: str, known: Iterable[str], complaint: Callable[[str], str]) -> Optional[str]:
    """A string that must be one of `known`; otherwise the complaint about it is the problem."""
    text = c.f.string(node, what)
    if text is None or text in known:
        return text
    return c.f.problem(node, complaint(text))


def _v_actor(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    return _one_of(c, node, name, c.actors,
                   lambda actor: f"actor {actor!r} is not declared in actors: (declared: {', '.join(c.actors)})")


def _v_choice(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    return _one_of(c, node, name, fld.choices,
                   lambda text: f"{name} must be one of {', '.join(fld.choices)}, not {text!r}")


def _v_int(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[int]:
    value = c.f.scalar(node)
    if is_int(value) and 0 <= value <= (fld.maximum if fld.maximum is not None else value):
        return value
    most = f" up to {fld.maximum}" if fld.maximum is not None else ""
    return c.f.problem(node, f"{name} must be a non-negative integer{most}, not {show(node)}")


def _v_value(c: StepContext, name: str, node: Node, fld: ops.Field) -> Any:
    """An int or bool (as 0/1); a group for IP_ADD_MEMBERSHIP, an interface name for SO_BINDTODEVICE,
    a port range [low, high] (or its packed number) for IP_LOCAL_PORT_RANGE."""
    opt = c.args.get("opt")
    if opt in ops.GROUP_OPTIONS:
        ip = _ip(node.value) if isinstance(node, ScalarNode) else None
        if ip is not None and ip.version == 4 and ip.is_multicast:
            return node.value
        return c.f.problem(node, f"{name} of {opt} must be an IPv4 multicast group such as 239.1.2.3, "
                                 f"not {show(node)}")
    if opt in ops.DEVICE_OPTIONS:
        return c.f.string(node, f"{name} of {opt} (an interface name such as lo)", DEVICE)
    if opt in ops.RANGE_OPTIONS and isinstance(node, SequenceNode):
        pair = [c.f.scalar(item) for item in node.value]
        if len(pair) == 2 and all(is_int(p) and 0 <= p <= 65535 for p in pair):
            return pair
        return c.f.problem(node, f"{name} of {opt} must be [low, high], two ports 0..65535, not {show(node)}")
    value = c.f.scalar(node)
    if isinstance(value, bool) or (is_int(value) and INT32[0] <= value <= UINT32):
        return int(value)
    return c.f.problem(node, f"{name} must be a boolean or an integer that fits 32 bits "
                             f"({INT32[0]}..{UINT32}), not {show(node)}")


def _v_text(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    return c.f.string(node, name)


def _v_addr(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    """Symbolic, or a literal IP the harness may touch: it runs on real machines, never beyond loopback."""
    text = c.f.string(node, name)
    if c.family is not None and text is not None:
        return _variant_addr(c, node, text)
    if text is None or text in ops.ADDRESSES:
        return text
    ip = _ip(text)
    if ip is None:
        symbolic = ", ".join(ops.ADDRESSES)
        return c.f.problem(node, f"{name} {text!r} is neither a symbolic address ({symbolic}) nor an IP address")
    ip = getattr(ip, "ipv4_mapped", None) or ip
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
        return text
    return c.f.problem(node, f"{name} {text} is outside what a scenario may use ({ALLOWED_NETS})")


def _variant_addr(c: StepContext, node: Node, text: str) -> Optional[str]:
    """A symbolic IPv4 address as the variant has it (an IPv4 group only in inet); an address the
    variant lacks makes the scenario skipped everywhere, with the reason."""
    family = c.family
    assert family is not None
    ip = _ip(text)
    if ip is not None and ip.version == 4 and ip.is_multicast:
        reason = family.ipv4_only(f"the IPv4 multicast group {text}")
        c.skips += [reason] if reason else []
        return text
    if text not in SYMBOLIC:
        return c.f.problem(node, f"a scenario with families: writes the IPv4 symbolic addresses "
                                 f"({', '.join(SYMBOLIC)}), which each family translates; not {text!r}")
    translated = family.address(text, client=c.op == "distribute")
    if translated is None:
        c.skips.append(family.missing[text])
    return translated or text


def _ip(text: str) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address, None]:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _v_port(c: StepContext, name: str, node: Node, fld: ops.Field) -> Union[int, str, None]:
    """A number, or a name: allocated when the scenario starts, or read by an earlier getsockname `as:`.
    A quoted number (`"8080"`) is that number, as YAML users expect."""
    value = c.f.scalar(node)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if is_int(value) and 0 <= value <= 65535:
        return value
    if isinstance(value, str) and PORT_NAME.fullmatch(value):
        c.ports.setdefault(value, c.f.pos(node))
        return value
    return c.f.problem(node, f"{name} must be a number 0..65535 or a symbolic name such as P, not {show(node)}")


def _v_port_new(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    """A port name this step defines from what it reads: no earlier step may have used or read it."""
    port = c.f.string(node, "port name", PORT_NAME)
    if port in c.obtained:
        return c.f.problem(node, f"port {port!r} is already read by an earlier step (at {at(c.obtained[port])})")
    if port in c.ports:
        return c.f.problem(node, f"port {port!r} is already used at {at(c.ports[port])}, where the scenario "
                                 "allocates it; a port a step reads needs a name of its own")
    if port is not None:
        c.obtained[port] = c.f.pos(node)
        c.ports[port] = c.f.pos(node)
    return port


def _v_flags(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[tuple]:
    """A list of the field's choices, each once (a single name stands for a list of one)."""
    items = node.value if isinstance(node, SequenceNode) else [node]
    out: list[str] = []
    for item in items:
        flag = _one_of(c, item, name, fld.choices,
                       lambda text: f"{name} must be among {', '.join(fld.choices)}, not {text!r}")
        if flag is not None and flag in out:
            c.f.problem(item, f"{flag} is listed twice in {name}")
        elif flag is not None:
            out.append(flag)
    return tuple(out)


def _v_sockaddr(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[dict]:
    """`{family: unspec|inet|inet6|N, len: N}`: the family the address claims and the length the call
    passes, each replacing what the step's socket and address would give."""
    pairs = c.f.mapping(node, name, ("family", "len"), f"field {{}} in {name}")
    if pairs is None:
        return None
    if not node.value:  # (unknown keys were reported already)
        return c.f.problem(node, f"{name} must give family:, len: or both")
    out: dict[str, Any] = {}
    if "family" in pairs:
        fnode = pairs["family"][1]
        family = c.f.scalar(fnode)
        if family in ops.SOCKADDR_FAMILIES or (is_int(family) and 0 <= family <= 255):
            out["family"] = family
        else:
            c.f.problem(fnode, f"family must be one of {', '.join(ops.SOCKADDR_FAMILIES)} or a number 0..255, "
                               f"not {show(fnode)}")
    if "len" in pairs:
        lnode = pairs["len"][1]
        length = c.f.scalar(lnode)
        if is_int(length) and 0 <= length <= 128:
            out["len"] = length
        else:
            c.f.problem(lnode, f"len must be a number of bytes 0..128, not {show(lnode)}")
    return out


def _v_opt(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    opt = _one_of(c, node, name, ops.OPTIONS, lambda opt: unknown_name("option {}", opt, ops.OPTIONS))
    reason = c.family.ipv4_only(opt) if c.family and opt and ops.OPTIONS[opt] == "IPPROTO_IP" else None
    c.skips += [reason] if reason else []
    return opt


def _v_bool(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[bool]:
    value = c.f.scalar(node)
    if isinstance(value, bool):
        return value
    return c.f.problem(node, f"{name} must be true or false, not {show(node)}")


def _v_level(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    level, opt = c.f.string(node, name), c.args.get("opt")
    if level is not None and level not in ops.LEVELS:
        return c.f.problem(node, unknown_name("level {}", level, ops.LEVELS))
    if level is not None and opt in ops.OPTIONS and ops.OPTIONS[opt] != level:
        return c.f.problem(node, f"level {level} does not match {opt}, which is at {ops.OPTIONS[opt]}")
    return level


def _v_dest(c: StepContext, name: str, node: Node, fld: ops.Field) -> Optional[dict]:
    what = f"{c.op} {name}"
    pairs = c.f.mapping(node, what, ops.DEST_FIELDS, f"field {{}} in {what}")
    return None if pairs is None else read_fields(c, node, pairs, ops.DEST_FIELDS, what, {})


Check = Callable[[StepContext, str, Node, ops.Field], Any]
Schema = dict[str, Any]


@dataclass(frozen=True)
class FieldKind:
    """One kind of field: what it means, how the loader checks it, what schema editors are told."""

    meaning: str
    check: Check
    schema: Callable[[ops.Field], Schema]


def field_schema(fld: ops.Field) -> Schema:
    """A field's schema: its kind's form, or a matrix parameter standing for it."""
    return {"anyOf": [FIELD_KINDS[fld.kind].schema(fld), REFERENCE_SCHEMA]}


def _int_schema(fld: ops.Field) -> Schema:
    out: Schema = {"type": "integer", "minimum": 0}
    return {**out, "maximum": fld.maximum} if fld.maximum is not None else out


_NAME: Schema = {"type": "string", "pattern": f"^{IDENT.pattern}$"}
_PORT: Schema = {"type": "integer", "minimum": 0, "maximum": 65535}
FIELD_KINDS: dict[str, FieldKind] = {
    "sock_new": FieldKind("a socket name this step defines", _v_sock_new, lambda f: _NAME),
    "sock": FieldKind("a socket an earlier step defined", _v_sock, lambda f: _NAME),
    "socks": FieldKind("a non-empty list of earlier sockets", _v_socks,
                       lambda f: {"type": "array", "minItems": 1, "items": _NAME}),
    "actor": FieldKind("an actor declared in actors:", _v_actor, lambda f: _NAME),
    "choice": FieldKind("one of the field's choices", _v_choice, lambda f: {"enum": list(f.choices)}),
    "int": FieldKind("a non-negative integer, up to the field's maximum", _v_int, _int_schema),
    "bool": FieldKind("true or false", _v_bool, lambda f: {"type": "boolean"}),
    "value": FieldKind("an option value: an integer that fits 32 bits or a boolean (a group address for "
                       "IP_ADD_MEMBERSHIP, an interface name for SO_BINDTODEVICE, [low, high] for "
                       "IP_LOCAL_PORT_RANGE)", _v_value,
                       lambda f: {"anyOf": [{"type": "boolean"}, {"type": "integer", "minimum": INT32[0],
                                                                  "maximum": UINT32},
                                            {"type": "string", "description": "a multicast group, for "
                                                                              "IP_ADD_MEMBERSHIP; an interface "
                                                                              "name, for SO_BINDTODEVICE"},
                                            {"type": "array", "items": {"anyOf": [_PORT, REFERENCE_SCHEMA]},
                                             "minItems": 2, "maxItems": 2,
                                             "description": "[low, high], for IP_LOCAL_PORT_RANGE"}]}),
    "text": FieldKind("a string (any scalar but a boolean or null, as written)", _v_text,
                      lambda f: {"type": ["string", "number"]}),
    "addr": FieldKind("a symbolic address or a loopback, unspecified or multicast IP address", _v_addr,
                      lambda f: {"type": "string", "description": f"{', '.join(ops.ADDRESSES)}, or a loopback, "
                                                                  "unspecified or multicast IP address"}),
    "port": FieldKind("a port number (quoted or not) or a symbolic port name such as P", _v_port,
                      lambda f: {"anyOf": [_PORT, {"type": "string", "pattern": f"^{PORT_NAME.pattern}$"},
                                           {"type": "string", "pattern": "^[0-9]{1,5}$"}]}),
    "port_new": FieldKind("a port name this step reads (getsockname's as:), unused before", _v_port_new,
                          lambda f: {"type": "string", "pattern": f"^{PORT_NAME.pattern}$"}),
    "flags": FieldKind("a list of the field's choices, each once", _v_flags,
                       lambda f: {"anyOf": [{"enum": list(f.choices)},
                                            {"type": "array", "uniqueItems": True,
                                             "items": {"enum": list(f.choices)}}]}),
    "sockaddr": FieldKind("a malformed address: {family: unspec|inet|inet6|N, len: N}", _v_sockaddr,
                          lambda f: {"type": "object", "additionalProperties": False, "minProperties": 1,
                                     "properties": {"family": {"anyOf": [{"enum": list(ops.SOCKADDR_FAMILIES)},
                                                                        {"type": "integer", "minimum": 0,
                                                                         "maximum": 255}]},
                                                    "len": {"type": "integer", "minimum": 0, "maximum": 128}}}),
    "opt": FieldKind("a socket option name of the option table", _v_opt, lambda f: {"enum": list(ops.OPTIONS)}),
    "level": FieldKind("an option level that matches the option", _v_level, lambda f: {"enum": list(ops.LEVELS)}),
    "dest": FieldKind("a mapping {addr, port}", _v_dest,
                      lambda f: {"type": "object", "additionalProperties": False, "required": ["addr", "port"],
                                 "properties": {name: field_schema(d) for name, d in ops.DEST_FIELDS.items()}}),
}
