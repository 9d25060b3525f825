"""Load scenario files into model dataclasses, or list everything wrong with them.

A bad file must be rejected before any target is touched, with every problem as
`file:line:column: message`, so the loader keeps going after a problem and never
lets a traceback through. The work is split along its seams: YAML nodes
(yamlfile.py), template expansion (expand.py), the kinds of field an op's row
names (fields.py), expected outcomes (outcomes.py); this module reads suites,
scenarios, actors and steps.

The format is docs/scenario-format.md; where the contract it extends is silent, the loader chooses:
  * a field written with no value (`level:`) counts as omitted;
  * a string may be written as any scalar but a boolean or null (`name: 2024`,
    `data: 123` are the text as written); socket and actor names match [A-Za-z0-9_.-]+;
  * `tags:` and `only:` may be a single string instead of a list;
  * YAML merge keys (`<<: *base`) work, the mapping's own keys winning;
  * an omitted `expect` is the op's default outcome (`ok`; `any` for `distribute`);
  * a literal IPv6 address may also be the IPv4-mapped form of an allowed one.
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from yaml.nodes import Node, ScalarNode, SequenceNode

from ..model import Actor, Pos, Scenario, Selector, Step, Suite
from . import expand, ops, settings, stepgroups
from .fields import IDENT, SockInfo, StepContext, read_fields
from .outcomes import expectation
from .selector import SelectorError, parse_selector
from .variants import ADDRESS_FAMILIES, Family
from .yamlfile import (Pairs, Problem, ScenarioFileError, YamlFile, at, check_duplicates, compose, given, is_int,
                       is_null, need, show, unknown_name)

__all__ = ["Problem", "ScenarioFileError", "load_files", "load_suite"]

SUITE_KEYS = ("suite", "description", "families", "scenarios")
SCENARIO_KEYS = ("name", "description", "tags", "only", "families", "matrix", "sysctl", "actors", "steps")
# What makes variants of a scenario, never substituted; steps are substituted step by step as they are
# unrolled (stepgroups.py), so that a step an `if:` removes is never looked at.
TEMPLATE_KEYS = ("families", "matrix", "steps")
ACTOR_KEYS = ("user",)
MAIN = "main"
NAME = re.compile(r"[a-z0-9_.-]+")  # suite and scenario names, as the contract says
USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")  # a portable user name (POSIX, useradd's default rule)
_DEFAULT = parse_selector("default")


@dataclass
class _Loaded:
    """One file as read: its nodes' problems, its suite, and where `suite:` names it (for clashes)."""

    file: YamlFile
    suite: Optional[Suite] = None
    name_pos: Optional[Pos] = None

    @property
    def problems(self) -> list[Problem]:
        return self.file.problems


def load_suite(path: str) -> Suite:
    """One scenario file as a Suite; raises ScenarioFileError listing all its problems."""
    f = _load(os.fspath(path))
    if f.problems or f.suite is None:
        raise ScenarioFileError(f.problems)
    return f.suite


def load_files(paths: Iterable[str]) -> list[Suite]:
    """Every file (a directory means its *.yaml/*.yml files), or one error listing all problems."""
    problems: list[Problem] = []
    files = [_load(p) for p in _expand(paths, problems)]
    owners: dict[str, _Loaded] = {}
    for f in files:
        problems += f.problems
        name = f.suite.name if f.suite else ""
        if name in owners and f.name_pos:
            problems.append(Problem(f.name_pos, f"suite name {name!r} is already used by {owners[name].file.path}"))
        elif name:
            owners[name] = f
    if problems:
        raise ScenarioFileError(problems)
    return [f.suite for f in files if f.suite]


def _expand(paths: Iterable[str], problems: list[Problem]) -> list[str]:
    """Files to load: a directory stands for its *.yaml/*.yml files, sorted; each file once."""
    out: dict[str, str] = {}
    for path in map(os.fspath, paths):
        found = [path]
        if os.path.isdir(path):
            found = sorted(glob.glob(os.path.join(glob.escape(path), "*.y*ml")))
            found = [p for p in found if p.endswith((".yaml", ".yml"))]
            if not found:
                problems.append(Problem(Pos(path, 1, 1), "directory holds no *.yaml or *.yml file"))
        for p in found:
            out.setdefault(os.path.realpath(p), p)
    return list(out.values())

def _load(path: str) -> _Loaded:
    loaded = _Loaded(YamlFile(path))
    root = compose(loaded.file)
    if root is not None:
        check_duplicates(loaded.file, root)
        loaded.suite, loaded.name_pos = _suite(loaded.file, root)
    return loaded


def _suite(f: YamlFile, root: Node) -> tuple[Optional[Suite], Optional[Pos]]:
    """The suite, and where `suite:` names it."""
    pairs = f.mapping(root, "the top level (suite:, scenarios:)", SUITE_KEYS, "top-level key {}")
    if pairs is None:
        return None, None
    name_node = need(f, pairs, "suite", root, "the file")
    name = _name(f, name_node, "suite name")
    seen: dict[str, Pos] = {}
    families = _families(f, given(pairs, "families"))
    items = _items(f, need(f, pairs, "scenarios", root, "the file"), "scenarios")
    scenarios = [sc for item in items for sc in _variants(f, name or "", item, seen, families)]
    suite = Suite(name or "", text_of(f, pairs, "description"), f.path, [s for s in scenarios if s])
    return suite, f.pos(name_node) if name_node is not None else None


def _families(f: YamlFile, node: Optional[Node]) -> list[tuple[str, Node]]:
    """The address-family variants asked for (docs/variants.md), each once, in written order."""
    if node is not None and not isinstance(node, SequenceNode):
        f.problem(node, f"families must be a list (of {', '.join(ADDRESS_FAMILIES)}), not {show(node)}")
        return []
    out: dict[str, Node] = {}
    for text, item in _strings(f, node, "families"):
        if text not in ADDRESS_FAMILIES:
            f.problem(item, unknown_name("family {}", text, ADDRESS_FAMILIES))
        elif text in out:
            f.problem(item, f"family {text!r} is listed twice")
        out.setdefault(text, item)
    return list(out.items())


def _variants(f: YamlFile, suite: str, node: Node, seen: dict[str, Pos],
              suite_families: list[tuple[str, Node]]) -> list[Optional[Scenario]]:
    """A scenario as written, or one scenario per matrix combination and address family."""
    pairs = f.mapping(node, "a scenario", SCENARIO_KEYS, "scenario key {}")
    if pairs is None:
        return []
    families = _families(f, given(pairs, "families")) if "families" in pairs else suite_families
    combos = expand.combinations(f, pairs["matrix"][1]) if given(pairs, "matrix") is not None else [{}]
    out = []
    for combo in combos:
        for family, fnode in families or [("", None)]:
            binding = {**combo, expand.FAMILY: fnode} if fnode is not None else combo
            try:
                instance = expand.substitute(f, node, binding, TEMPLATE_KEYS) if binding else node
            except RecursionError:
                f.problem(node, "scenario nested too deeply to expand its matrix")
                return out
            f.instances.append(instance)
            out.append(_scenario(f, suite, instance, seen, binding, ADDRESS_FAMILIES.get(family)))
    return out


def _scenario(f: YamlFile, suite: str, node: Node, seen: dict[str, Pos], binding: expand.Binding,
              family: Optional[Family]) -> Optional[Scenario]:
    pairs = f.mapping(node, "a scenario", SCENARIO_KEYS, "scenario key {}")
    if pairs is None:
        return None
    name_node = need(f, pairs, "name", node, "scenario")
    name = _name(f, name_node, "scenario name")
    name = f"{name}[{family.name}]" if name is not None and family else name
    if name in seen:
        hint = " (put a ${parameter} in the name of a matrix)" if given(pairs, "matrix") is not None else ""
        f.problem(name_node, f"duplicate scenario name {name!r} (first at {at(seen[name])}){hint}")
    elif name is not None and name_node is not None:
        seen[name] = f.pos(name_node)
    actors, socks = _actors(f, given(pairs, "actors")), {}
    items = stepgroups.unroll(f, _items(f, need(f, pairs, "steps", node, "scenario"), "steps"), binding)
    ctx = StepContext(f, actors, socks, binding, family)
    steps = [_step(ctx, index, item, group, params) for index, (item, group, params) in enumerate(items, 1)]
    _check_together(f, [s for s in steps if s and s.group is not None])
    tags = [text for text, _ in _strings(f, given(pairs, "tags"), "tags")]
    excluded = [(_DEFAULT, reason) for reason in dict.fromkeys(ctx.skips)]
    excluded += [(parse_selector(sel), reason) for sel, reason in (family.excluded if family else ())]
    description = text_of(f, pairs, "description")
    description = family.describe(description) if family else description
    return Scenario(suite, name or "", description, tags, _only(f, given(pairs, "only")),
                    actors, [s for s in steps if s], f.pos(node), expand.describe(binding), excluded,
                    _sysctl(f, given(pairs, "sysctl")))


def _sysctl(f: YamlFile, node: Optional[Node]) -> dict[str, str]:
    """`sysctl: {net.ipv4.ip_local_port_range: 40000 49999}`: settings the scenario runs with, checked
    against the table of known ones (harness/scenario/settings.py), as the kernel reads them."""
    pairs = f.mapping(node, "sysctl") if node is not None else None
    out: dict[str, str] = {}
    for name, (knode, vnode) in (pairs or {}).items():
        if name not in settings.SETTINGS:
            f.problem(knode, unknown_name("setting {}", name, settings.SETTINGS))
            continue
        kind = settings.SETTINGS[name].kind
        value = _setting_value(f, vnode, kind)
        if value is None:
            f.problem(vnode, f"{name} takes {_SETTING_KINDS[kind]}, not {show(vnode)}")
        else:
            out[name] = settings.text(kind, value)
    return out


_SETTING_KINDS = {"bool": "0 or 1", "int": "a non-negative integer",
                  "range": "two ports LOW HIGH (LOW <= HIGH), written \"40000 49999\" or [40000, 49999]"}


def _setting_value(f: YamlFile, node: Node, kind: str) -> object:
    if kind == "range":
        items = ([f.scalar(i) for i in node.value] if isinstance(node, SequenceNode)
                 else str(f.scalar(node)).split() if isinstance(node, ScalarNode) else [])
        ports = [int(p) for p in items if str(p).isdigit()]
        ok = len(items) == 2 and len(ports) == 2 and ports[0] <= ports[1] <= 65535
        return ports if ok else None
    value = f.scalar(node)
    if kind == "bool" and (isinstance(value, bool) or value in (0, 1)):
        return int(value)
    return value if kind == "int" and is_int(value) and value >= 0 else None


def _check_together(f: YamlFile, steps: list[Step]) -> None:
    """A together: group is several actors at once: at least two of them, only steps an actor runs, and
    no socket used by an actor other than the one whose step in the group made it (that would race)."""
    groups: dict[int, list[Step]] = {}
    for step in steps:
        groups.setdefault(step.group or 0, []).append(step)
    for members in groups.values():
        first = members[0]
        if len({s.actor for s in members}) < 2:
            f.problems.append(Problem(first.pos, f"a together: group runs the steps of several actors at once; "
                                                 f"all of this one's are {first.actor}'s"))
        made: dict[str, str] = {}
        for step in members:
            if step.op in ops.SCENARIO_OPS:
                f.problems.append(Problem(step.pos, f"{step.op} cannot run in a together: group "
                                                    "(it is the scenario's, not an actor's)"))
            used = [step.args.get(n) for n, fld in ops.OPS[step.op].fields.items() if fld.kind in ("sock", "socks")]
            for sock in [s for u in used for s in (u if isinstance(u, list) else [u]) if s]:
                if made.get(sock, step.actor) != step.actor:
                    f.problems.append(Problem(step.pos, f"socket {sock!r} is made by actor {made[sock]} in the same "
                                                        f"together: group; {step.actor} cannot use it there"))
            if step.op == "socket":
                made[step.args["sock"]] = step.actor


def _name(f: YamlFile, node: Optional[Node], what: str) -> Optional[str]:
    text = f.string(node, what) if node is not None else None
    if text is None or NAME.fullmatch(text):
        return text
    return f.problem(node, f"{what} {text!r} must match [a-z0-9_.-]+ (lower-case letters, digits, '_', '.', '-')")


def text_of(f: YamlFile, pairs: Pairs, key: str) -> Optional[str]:
    node = given(pairs, key)
    return f.string(node, key) if node is not None else None


def _items(f: YamlFile, node: Optional[Node], what: str) -> list[Node]:
    """The entries of a required non-empty list (a missing one was reported already)."""
    if node is None:
        return []
    if isinstance(node, SequenceNode) and node.value:
        return node.value
    f.problem(node, f"{what} must be a non-empty list, not {show(node)}")
    return []


def _strings(f: YamlFile, node: Optional[Node], what: str) -> list[tuple[str, Node]]:
    """A list of strings, or one string standing for a list of one."""
    items = [] if node is None else node.value if isinstance(node, SequenceNode) else [node]
    texts = [(f.string(item, f"each of {what}"), item) for item in items]
    return [(text, item) for text, item in texts if text is not None]


def _only(f: YamlFile, node: Optional[Node]) -> list[Selector]:
    if isinstance(node, SequenceNode) and not node.value:
        f.problem(node, "only: must name at least one selector (omit it to run everywhere)")
    selectors = []
    for text, item in _strings(f, node, "only"):
        try:
            selectors.append(parse_selector(text))
        except SelectorError as e:
            f.problem(item, str(e))
    return selectors


def _actors(f: YamlFile, node: Optional[Node]) -> dict[str, Actor]:
    """Declared actors; `main` is always among them, since unowned steps run there."""
    actors = {MAIN: Actor(MAIN)}
    declared = f.mapping(node, "actors") if node is not None else None
    for name, (knode, vnode) in (declared or {}).items():
        if f.string(knode, "actor name", IDENT) is None:
            continue
        what = f"actor {name!r}"
        spec = {} if is_null(vnode) else f.mapping(vnode, what, ACTOR_KEYS, f"key {{}} for {what}")
        user_node = given(spec or {}, "user")
        user = f.string(user_node, "user", USER) if user_node is not None else None
        actors[name] = Actor(name, user)  # declared even if malformed: no follow-on noise
    return actors


# --- steps ------------------------------------------------------------------------------


def _step(c: StepContext, index: int, node: Node, group: Optional[int] = None,
          binding: Optional[expand.Binding] = None) -> Optional[Step]:
    """One step: its op picks the field table, and everything else follows from that table."""
    f = c.f
    c.binding = c.binding if binding is None else binding
    pairs = f.mapping(node, "a step")
    op = _op(f, pairs, node) if pairs is not None else None
    if pairs is None or op is None:
        return None
    c.op, c.args = op, {}
    f.reject(pairs, [*ops.OPS[op].fields, *ops.COMMON_STEP_KEYS], f"field {{}} for {op}")
    read_fields(c, node, pairs, ops.OPS[op].fields, op, c.args)
    _AFTER.get(op, lambda c, pairs: None)(c, pairs)
    actor = _define_sockets(c, pairs)
    expect = expectation(c, given(pairs, "expect"))
    return Step(index, op, c.args, actor, expect, text_of(f, pairs, "note"), f.pos(node), group)


def _define_sockets(c: StepContext, pairs: Pairs) -> str:
    """Register the sockets the step creates, and return the actor that runs the step: the one named
    by `actor:`, else the owner of the socket it acts on (accept's new socket inherits it), else main."""
    table = ops.OPS[c.op].fields
    owner = next((c.socks.get(c.args[n] or "") for n, fld in table.items() if fld.kind == "sock"), None)
    actor = c.args.pop("actor", None) or (owner.actor if owner else MAIN)
    for name, fld in table.items():
        sock = c.args.get(name)
        if fld.kind == "sock_new" and sock is not None and sock not in c.socks:
            kind = c.args.get("type") or (owner.type if owner else None)
            c.socks[sock] = SockInfo(kind, actor, c.f.pos(pairs[name][1]))
    return actor


def _op(f: YamlFile, pairs: Pairs, node: Node) -> Optional[str]:
    op_node = given(pairs, "op")
    if op_node is None:
        return f.problem(node, f"step has no op (known: {', '.join(sorted(ops.OPS))})")
    op = f.string(op_node, "op")
    if op is None or op in ops.OPS:
        return op
    return f.problem(op_node, unknown_name("op {}", op, ops.OPS))


def _infer_type(c: StepContext, pairs: Pairs) -> None:
    """distribute sends what its receivers take: connections to TCP listeners, datagrams to UDP sockets."""
    over = c.args.get("over")
    if c.args.get("type") is None and over:
        types = sorted({c.socks[s].type for s in over if s in c.socks} - {None})
        if len(types) > 1:
            c.f.problem(pairs["over"][1], f"over mixes {' and '.join(types)} sockets: say type: tcp or type: udp")
        c.args["type"] = types[0] if len(types) == 1 else None


def _need_group(c: StepContext, pairs: Pairs) -> None:
    """The default value 1 means nothing to IP_ADD_MEMBERSHIP, which needs a group."""
    opt = c.args.get("opt")
    if opt in ops.GROUP_OPTIONS and given(pairs, "value") is None:
        c.f.problem(pairs["opt"][1], f"{opt} needs value: an IPv4 multicast group such as 239.1.2.3")


def _variant_socket(c: StepContext, pairs: Pairs) -> None:
    """In a family variant every socket is the variant's: its family, and IPV6_V6ONLY set either way."""
    if c.family is None:
        return
    if "family" in pairs:
        c.f.problem(pairs["family"][0], f"family comes from the variant ({c.family.name}): "
                                        "a scenario with families: does not write it")
    if "v6only" in pairs:
        c.f.problem(pairs["v6only"][0], f"v6only comes from the variant ({c.family.name}): "
                                        "a scenario with families: does not write it")
    c.args["family"], c.args["v6only"] = c.family.socket, c.family.v6only


_AFTER: dict[str, Callable[[StepContext, Pairs], None]] = {
    "distribute": _infer_type, "setsockopt": _need_group, "socket": _variant_socket}
