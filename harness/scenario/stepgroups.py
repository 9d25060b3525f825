"""A scenario's `steps:` as the steps that run: repeated groups unrolled, `if:` applied, together groups marked.

Three forms stand for several steps, and all are undone here, on YAML nodes,
before any step is read:

- `- repeat: N` with `steps: [...]` (and `as: NAME`, default `i`; `from: K`,
  default 0) is its steps N times, with `${i}` the iteration's number, as a
  matrix parameter would be: a name (`sock: s${i}`), a condition
  (`if: {i: 0}`), a narrowed expectation (`"default[i=0]": ok`). Each copy
  keeps the positions of what was written, so a mistake in any iteration is
  reported where it was written.
- `- together: [...]` is a group whose actors run their steps at the same time
  (each actor its own steps in written order); its steps are marked with the
  group's number.
- A step (or group) whose `if:` does not hold for this combination is dropped
  before anything in it is substituted or checked: a `${x}` it holds is never
  looked at for a combination that removes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import expand
from .yamlfile import YamlFile, given, is_int, show

REPEAT_KEYS = ("repeat", "as", "from", "steps", "if")
TOGETHER_KEYS = ("together", "if")
MAX_STEPS = 100_000  # per scenario, once unrolled: a few lines must not ask for millions of steps
_INT = "tag:yaml.org,2002:int"


@dataclass
class Unrolled:
    """The steps of one combination: each a substituted node, its together group (None: alone) and its
    parameters (the combination's and its enclosing repeats' indexes: expectations narrow on them)."""

    steps: list[tuple[Node, Optional[int], expand.Binding]] = field(default_factory=list)
    groups: int = 0
    too_many: bool = False


def unroll(f: YamlFile, items: list[Node], binding: expand.Binding) -> list[tuple[Node, Optional[int], expand.Binding]]:
    """The steps `items` stand for in this combination, in order, with their together groups."""
    out = Unrolled()
    _walk(f, items, dict(binding), None, out)
    return out.steps


def _walk(f: YamlFile, items: list[Node], binding: expand.Binding, group: Optional[int], out: Unrolled) -> None:
    for node in items:
        if out.too_many:
            return
        pairs = f.mapping(node, "a step") if isinstance(node, MappingNode) else None
        if pairs is not None and not _holds(f, pairs, binding):
            continue
        if pairs is not None and "repeat" in pairs:
            _repeat(f, node, pairs, binding, group, out)
        elif pairs is not None and "together" in pairs:
            _together(f, node, pairs, binding, group, out)
        else:
            if len(out.steps) >= MAX_STEPS:
                out.too_many = True
                f.problem(node, f"the scenario unrolls to more than {MAX_STEPS} steps")
                return
            step = expand.substitute(f, node, binding) if binding else node
            f.instances.append(step)  # kept alive: YamlFile caches mappings by id()
            out.steps.append((step, group, binding))


def _holds(f: YamlFile, pairs: dict, binding: expand.Binding) -> bool:
    """A step or group is in this combination when it has no `if:`, or its `if:` holds."""
    cond = given(pairs, "if")
    if cond is None:
        return True
    if not binding:
        f.problem(cond, "if: needs parameters: a matrix:, families: or an enclosing repeat:")
        return True
    return expand.holds(f, cond, binding)


def _repeat(f: YamlFile, node: Node, pairs: dict, binding: expand.Binding, group: Optional[int],
            out: Unrolled) -> None:
    f.reject(pairs, REPEAT_KEYS, "key {} of a repeat: group")
    value = {key: expand.substitute(f, pairs[key][1], binding) if binding else pairs[key][1]
             for key in ("repeat", "from", "as") if given(pairs, key) is not None}  # may be ${parameters}
    count, first = _count(f, value["repeat"], "repeat", 1), 0
    if "from" in value:
        first = _count(f, value["from"], "from", 0)
    name = "i"
    if "as" in value:
        name = f.string(value["as"], "as", expand.PARAM) or name
    if name == expand.FAMILY or name in binding:
        f.problem(pairs["as"][1] if "as" in value else node,
                  f"the index {name!r} is already a parameter here (an enclosing repeat's, or the matrix's): "
                  "name it with as:")
    steps = given(pairs, "steps")
    if not isinstance(steps, SequenceNode) or not steps.value:
        f.problem(steps if steps is not None else node, "a repeat: group needs steps: a non-empty list of steps")
        return
    if name in binding:
        return
    for index in range(first, first + (count or 0)):
        number = ScalarNode(_INT, str(index), pairs["repeat"][1].start_mark, pairs["repeat"][1].end_mark)
        _walk(f, steps.value, {**binding, name: number}, group, out)
        if out.too_many:
            return


def _together(f: YamlFile, node: Node, pairs: dict, binding: expand.Binding, group: Optional[int],
              out: Unrolled) -> None:
    f.reject(pairs, TOGETHER_KEYS, "key {} of a together: group")
    steps = given(pairs, "together")
    if group is not None:
        f.problem(pairs["together"][0], "together: groups cannot be nested: their steps already run at once")
        return
    if not isinstance(steps, SequenceNode) or len(steps.value) < 2:
        f.problem(steps if steps is not None else node,
                  f"together: needs a list of at least two steps (of two actors or more), not {show(steps)}"
                  if steps is not None else "together: needs a list of steps")
        return
    out.groups += 1
    _walk(f, steps.value, binding, out.groups, out)


def _count(f: YamlFile, node: Node, what: str, least: int) -> int:
    value = f.scalar(node)
    if is_int(value) and least <= value <= MAX_STEPS:
        return value
    f.problem(node, f"{what} must be an integer {least}..{MAX_STEPS}, not {show(node)}")
    return 0
