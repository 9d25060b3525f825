"""Expected outcomes: the kinds an author may write, and reading a step's `expect:`.

`OUTCOME_KINDS` is the one table of them: how each is spelled (in files and in
messages) and its JSON Schema forms; which kinds an op takes is in its row of
harness/scenario/ops.py, and whether an observation satisfies one is
harness/observation.py's. `expect:` is either one outcome or a map of selectors
(`linux<3.9: ENOPROTOOPT`) to outcomes, tried in written order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from yaml.nodes import MappingNode, Node, ScalarNode

from ..model import Expectation, Outcome, Rule
from . import expand, ops
from .fields import StepContext
from .selector import SelectorError, parse_selector
from .yamlfile import BOOL, NULL, at, is_int, show

ERRNO = re.compile(r"E[A-Z0-9]+")
NONZERO = "nonzero"  # {value: nonzero}: the option is set, whichever number the system uses for it
_DEFAULT = parse_selector("default")
Schema = dict[str, Any]


@dataclass(frozen=True)
class OutcomeKind:
    """One kind of expected outcome: how an author writes it, and what schema editors are told."""

    spelled: tuple[str, ...]  # every way it is written, as messages list them
    reads: Callable[[str], bool] = lambda word: False  # whether a scalar spells it
    schema: tuple[Schema, ...] = ()  # its JSON Schema forms besides the plain word
    mapping: bool = False  # written as a one-entry mapping ({value: N}), not a scalar

    @property
    def word(self) -> Optional[str]:
        """The plain word that spells it, if one does (`ok`, `spread`)."""
        return self.spelled[0] if self.reads(self.spelled[0]) else None


def _word(word: str) -> OutcomeKind:
    return OutcomeKind((word,), lambda text: text == word)


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
    "value": OutcomeKind(("{value: N}", "{value: nonzero}"), schema=(
        {"type": "object", "additionalProperties": False, "required": ["value"],
         "properties": {"value": {"anyOf": [{"type": "integer"}, {"type": "boolean"}, {"const": NONZERO}]}}},),
        mapping=True),
}


def expectation(c: StepContext, node: Optional[Node]) -> Expectation:
    if node is None:
        return Expectation((Rule(_DEFAULT, Outcome(ops.OPS[c.op].default_expect)),))
    if isinstance(node, MappingNode) and not _is_value_outcome(node):
        return Expectation(tuple(_rules(c, node)), c.f.pos(node))
    outcome = _outcome(c, node)
    return Expectation((Rule(_DEFAULT, outcome),) if outcome else (), c.f.pos(node))


def _is_value_outcome(node: Node) -> bool:
    """`{value: N}` is an outcome, not a one-entry selector map (`value` is no OS family)."""
    return isinstance(node, MappingNode) and len(node.value) == 1 and node.value[0][0].value == "value"


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
    if _is_value_outcome(node):
        if "value" not in allowed:
            return c.f.problem(node, f"{{value: N}} is {_misplaced(c, 'value')}, not {c.op}")
        return _value_outcome(c, node)
    if not isinstance(node, ScalarNode) or node.tag in (BOOL, NULL):
        return c.f.problem(node, f"expected an outcome ({_outcomes(c.op)}), not {show(node)}")
    word = node.value
    kind = "any" if word == "any" else _kind(word)
    if kind is None:
        return c.f.problem(node, f"unknown outcome {word!r} for {c.op} (expected: {_outcomes(c.op)})")
    if kind != "any" and kind not in allowed:
        return c.f.problem(node, f"outcome {word!r} is {_misplaced(c, kind)} ({c.op} takes: {_outcomes(c.op)})")
    if kind == "errno":
        return Outcome("errno", word)
    if kind == "single" and word != "single":
        return _single(c, node, word[len("single:"):])
    return Outcome(kind)


def _single(c: StepContext, node: Node, sock: str) -> Optional[Outcome]:
    over = c.args.get("over")
    if over is not None and sock not in over:
        return c.f.problem(node, f"single:{sock}: socket {sock!r} is not in over ({', '.join(s for s in over if s)})")
    return Outcome("single", sock)


def _value_outcome(c: StepContext, node: Node) -> Optional[Outcome]:
    """`{value: N}` (exactly N, as the kernel returned it) or `{value: nonzero}` (set, whatever the number)."""
    value_node = node.value[0][1]
    value = c.f.scalar(value_node)
    if value == NONZERO:
        return Outcome("value", NONZERO)
    if isinstance(value, bool) or is_int(value):
        return Outcome("value", int(value))
    return c.f.problem(value_node, f"expected value must be an integer or nonzero, not {show(value_node)}")
