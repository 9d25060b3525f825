"""Parameter matrices: one scenario template, one scenario per combination of its parameters.

A template names its parameters and their values (`matrix: {state: [bound, listening]}`),
refers to them as `${state}` (or `${row.first}` for a field of a mapping value),
drops steps with `if: {state: listening}` and narrows expectations with
`linux[state=listening]: EADDRINUSE`. Expansion works on YAML nodes before the
loader reads the scenario, so every value a combination puts in keeps the line
and column where it was written, and a mistake in any combination is reported
at its place in the template (or in the matrix), like any other.

A mapping value that sets another parameter's name pins it: a row
`{first: any, second: loopback, reuseaddr: off}` only combines with
`reuseaddr: off`, which is how a table with holes is written.
"""
from __future__ import annotations

import itertools
import re
from typing import Any, Optional, Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_-]*))?\}")
# What a schema-aware editor is told where any field may be (or hold) a ${parameter}.
REFERENCE_SCHEMA = {"type": "string", "pattern": REF.pattern, "description": "a matrix parameter: ${name} or ${name.field}"}
CONDITION = re.compile(r"^(.*?)\[([^\[\]]*)\]\s*$")  # `linux>=3.9[inet6, state=bound]`
FAMILY = "family"  # the parameter a families: list binds, as if it were one more matrix axis
MAX_COMBINATIONS = 4096  # per template: a few lines of YAML must not ask for billions of scenarios
_STR = "tag:yaml.org,2002:str"

Binding = dict[str, Node]  # parameter -> the node of its value in this combination


class Reader(Protocol):
    """The loader's view of a file: where problems go, and how a scalar node reads as a value."""

    def problem(self, node: Optional[Node], message: str) -> None: ...

    def scalar(self, node: Node) -> Any: ...

    def mapping(self, node: Node, what: str) -> Optional[dict[str, tuple[Node, Node]]]: ...


def combinations(f: Reader, node: Node) -> list[Binding]:
    """Every combination of the `matrix:` axes in written order (the first axis varies slowest),
    without those a mapping value's pins rule out."""
    axes = f.mapping(node, "matrix") or {}
    if not axes:
        f.problem(node, "matrix: must name at least one parameter and its values")
    values: dict[str, list[Node]] = {}
    for name, (knode, vnode) in axes.items():
        if not PARAM.fullmatch(name) or name == FAMILY:
            f.problem(knode, f"parameter name {name!r} must match {PARAM.pattern} and not be {FAMILY!r} "
                             "(families: binds it)")
        elif not isinstance(vnode, SequenceNode) or not vnode.value:
            f.problem(vnode, f"matrix parameter {name!r} needs a non-empty list of values")
        else:
            values[name] = vnode.value
    count = 1
    for items in values.values():
        count *= len(items)
    if count > MAX_COMBINATIONS:
        f.problem(node, f"matrix has {count} combinations; at most {MAX_COMBINATIONS} are allowed")
        return []
    combos = [dict(zip(values, choice)) for choice in itertools.product(*values.values())]
    return [c for c in combos if _pins_agree(f, c)]


def _pins_agree(f: Reader, combo: Binding) -> bool:
    for value in combo.values():
        for key, (_, pinned) in _fields(f, value).items():
            if key in combo and not _equal(f, combo[key], pinned):
                return False
    return True


def _fields(f: Reader, node: Node) -> dict[str, tuple[Node, Node]]:
    return (f.mapping(node, "a matrix value") or {}) if isinstance(node, MappingNode) else {}


def _equal(f: Reader, a: Node, b: Node) -> bool:
    """Two scalar values are equal as YAML reads them (`on` equals `true`)."""
    return isinstance(a, ScalarNode) and isinstance(b, ScalarNode) and f.scalar(a) == f.scalar(b)


def lookup(f: Reader, binding: Binding, name: str, field: Optional[str], where: Node) -> Optional[Node]:
    """The node `${name}` or `${name.field}` stands for; a problem at `where` if there is none."""
    if name not in binding:
        known = ", ".join(binding) or "none (no matrix: or families:)"
        return f.problem(where, f"unknown parameter {name!r} (parameters: {known})")
    value = binding[name]
    if field is None:
        return value
    fields = _fields(f, value)
    if field not in fields:
        return f.problem(where, f"{name}.{field}: this value of {name!r} has no field {field!r}")
    return fields[field][1]


def text(f: Reader, node: Node, where: Node) -> Optional[str]:
    """A value as it reads inside a string: the scalar as written (`on` stays `on`)."""
    if isinstance(node, ScalarNode):
        return node.value
    return f.problem(where, "a mapping or list cannot be put inside text: refer to one of its fields "
                            "(${param.field})")


def substitute(f: Reader, node: Node, binding: Binding, leave: tuple[str, ...] = ()) -> Node:
    """A copy of `node` with every `${...}` replaced; the keys in `leave` (of the top mapping) untouched.

    A scalar that is exactly one reference, quoted or not (flow mappings need the quotes), becomes the
    value's own node: `${reuseaddr}` stays a boolean, `${row.expect}` may be a whole mapping. A
    reference inside longer text is replaced by the value as written. Only nodes that
    contain a reference are copied, and each once, so aliases stay shared and cycles end.
    """
    dirty = _dirty(node, set(), {})
    copies: dict[int, Node] = {}

    def copy(n: Node) -> Node:
        if id(n) in copies or not dirty.get(id(n)):
            return copies.get(id(n), n)
        if isinstance(n, ScalarNode):
            copies[id(n)] = _replace(f, n, binding)
            return copies[id(n)]
        new = type(n)(n.tag, [], n.start_mark, n.end_mark, flow_style=n.flow_style)
        copies[id(n)] = new
        if isinstance(n, SequenceNode):
            new.value = [copy(v) for v in n.value]
        else:
            new.value = [(k, v if n is node and getattr(k, "value", None) in leave else copy(v))
                         for k, v in n.value]
        return new

    return copy(node)


def _dirty(node: Node, path: set[int], memo: dict[int, bool]) -> dict[int, bool]:
    """node id -> whether it (or anything below it) holds a `${`; iterative callers beware cycles."""
    if id(node) in memo or id(node) in path:
        return memo
    if isinstance(node, ScalarNode):
        memo[id(node)] = "${" in str(node.value)
        return memo
    path.add(id(node))
    children = node.value if isinstance(node, SequenceNode) else [n for kv in node.value for n in kv]
    for child in children:
        _dirty(child, path, memo)
    path.discard(id(node))
    memo[id(node)] = any(memo.get(id(c), False) for c in children)
    return memo


def _replace(f: Reader, node: ScalarNode, binding: Binding) -> Node:
    whole = REF.fullmatch(node.value)
    if whole:
        return lookup(f, binding, whole[1], whole[2], node) or node
    out, ok = [], True
    last = 0
    for m in REF.finditer(node.value):
        value = lookup(f, binding, m[1], m[2], node)
        piece = text(f, value, node) if value is not None else None
        ok = ok and piece is not None
        out += [node.value[last:m.start()], piece or ""]
        last = m.end()
    if "${" in node.value[last:] or any("${" in p for p in out[::2]):
        f.problem(node, "'${' must start a reference such as ${param} or ${param.field}")
    out.append(node.value[last:])
    return ScalarNode(_STR, "".join(out) if ok else node.value, node.start_mark, node.end_mark, node.style)


def holds(f: Reader, node: Node, binding: Binding) -> bool:
    """Whether a step's `if:` holds: every `param` (or `param.field`) equals its value, or one of a list."""
    conditions = f.mapping(node, "if")
    if not conditions:
        f.problem(node, "if: must map parameters to the values a step runs with: if: {state: listening}")
        return False
    result = True
    for key, (knode, vnode) in conditions.items():
        wanted = [w for w in (vnode.value if isinstance(vnode, SequenceNode) else [vnode]) if isinstance(w, ScalarNode)]
        result = result and _param_is(f, binding, key, knode, [f.scalar(w) for w in wanted])
    return result


def narrowed(f: Reader, key: str, knode: Node, binding: Binding) -> Optional[str]:
    """An expectation key without its `[conditions]` if they hold for this combination, else None.
    `linux[inet6]` names a family; `bsd[state=listening, reuseaddr=on]` names parameters."""
    m = CONDITION.match(key)
    if m is None:
        return key
    result = True
    for item in filter(None, (part.strip() for part in m[2].split(","))):
        name, eq, value = item.partition("=")
        name, value = (name.strip(), value.strip()) if eq else (FAMILY, name.strip())
        try:
            wanted = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            wanted = value
        result = result and _param_is(f, binding, name, knode, [wanted])
    return m[1].strip() if result else None


def _param_is(f: Reader, binding: Binding, key: str, where: Node, wanted: list[Any]) -> bool:
    """Whether the parameter `key` (`name` or `name.field`) has one of the `wanted` values, as YAML
    reads them (`on` equals `true`); an unknown one is a problem at `where`."""
    name, _, field = key.partition(".")
    actual = lookup(f, binding, name, field or None, where)
    return isinstance(actual, ScalarNode) and f.scalar(actual) in wanted


def describe(binding: Binding) -> dict[str, str]:
    """The combination as text, for results and reports: a mapping value shows as its fields."""
    out = {}
    for name, node in binding.items():
        if isinstance(node, ScalarNode):
            out[name] = node.value
        elif isinstance(node, MappingNode):
            out[name] = ", ".join(f"{k.value}={v.value}" for k, v in node.value
                                  if isinstance(k, ScalarNode) and isinstance(v, ScalarNode))
    return out
