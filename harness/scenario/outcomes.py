"""Expected outcomes: the kinds an author may write, and reading a step's `expect:`.

`OUTCOME_KINDS` is the one table of them: how each is spelled (in files and in
messages) and its JSON Schema forms; which kinds an op takes is in its row of
harness/scenario/ops.py, and whether an observation satisfies one is
harness/observation.py's. `expect:` is either one outcome or a map of selectors
(`linux<3.9: ENOPROTOOPT`) to outcomes, tried in written order.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .. import errnos
from ..model import Expectation, Outcome, Rule
from . import expand, ops
from .fields import StepContext
from .selector import SelectorError, parse_selector
from .yamlfile import BOOL, NULL, at, is_int, show

ERRNO = re.compile(r"E[A-Z0-9]+")
NONZERO = "nonzero"  # {value: nonzero}: the option is set, whichever number the system uses for it
EPHEMERAL = "ephemeral"  # {port: ephemeral}: within the system's ephemeral port range
_DEFAULT = parse_selector("default")
Schema = dict[str, Any]


@dataclass(frozen=True)
class OutcomeKind:
    """One kind of expected outcome: how an author writes it, and what schema editors are told."""

    spelled: tuple[str, ...]  # every way it is written, as messages list them
    reads: Callable[[str], bool] = lambda word: False  # whether a scalar spells it
    schema: tuple[Schema, ...] = ()  # its JSON Schema forms besides the plain word
    keys: tuple[str, ...] = ()  # written as a mapping with (some of) these keys ({value: N}), not a scalar

    @property
    def mapping(self) -> bool:
        return bool(self.keys)

    @property
    def word(self) -> Optional[str]:
        """The plain word that spells it, if one does (`ok`, `spread`)."""
        return self.spelled[0] if self.reads(self.spelled[0]) else None


def _word(word: str) -> OutcomeKind:
    return OutcomeKind((word,), lambda text: text == word)


def _object(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {"type": "object", "additionalProperties": False, "minProperties": 1, "required": list(required),
            "properties": properties}


def _or_reference(schema: Schema) -> Schema:
    """A form, or a matrix parameter (`${row.expect}`) that stands for one."""
    return {"anyOf": [schema, expand.REFERENCE_SCHEMA]}


_INT: Schema = _or_reference({"type": "integer", "minimum": 0})
_PORT: Schema = _or_reference({"type": "integer", "minimum": 0, "maximum": 65535})
_PORT_IS: Schema = {"anyOf": [_PORT, {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$|^[0-9]{1,5}$"}]}
_SOCKS: Schema = _or_reference({"type": "array", "minItems": 1,
                                "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}})
RECEIPT_KEYS = ("at_least", "of", "only", "lost")
OUTCOME_KINDS: dict[str, OutcomeKind] = {
    "ok": _word("ok"),  # the call returned without error
    "unsupported": _word("unsupported"),  # the system has no such option (the agent found no number for it)
    "timeout": _word("timeout"),  # the call did not complete within its timeout_ms
    "errno": OutcomeKind(("an errno name such as EADDRINUSE",), lambda text: bool(ERRNO.fullmatch(text)),
                         ({"type": "string", "pattern": f"^{ERRNO.pattern}$"},)),
    "spread": _word("spread"),  # two or more sockets received
    "single": OutcomeKind(("single", "single:<sock>"), lambda text: text == "single" or text.startswith("single:"),
                          ({"type": "string", "pattern": "^single:[A-Za-z0-9_.-]+$"},)),
    "each": _word("each"),  # every socket received every connection or datagram
    "none": _word("none"),  # nobody received anything
    # distribute, finer: each of `of` (default: over) got at least N; only these received; N were lost
    "receipts": OutcomeKind(("{at_least: N, of: [socks]}", "{only: [socks]}", "{lost: N}"), schema=(
        _object({"at_least": _INT, "of": _SOCKS, "only": _SOCKS, "lost": _INT}),), keys=RECEIPT_KEYS),
    "value": OutcomeKind(("{value: N}", "{value: nonzero}", "{value: [low, high]}"), schema=(
        _object({"value": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"const": NONZERO},
                                     {"type": "array", "items": _or_reference({"type": "integer"}), "minItems": 2,
                                      "maxItems": 2}, expand.REFERENCE_SCHEMA]}}, ("value",)),), keys=("value",)),
    # getsockname: the port equals a number or a port name, is not it, lies in a range or in the system's
    # ephemeral range (as the agent read it where the step ran)
    "port": OutcomeKind(("{port: P}", "{port: 8080}", "{port: ephemeral}", "{port: {not: P}}",
                         "{port: {in: [LOW, HIGH]}}"), schema=(
        _object({"port": {"anyOf": [_PORT_IS, {"const": "ephemeral"}, _object({"not": _PORT_IS}, ("not",)),
                                    _object({"in": {"type": "array", "items": _PORT, "minItems": 2,
                                                    "maxItems": 2}}, ("in",))]}}, ("port",)),), keys=("port",)),
    # poll: exactly these events were reported (`[]`: none, within the timeout)
    "events": OutcomeKind(("{events: [in, out]}",), schema=(
        _object({"events": _or_reference({"type": "array", "uniqueItems": True,
                                          "items": {"enum": list(ops.POLL_EVENTS)}})}, ("events",)),), keys=("events",)),
}


def expectation(c: StepContext, node: Optional[Node]) -> Expectation:
    if node is None:
        return Expectation((Rule(_DEFAULT, Outcome(ops.OPS[c.op].default_expect)),))
    if isinstance(node, MappingNode) and _mapping_kind(node) is None:
        return Expectation(tuple(_rules(c, node)), c.f.pos(node))
    outcome = _outcome(c, node)
    return Expectation((Rule(_DEFAULT, outcome),) if outcome else (), c.f.pos(node))


def _mapping_kind(node: Node) -> Optional[str]:
    """The outcome kind a mapping spells (`{value: N}`, `{port: P}`, `{only: [a]}`...): one whose keys
    are all its kind's; otherwise it is a map of selectors (none of these keys is an OS family)."""
    if not isinstance(node, MappingNode) or not node.value:
        return None
    keys = {getattr(k, "value", None) for k, _ in node.value}
    return next((name for name, row in OUTCOME_KINDS.items() if row.keys and keys <= set(row.keys)), None)


def _rules(c: StepContext, node: Node) -> list[Rule]:
    """A selector -> outcome map, in written order."""
    pairs = c.f.mapping(node, "expect") or {}
    if not pairs:
        c.f.problem(node, "expect: an empty mapping expects nothing; omit it or give outcomes")
    rules: list[Rule] = []
    first: dict[tuple, str] = {}
    narrowed: set[tuple] = set()  # selectors a `[conditions]` entry gave in this combination
    for written, (knode, vnode) in pairs.items():
        key = expand.narrowed(c.f, written, knode, c.binding) if c.binding else written
        if key is None:  # its [conditions] rule this combination out
            continue
        try:
            selector = parse_selector(key)
        except SelectorError as e:
            c.f.problem(knode, str(e))
            continue
        same = (selector.family, selector.op, selector.version)
        if same in narrowed and key == written:
            continue  # `linux[inet6]: X` before `linux: Y`: in inet6 the narrowed rule wins
        if same in first:
            c.f.problem(knode, f"duplicate selector {key!r} (same as {first[same]})")
        else:
            first[same] = f"{written!r} at {at(c.f.pos(knode))}"
            if key != written:
                narrowed.add(same)
        outcome = _outcome(c, vnode)
        rules += [Rule(selector, outcome)] if outcome else []
    return rules


def _outcomes(op: str) -> str:
    """The outcomes an op may expect, as an author writes them, for messages."""
    rows = [OUTCOME_KINDS[k] for k in ops.OPS[op].outcomes]
    words = [r.word for r in rows if r.word] + [s for r in rows if not r.mapping for s in r.spelled if s != r.word]
    return ", ".join(words + ["any"] + [s for r in rows if r.mapping for s in r.spelled])


def _kind(word: str) -> Optional[str]:
    """The outcome kind a scalar spells, whichever op it is for; None if it spells none."""
    return next((name for name, row in OUTCOME_KINDS.items() if row.reads(word)), None)


def _ops_taking(kind: str) -> list[str]:
    return [name for name, op in ops.OPS.items() if kind in op.outcomes]


def _misplaced(c: StepContext, kind: str) -> str:
    """`only for distribute steps` or `not for distribute steps`: whichever says it shorter."""
    takers = _ops_taking(kind)
    return f"only for {takers[0]} steps" if len(takers) == 1 else f"not for {c.op} steps"


def _outcome(c: StepContext, node: Node) -> Optional[Outcome]:
    allowed = ops.OPS[c.op].outcomes
    kind = _mapping_kind(node)
    if kind is not None:
        if kind not in allowed:
            where = _misplaced(c, kind)
            where += f", not {c.op}" if where.startswith("only") else f" (only {', '.join(_ops_taking(kind))})"
            return c.f.problem(node, f"{OUTCOME_KINDS[kind].spelled[0]} is {where}")
        return _MAPPINGS[kind](c, node)
    if not isinstance(node, ScalarNode) or node.tag in (BOOL, NULL):
        return c.f.problem(node, f"expected an outcome ({_outcomes(c.op)}), not {show(node)}")
    word = node.value
    kind = "any" if word == "any" else _kind(word)
    if kind is None:
        return c.f.problem(node, f"unknown outcome {word!r} for {c.op} (expected: {_outcomes(c.op)})")
    if kind != "any" and kind not in allowed:
        return c.f.problem(node, f"outcome {word!r} is {_misplaced(c, kind)} ({c.op} takes: {_outcomes(c.op)})")
    if kind == "errno":
        return _errno(c, node, word)
    if kind == "single" and word != "single":
        return _single(c, node, word[len("single:"):])
    return Outcome(kind)


def _errno(c: StepContext, node: Node, name: str) -> Optional[Outcome]:
    """An errno some system defines (compared, when judged, by the number it has on the target's)."""
    if errnos.known(name):
        return Outcome("errno", name)
    close = difflib.get_close_matches(name, sorted(errnos.NAMES), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return c.f.problem(node, f"unknown errno {name!r}: no system the harness knows defines it{hint}")


def _single(c: StepContext, node: Node, sock: str) -> Optional[Outcome]:
    over = c.args.get("over")
    if over is not None and sock not in over:
        return c.f.problem(node, f"single:{sock}: socket {sock!r} is not in over ({', '.join(s for s in over if s)})")
    return Outcome("single", sock)


def _value_outcome(c: StepContext, node: Node) -> Optional[Outcome]:
    """`{value: N}` (exactly N, as the kernel returned it), `{value: nonzero}` (set, whatever the number)
    or `{value: [low, high]}` (a pair, as IP_LOCAL_PORT_RANGE reads back)."""
    value_node = node.value[0][1]
    if isinstance(value_node, SequenceNode):
        pair = [c.f.scalar(item) for item in value_node.value]
        if len(pair) == 2 and all(is_int(v) for v in pair):
            return Outcome("value", tuple(pair))
        return c.f.problem(value_node, f"expected value must be an integer, nonzero or [low, high], not {show(value_node)}")
    value = c.f.scalar(value_node)
    if value == NONZERO:
        return Outcome("value", NONZERO)
    if isinstance(value, bool) or is_int(value):
        return Outcome("value", int(value))
    return c.f.problem(value_node, f"expected value must be an integer, nonzero or [low, high], not {show(value_node)}")


def _port_name_or_number(c: StepContext, node: Node) -> Union[int, str, None]:
    """A port a test compares with: a number, or a name an earlier step used or read."""
    value = c.f.scalar(node)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if is_int(value) and 0 <= value <= 65535:
        return value
    if isinstance(value, str) and value in c.ports:
        return value
    known = ", ".join(c.ports) or "none"
    return c.f.problem(node, f"expected a port number or the name of a port an earlier step used or read "
                             f"(so far: {known}), not {show(node)}")


def _port_outcome(c: StepContext, node: Node) -> Optional[Outcome]:
    """`{port: P}`, `{port: 8080}`, `{port: ephemeral}`, `{port: {not: P}}`, `{port: {in: [LOW, HIGH]}}`."""
    test = node.value[0][1]
    if isinstance(test, ScalarNode) and test.value == EPHEMERAL:
        return Outcome("port", (EPHEMERAL,))
    if isinstance(test, MappingNode):
        pairs = c.f.mapping(test, "a port test", ("not", "in"), "port test {}") or {}
        if len(pairs) != 1:
            return c.f.problem(test, "a port test is one of {not: P} or {in: [LOW, HIGH]}")
        (key, (_, arg)), = pairs.items()
        if key == "not":
            port = _port_name_or_number(c, arg)
            return None if port is None else Outcome("port", ("not", port))
        span = [c.f.scalar(item) for item in arg.value] if isinstance(arg, SequenceNode) else []
        if len(span) == 2 and all(is_int(p) and 0 <= p <= 65535 for p in span) and span[0] <= span[1]:
            return Outcome("port", ("in", span[0], span[1]))
        return c.f.problem(arg, f"in: must be [LOW, HIGH], two ports with LOW <= HIGH, not {show(arg)}")
    port = _port_name_or_number(c, test)
    return None if port is None else Outcome("port", ("eq", port))


def _events_outcome(c: StepContext, node: Node) -> Optional[Outcome]:
    """`{events: [in, out]}`: exactly these poll events (`[]`: none within the timeout)."""
    items = node.value[0][1]
    if not isinstance(items, SequenceNode):
        return c.f.problem(items, f"events must be a list of {', '.join(ops.POLL_EVENTS)} ([] for none), "
                                  f"not {show(items)}")
    names = []
    for item in items.value:
        name = c.f.string(item, "a poll event")
        if name is not None and name not in ops.POLL_EVENTS:
            c.f.problem(item, f"unknown poll event {name!r} (known: {', '.join(ops.POLL_EVENTS)})")
        elif name is not None:
            names.append(name)
    return Outcome("events", tuple(e for e in ops.POLL_EVENTS if e in names))


def _receipts_outcome(c: StepContext, node: Node) -> Optional[Outcome]:
    """`{at_least: N, of: [socks]}`, `{only: [socks]}`, `{lost: N}`, or several at once: all must hold."""
    pairs = c.f.mapping(node, "receipts", RECEIPT_KEYS) or {}
    over = [s for s in c.args.get("over") or [] if s]
    out: dict[str, Any] = {}
    for key, (knode, vnode) in pairs.items():
        if key in ("at_least", "lost"):
            value = c.f.scalar(vnode)
            if is_int(value) and value >= 0:
                out[key] = value
            else:
                c.f.problem(vnode, f"{key} must be a non-negative integer, not {show(vnode)}")
            continue
        socks = [c.f.string(item, "a socket name") for item in vnode.value] if isinstance(vnode, SequenceNode) else []
        if not socks:
            c.f.problem(vnode, f"{key} must be a non-empty list of sockets of over, not {show(vnode)}")
        for item, sock in zip(getattr(vnode, "value", []), socks):
            if sock is not None and sock not in over:
                c.f.problem(item, f"{key}: socket {sock!r} is not in over ({', '.join(over)})")
        out[key] = tuple(s for s in socks if s)
    if "of" in out and "at_least" not in out:
        c.f.problem(pairs["of"][0], "of: names the sockets at_least: applies to; give at_least: too")
    return Outcome("receipts", tuple(sorted(out.items()))) if out else None


_MAPPINGS: dict[str, Callable[[StepContext, Node], Optional[Outcome]]] = {
    "value": _value_outcome, "port": _port_outcome, "events": _events_outcome, "receipts": _receipts_outcome}
