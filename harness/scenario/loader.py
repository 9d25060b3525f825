"""Load scenario files into model dataclasses, or list everything wrong with them.

A bad file must be rejected before any target is touched, with every problem as
`file:line:column: message`, so the loader keeps going after a problem and never
lets a traceback through.  What each op accepts comes from `ops.OPS`; this module
only knows how to check each *kind* of field (sock, port, addr, ...).

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

import difflib
import glob
import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..model import Actor, Expectation, Outcome, Pos, Rule, Scenario, Selector, Step, Suite
from . import expand, ops
from .selector import SelectorError, parse_selector
from .variants import ADDRESS_FAMILIES, SYMBOLIC, Family

SUITE_KEYS = ("suite", "description", "families", "scenarios")
SCENARIO_KEYS = ("name", "description", "tags", "only", "families", "matrix", "actors", "steps")
TEMPLATE_KEYS = ("families", "matrix")  # what makes variants of a scenario; never substituted
ACTOR_KEYS = ("user",)
MAIN = "main"
NAME = re.compile(r"[a-z0-9_.-]+")  # suite and scenario names, as the contract says
IDENT = re.compile(r"[A-Za-z0-9_.-]+")  # socket and actor names: no ':', see single:<sock>
PORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ERRNO = re.compile(r"E[A-Z0-9]+")
ALLOWED_NETS = "127.0.0.0/8, ::1, 0.0.0.0, :: or a multicast group"
INT32 = (-2**31, 2**31 - 1)  # setsockopt values are C ints
USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")  # a portable user name (POSIX, useradd's default rule)
NONZERO = "nonzero"  # {value: nonzero}: the option is set, whichever number the system uses for it
_BOOL, _NULL, _STR, _MERGE = ("tag:yaml.org,2002:" + t for t in ("bool", "null", "str", "merge"))
_DEFAULT = parse_selector("default")
Pairs = dict[str, tuple[Node, Node]]  # key -> (key node, value node)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, where it was written."""

    pos: Pos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}"


class ScenarioFileError(Exception):
    """Every problem found in the files given, sorted by file, line and column.  Each is listed
    once, though a mapping merged (<<) into several steps is checked in each of them."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(dict.fromkeys(problems), key=lambda p: (p.pos.file, p.pos.line, p.pos.col))
        super().__init__("\n".join(map(str, self.problems)))


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
    owners: dict[str, _File] = {}
    for f in files:
        problems += f.problems
        name = f.suite.name if f.suite else ""
        if name in owners and f.name_pos:
            problems.append(Problem(f.name_pos, f"suite name {name!r} is already used by {owners[name].path}"))
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


class _File:
    """One file being loaded: its problems, and node helpers that record them where they occur."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.suite: Optional[Suite] = None
        self.name_pos: Optional[Pos] = None  # where `suite:` names it, for clashes across files
        self._constructor = SafeConstructor()
        self._merged: dict[int, list[tuple[Node, Node]]] = {}  # mapping node -> its pairs, merges expanded
        self.instances: list[Node] = []  # matrix instances, kept alive: _merged is keyed by id()

    def pos(self, where: Union[Node, yaml.Mark]) -> Pos:
        mark = getattr(where, "start_mark", where)
        return Pos(self.path, mark.line + 1, mark.column + 1)

    def problem(self, node: Optional[Node], message: str) -> None:
        """Record a problem at the node (line 1, column 1 without one); None, for `return f.problem(...)`."""
        self.problems.append(Problem(self.pos(node) if node is not None else Pos(self.path, 1, 1), message))

    def scalar(self, node: Node) -> Any:
        """The Python value of a scalar node; None for a list, a mapping or an unreadable tag."""
        try:
            return self._constructor.construct_object(node) if isinstance(node, ScalarNode) else None
        except Exception:  # a bad explicit tag (`!!int x`) raises all sorts; the caller says what it wanted
            return None

    def string(self, node: Node, what: str, pattern: Optional[re.Pattern] = None) -> Optional[str]:
        """A scalar's text as written; a YAML boolean or null is refused rather than read as 'True'."""
        if not isinstance(node, ScalarNode) or node.tag in (_BOOL, _NULL):
            return self.problem(node, f"{what} must be a string, not {_show(node)}")
        if pattern and not pattern.fullmatch(node.value):
            return self.problem(node, f"{what} {node.value!r} must match {pattern.pattern}")
        return node.value

    def mapping(self, node: Node, what: str, allowed: Optional[Iterable[str]] = None,
                unknown: str = "key {}") -> Optional[Pairs]:
        """The pairs of a mapping, without (but reporting) keys not `allowed`.  Of equal keys the first
        wins: _check_duplicates reported the others, and merged keys (<<) come after the node's own."""
        if not isinstance(node, MappingNode):
            return self.problem(node, f"{what} must be a mapping, not {_show(node)}")
        out: Pairs = {}
        for k, v in self._entries(node, {id(node)}):
            key = self.string(k, "a key")
            if key is not None and key not in out:
                out[key] = (k, v)
        return out if allowed is None else self.reject(out, allowed, unknown)

    def reject(self, pairs: Pairs, allowed: Iterable[str], unknown: str) -> Pairs:
        """`pairs` without the keys not in `allowed`, each reported as `unknown {unknown}`."""
        allowed = list(allowed)
        for key in [key for key in pairs if key not in allowed]:
            self.problem(pairs.pop(key)[0], _unknown(unknown, key, allowed, "allowed"))
        return pairs

    def _entries(self, node: MappingNode, seen: set[int]) -> list[tuple[Node, Node]]:
        """The mapping's own pairs, then those it merges (<<) whose keys it does not have yet.

        Each mapping is expanded once and each key kept once, so nested merges of the same
        anchor (`<<: [*m, *m, ...]` on every level) cost what the file's size does, not its
        power: a 500-byte file cannot make the loader expand billions of pairs.
        """
        if id(node) in self._merged:
            return self._merged[id(node)]
        own = [(k, v) for k, v in node.value if k.tag != _MERGE]
        keys = {_key_of(k) for k, _ in own}
        for v in (v for k, v in node.value if k.tag == _MERGE):
            for src in v.value if isinstance(v, SequenceNode) else [v]:
                if not isinstance(src, MappingNode):
                    self.problem(src, f"<< must merge a mapping, not {_show(src)}")
                elif id(src) not in seen:  # a mapping merged into itself would never end
                    for k, val in self._entries(src, seen | {id(src)}):
                        if _key_of(k) not in keys:
                            keys.add(_key_of(k))
                            own.append((k, val))
        self._merged[id(node)] = own
        return own


def _key_of(node: Node) -> Any:
    """What makes two keys equal: a scalar's tag and text; any other node only itself."""
    return (node.tag, node.value) if isinstance(node, ScalarNode) else id(node)


def _show(node: Node) -> str:
    """How a wrong value reads in a message."""
    if isinstance(node, (MappingNode, SequenceNode)):
        kind = "a mapping" if isinstance(node, MappingNode) else "a list"
        return kind if node.value else kind.replace("a ", "an empty ")
    if node.tag == _BOOL:
        return f"{node.value} (YAML reads that as a boolean: quote it)"
    return "nothing" if node.tag == _NULL else repr(node.value) if node.tag == _STR else node.value


def _unknown(what: str, name: str, known: Iterable[str], label: str = "known") -> str:
    """`unknown op 'bnd' (did you mean bind? known: accept, bind, ...)`; `what` is like "op {}"."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown {what.format(repr(name))} ({hint}{label}: {', '.join(known)})"


def _at(pos: Pos) -> str:
    return f"line {pos.line}, column {pos.col}"


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _given(pairs: Pairs, key: str) -> Optional[Node]:
    """The value node of `key`, or None when it is missing or written with no value."""
    node = pairs[key][1] if key in pairs else None
    return None if node is None or _is_null(node) else node


def _need(f: _File, pairs: Pairs, key: str, node: Node, what: str) -> Optional[Node]:
    value = _given(pairs, key)
    if value is None:
        f.problem(node, f"{what} is missing required field {key!r}")
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- reading and parsing: every failure becomes a Problem ------------------------------


def _load(path: str) -> _File:
    f = _File(path)
    root = _compose(f)
    if root is not None:
        _check_duplicates(f, root)
        f.suite = _suite(f, root)
    return f


def _compose(f: _File) -> Optional[Node]:
    try:
        with open(f.path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        return f.problem(None, f"cannot read file: {e.strerror or e}")
    try:
        text = data.decode("utf-8")
        root = _fast_compose(text)
    except UnicodeDecodeError as e:
        prefix = data[: e.start].decode("utf-8", "replace")
        message = f"not UTF-8 text (byte 0x{data[e.start]:02x}): is this a binary file?"
        return _problem_at(f, prefix, len(prefix), message)
    except yaml.reader.ReaderError as e:
        char = e.character if isinstance(e.character, int) else ord(e.character)
        message = f"character U+{char:04X} is not allowed in YAML: is this a binary file?"
        return _problem_at(f, text, e.position, message)
    except yaml.MarkedYAMLError as e:
        where = f" at {_at(f.pos(e.context_mark))}" if e.context_mark else ""
        context = f" ({e.context}{where})" if e.context else ""
        f.problems.append(Problem(f.pos(e.problem_mark) if e.problem_mark else Pos(f.path, 1, 1),
                                  f"YAML syntax error: {e.problem}{context}"))
        return None
    except RecursionError:
        return f.problem(None, "YAML error: nested too deeply")
    except yaml.YAMLError as e:
        return f.problem(None, f"YAML error: {e}")
    if root is None or _is_null(root):
        return f.problem(None, "empty file: expected a mapping with suite: and scenarios:")
    return root


_CLoader = getattr(yaml, "CSafeLoader", None)  # libyaml, when PyYAML was built with it
# libyaml's composer recurses in C: a file nested 100000 deep crashes the process (measured), where
# PyYAML's stops at Python's recursion limit. Nesting cannot exceed the flow brackets plus the
# longest line (indentation, `- - -`), so only files under this bound go to libyaml.
C_DEPTH_BOUND = 2000


def _fast_compose(text: str) -> Optional[Node]:
    """libyaml's composer where there is one and the file cannot nest deeply (about ten times
    faster; the same nodes and marks); other files, and any file libyaml refuses, are composed by
    PyYAML's own, whose messages the format documents."""
    bound = text.count("[") + text.count("{") + max(map(len, text.splitlines()), default=0)
    if _CLoader is not None and bound < C_DEPTH_BOUND:
        try:
            return yaml.compose(text, Loader=_CLoader)
        except (yaml.YAMLError, RecursionError, ValueError):
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _problem_at(f: _File, text: str, offset: int, message: str) -> None:
    """A problem at a character offset, for errors that carry no line and column."""
    line, col = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
    f.problems.append(Problem(Pos(f.path, line, col), message))


def _check_duplicates(f: _File, root: Node) -> None:
    """PyYAML silently keeps the last of two equal keys; an author wants to hear about it."""
    stack, seen = [root], set()
    while stack:  # iterative, and each node once: aliases can make the graph deep or cyclic
        node = stack.pop()
        if id(node) in seen or isinstance(node, ScalarNode):
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack += node.value
            continue
        first: dict[tuple[str, str], Pos] = {}
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.tag != _MERGE:
                if (k.tag, k.value) in first:
                    f.problem(k, f"duplicate key {k.value!r} (first at {_at(first[k.tag, k.value])})")
                first.setdefault((k.tag, k.value), f.pos(k))
            stack += [k, v]


# --- suite, scenarios, actors ----------------------------------------------------------


def _suite(f: _File, root: Node) -> Optional[Suite]:
    pairs = f.mapping(root, "the top level (suite:, scenarios:)", SUITE_KEYS, "top-level key {}")
    if pairs is None:
        return None
    name_node = _need(f, pairs, "suite", root, "the file")
    name = _name(f, name_node, "suite name")
    f.name_pos = f.pos(name_node) if name_node is not None else None
    seen: dict[str, Pos] = {}
    families = _families(f, _given(pairs, "families"))
    items = _items(f, _need(f, pairs, "scenarios", root, "the file"), "scenarios")
    scenarios = [sc for item in items for sc in _variants(f, name or "", item, seen, families)]
    return Suite(name or "", _text(f, pairs, "description"), f.path, [s for s in scenarios if s])


def _families(f: _File, node: Optional[Node]) -> list[tuple[str, Node]]:
    """The address-family variants asked for (docs/variants.md), each once, in written order."""
    if node is not None and not isinstance(node, SequenceNode):
        f.problem(node, f"families must be a list (of {', '.join(ADDRESS_FAMILIES)}), not {_show(node)}")
        return []
    out: dict[str, Node] = {}
    for text, item in _strings(f, node, "families"):
        if text not in ADDRESS_FAMILIES:
            f.problem(item, _unknown("family {}", text, ADDRESS_FAMILIES))
        elif text in out:
            f.problem(item, f"family {text!r} is listed twice")
        out.setdefault(text, item)
    return list(out.items())


def _variants(f: _File, suite: str, node: Node, seen: dict[str, Pos],
              suite_families: list[tuple[str, Node]]) -> list[Optional[Scenario]]:
    """A scenario as written, or one scenario per matrix combination and address family."""
    pairs = f.mapping(node, "a scenario", SCENARIO_KEYS, "scenario key {}")
    if pairs is None:
        return []
    families = _families(f, _given(pairs, "families")) if "families" in pairs else suite_families
    combos = expand.combinations(f, pairs["matrix"][1]) if _given(pairs, "matrix") is not None else [{}]
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


def _scenario(f: _File, suite: str, node: Node, seen: dict[str, Pos], binding: expand.Binding,
              family: Optional[Family]) -> Optional[Scenario]:
    pairs = f.mapping(node, "a scenario", SCENARIO_KEYS, "scenario key {}")
    if pairs is None:
        return None
    name_node = _need(f, pairs, "name", node, "scenario")
    name = _name(f, name_node, "scenario name")
    name = f"{name}[{family.name}]" if name is not None and family else name
    if name in seen:
        hint = " (put a ${parameter} in the name of a matrix)" if _given(pairs, "matrix") is not None else ""
        f.problem(name_node, f"duplicate scenario name {name!r} (first at {_at(seen[name])}){hint}")
    elif name is not None and name_node is not None:
        seen[name] = f.pos(name_node)
    actors, socks = _actors(f, _given(pairs, "actors")), {}
    items = [item for item in _items(f, _need(f, pairs, "steps", node, "scenario"), "steps")
             if _runs(f, item, binding)]
    ctx = _Ctx(f, actors, socks, binding, family)
    steps = [_step(ctx, index, item) for index, item in enumerate(items, 1)]
    tags = [text for text, _ in _strings(f, _given(pairs, "tags"), "tags")]
    excluded = [(_DEFAULT, reason) for reason in dict.fromkeys(ctx.skips)]
    excluded += [(parse_selector(sel), reason) for sel, reason in (family.excluded if family else ())]
    description = _text(f, pairs, "description")
    description = family.describe(description) if family else description
    return Scenario(suite, name or "", description, tags, _only(f, _given(pairs, "only")),
                    actors, [s for s in steps if s], f.pos(node), expand.describe(binding), excluded)


def _runs(f: _File, node: Node, binding: expand.Binding) -> bool:
    """Whether a step is in this combination: it has no `if:` (own or merged), or its `if:` holds."""
    pairs = f.mapping(node, "a step") if isinstance(node, MappingNode) else None
    cond = _given(pairs or {}, "if")
    if cond is None:
        return True
    if not binding:
        f.problem(cond, "if: needs parameters: a matrix: or families: on the scenario or suite")
        return True
    return expand.holds(f, cond, binding)


def _name(f: _File, node: Optional[Node], what: str) -> Optional[str]:
    text = f.string(node, what) if node is not None else None
    if text is None or NAME.fullmatch(text):
        return text
    return f.problem(node, f"{what} {text!r} must match [a-z0-9_.-]+ (lower-case letters, digits, '_', '.', '-')")


def _text(f: _File, pairs: Pairs, key: str) -> Optional[str]:
    node = _given(pairs, key)
    return f.string(node, key) if node is not None else None


def _items(f: _File, node: Optional[Node], what: str) -> list[Node]:
    """The entries of a required non-empty list (a missing one was reported already)."""
    if node is None:
        return []
    if isinstance(node, SequenceNode) and node.value:
        return node.value
    f.problem(node, f"{what} must be a non-empty list, not {_show(node)}")
    return []


def _strings(f: _File, node: Optional[Node], what: str) -> list[tuple[str, Node]]:
    """A list of strings, or one string standing for a list of one."""
    items = [] if node is None else node.value if isinstance(node, SequenceNode) else [node]
    texts = [(f.string(item, f"each of {what}"), item) for item in items]
    return [(text, item) for text, item in texts if text is not None]


def _only(f: _File, node: Optional[Node]) -> list[Selector]:
    if isinstance(node, SequenceNode) and not node.value:
        f.problem(node, "only: must name at least one selector (omit it to run everywhere)")
    selectors = []
    for text, item in _strings(f, node, "only"):
        try:
            selectors.append(parse_selector(text))
        except SelectorError as e:
            f.problem(item, str(e))
    return selectors


def _actors(f: _File, node: Optional[Node]) -> dict[str, Actor]:
    """Declared actors; `main` is always among them, since unowned steps run there."""
    actors = {MAIN: Actor(MAIN)}
    declared = f.mapping(node, "actors") if node is not None else None
    for name, (knode, vnode) in (declared or {}).items():
        if f.string(knode, "actor name", IDENT) is None:
            continue
        what = f"actor {name!r}"
        spec = {} if _is_null(vnode) else f.mapping(vnode, what, ACTOR_KEYS, f"key {{}} for {what}")
        user_node = _given(spec or {}, "user")
        user = f.string(user_node, "user", USER) if user_node is not None else None
        actors[name] = Actor(name, user)  # declared even if malformed: no follow-on noise
    return actors


# --- steps and the validator of each field kind ------------------------------------------


@dataclass
class _Sock:
    type: Optional[str]
    actor: str
    pos: Pos


@dataclass
class _Ctx:
    """What a field validator may consult: the actors and the sockets defined by earlier steps
    (a step may only use what precedes it), and in `args` the step's fields checked so far."""

    f: _File
    actors: dict[str, Actor]
    socks: dict[str, _Sock]
    binding: expand.Binding = field(default_factory=dict)  # this combination's parameters
    family: Optional[Family] = None  # the address-family variant being read, if any
    skips: list[str] = field(default_factory=list)  # why this variant cannot run anywhere
    op: str = ""
    args: dict[str, Any] = field(default_factory=dict)


def _step(c: _Ctx, index: int, node: Node) -> Optional[Step]:
    """One step: its op picks the field table, and everything else follows from that table."""
    f = c.f
    pairs = f.mapping(node, "a step")
    op = _op(f, pairs, node) if pairs is not None else None
    if pairs is None or op is None:
        return None
    c.op, c.args = op, {}
    f.reject(pairs, [*ops.OPS[op].fields, *ops.COMMON_STEP_KEYS], f"field {{}} for {op}")
    _fields(c, node, pairs, ops.OPS[op].fields, op, c.args)
    _AFTER.get(op, lambda c, pairs: None)(c, pairs)
    actor = _define_sockets(c, pairs)
    expect = _expectation(c, _given(pairs, "expect"))
    return Step(index, op, c.args, actor, expect, _text(f, pairs, "note"), f.pos(node))


def _define_sockets(c: _Ctx, pairs: Pairs) -> str:
    """Register the sockets the step creates, and return the actor that runs the step: the one named
    by `actor:`, else the owner of the socket it acts on (accept's new socket inherits it), else main."""
    table = ops.OPS[c.op].fields
    owner = next((c.socks.get(c.args[n] or "") for n, fld in table.items() if fld.kind == "sock"), None)
    actor = c.args.pop("actor", None) or (owner.actor if owner else MAIN)
    for name, fld in table.items():
        sock = c.args.get(name)
        if fld.kind == "sock_new" and sock is not None and sock not in c.socks:
            kind = c.args.get("type") or (owner.type if owner else None)
            c.socks[sock] = _Sock(kind, actor, c.f.pos(pairs[name][1]))
    return actor


def _op(f: _File, pairs: Pairs, node: Node) -> Optional[str]:
    op_node = _given(pairs, "op")
    if op_node is None:
        return f.problem(node, f"step has no op (known: {', '.join(sorted(ops.OPS))})")
    op = f.string(op_node, "op")
    if op is None or op in ops.OPS:
        return op
    return f.problem(op_node, _unknown("op {}", op, ops.OPS))


def _fields(c: _Ctx, node: Node, pairs: Pairs, table: dict[str, ops.Field], what: str, into: dict) -> dict:
    """Check each field in table order (so `value` and `level` can consult `opt`), filling in defaults."""
    for name, fld in table.items():
        value = _given(pairs, name)
        if value is None and fld.required:
            c.f.problem(node, f"{what} is missing required field {name!r}")
        into[name] = fld.default if value is None else _KINDS[fld.kind](c, name, value, fld)
    return into


def _v_sock_new(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    sock = c.f.string(node, "socket name", IDENT)
    if sock in c.socks:
        c.f.problem(node, f"socket {sock!r} is already defined (at {_at(c.socks[sock].pos)})")
    return sock


def _v_sock(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    sock = c.f.string(node, "socket name", IDENT)
    if sock is not None and sock not in c.socks:  # returned all the same: single:<sock> checks the names written
        c.f.problem(node, f"undefined socket {sock!r} (defined so far: {', '.join(c.socks) or 'none'})")
    return sock


def _v_socks(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[list]:
    if not isinstance(node, SequenceNode) or not node.value:
        return c.f.problem(node, f"{name} must be a non-empty list of sockets, not {_show(node)}")
    socks = [_v_sock(c, name, item, fld) for item in node.value]
    for i, item in enumerate(node.value):
        if socks[i] is not None and socks[i] in socks[:i]:
            c.f.problem(item, f"socket {socks[i]!r} is listed twice in {name}")
    return socks


def _one_of(c: _Ctx, node: Node, what: str, known: Iterable[str], complaint: Callable[[str], str]) -> Optional[str]:
    """A string that must be one of `known`; otherwise the complaint about it is the problem."""
    text = c.f.string(node, what)
    if text is None or text in known:
        return text
    return c.f.problem(node, complaint(text))


def _v_actor(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    return _one_of(c, node, name, c.actors,
                   lambda actor: f"actor {actor!r} is not declared in actors: (declared: {', '.join(c.actors)})")


def _v_choice(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    return _one_of(c, node, name, fld.choices,
                   lambda text: f"{name} must be one of {', '.join(fld.choices)}, not {text!r}")


def _v_int(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[int]:
    value = c.f.scalar(node)
    if _is_int(value) and 0 <= value <= (fld.maximum if fld.maximum is not None else value):
        return value
    most = f" up to {fld.maximum}" if fld.maximum is not None else ""
    return c.f.problem(node, f"{name} must be a non-negative integer{most}, not {_show(node)}")


def _v_value(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Any:
    """An int or bool (as 0/1), except for options such as IP_ADD_MEMBERSHIP that take a group."""
    opt = c.args.get("opt")
    if opt in ops.GROUP_OPTIONS:
        ip = _ip(node.value) if isinstance(node, ScalarNode) else None
        if ip is not None and ip.version == 4 and ip.is_multicast:
            return node.value
        return c.f.problem(node, f"{name} of {opt} must be an IPv4 multicast group such as 239.1.2.3, "
                                 f"not {_show(node)}")
    value = c.f.scalar(node)
    if isinstance(value, bool) or (_is_int(value) and INT32[0] <= value <= INT32[1]):
        return int(value)
    return c.f.problem(node, f"{name} must be a boolean or an integer that fits a C int "
                             f"({INT32[0]}..{INT32[1]}), not {_show(node)}")


def _v_text(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    return c.f.string(node, name)


def _v_addr(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
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


def _variant_addr(c: _Ctx, node: Node, text: str) -> Optional[str]:
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


def _v_port(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Union[int, str, None]:
    value = c.f.scalar(node)
    if (_is_int(value) and 0 <= value <= 65535) or (isinstance(value, str) and PORT_NAME.fullmatch(value)):
        return value
    return c.f.problem(node, f"{name} must be a number 0..65535 or a symbolic name such as P, not {_show(node)}")


def _v_opt(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    opt = _one_of(c, node, name, ops.OPTIONS, lambda opt: _unknown("option {}", opt, ops.OPTIONS))
    reason = c.family.ipv4_only(opt) if c.family and opt and ops.OPTIONS[opt] == "IPPROTO_IP" else None
    c.skips += [reason] if reason else []
    return opt


def _v_bool(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[bool]:
    value = c.f.scalar(node)
    if isinstance(value, bool):
        return value
    return c.f.problem(node, f"{name} must be true or false, not {_show(node)}")


def _v_level(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[str]:
    level, opt = c.f.string(node, name), c.args.get("opt")
    if level is not None and level not in ops.LEVELS:
        return c.f.problem(node, _unknown("level {}", level, ops.LEVELS))
    if level is not None and opt in ops.OPTIONS and ops.OPTIONS[opt] != level:
        return c.f.problem(node, f"level {level} does not match {opt}, which is at {ops.OPTIONS[opt]}")
    return level


def _v_dest(c: _Ctx, name: str, node: Node, fld: ops.Field) -> Optional[dict]:
    what = f"{c.op} {name}"
    pairs = c.f.mapping(node, what, ops.DEST_FIELDS, f"field {{}} in {what}")
    return None if pairs is None else _fields(c, node, pairs, ops.DEST_FIELDS, what, {})


Validator = Callable[[_Ctx, str, Node, ops.Field], Any]
_KINDS: dict[str, Validator] = {
    "sock_new": _v_sock_new, "sock": _v_sock, "socks": _v_socks, "actor": _v_actor,
    "choice": _v_choice, "int": _v_int, "bool": _v_bool, "value": _v_value, "text": _v_text,
    "addr": _v_addr, "port": _v_port, "opt": _v_opt, "level": _v_level, "dest": _v_dest,
}


def _infer_type(c: _Ctx, pairs: Pairs) -> None:
    """distribute sends what its receivers take: connections to TCP listeners, datagrams to UDP sockets."""
    over = c.args.get("over")
    if c.args.get("type") is None and over:
        types = sorted({c.socks[s].type for s in over if s in c.socks} - {None})
        if len(types) > 1:
            c.f.problem(pairs["over"][1], f"over mixes {' and '.join(types)} sockets: say type: tcp or type: udp")
        c.args["type"] = types[0] if len(types) == 1 else None


def _need_group(c: _Ctx, pairs: Pairs) -> None:
    """The default value 1 means nothing to IP_ADD_MEMBERSHIP, which needs a group."""
    opt = c.args.get("opt")
    if opt in ops.GROUP_OPTIONS and _given(pairs, "value") is None:
        c.f.problem(pairs["opt"][1], f"{opt} needs value: an IPv4 multicast group such as 239.1.2.3")


def _variant_socket(c: _Ctx, pairs: Pairs) -> None:
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


_AFTER: dict[str, Callable[[_Ctx, Pairs], None]] = {
    "distribute": _infer_type, "setsockopt": _need_group, "socket": _variant_socket}


# --- expectations ---------------------------------------------------------------------


def _expectation(c: _Ctx, node: Optional[Node]) -> Expectation:
    if node is None:
        return Expectation((Rule(_DEFAULT, Outcome(ops.OPS[c.op].default_expect)),))
    if isinstance(node, MappingNode) and not _is_value_outcome(node):
        return Expectation(tuple(_rules(c, node)), c.f.pos(node))
    outcome = _outcome(c, node)
    return Expectation((Rule(_DEFAULT, outcome),) if outcome else (), c.f.pos(node))


def _is_value_outcome(node: Node) -> bool:
    """`{value: N}` is an outcome, not a one-entry selector map (`value` is no OS family)."""
    return isinstance(node, MappingNode) and len(node.value) == 1 and node.value[0][0].value == "value"


def _rules(c: _Ctx, node: Node) -> list[Rule]:
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
            first[same] = f"{written!r} at {_at(c.f.pos(knode))}"
            if key != written:
                narrowed.add(same)
        outcome = _outcome(c, vnode)
        rules += [Rule(selector, outcome)] if outcome else []
    return rules


def _outcomes(op: str) -> str:
    """The outcomes an op may expect, as an author writes them, for messages."""
    kinds = ops.OPS[op].outcomes
    spelled = [k for k in kinds if k in ops.WORDS]
    spelled += ["an errno name such as EADDRINUSE"] if "errno" in kinds else []
    spelled += ["single:<sock>"] if "single" in kinds else []
    return ", ".join(spelled + ["any"] + (["{value: N}", "{value: nonzero}"] if "value" in kinds else []))


def _kind(word: str) -> Optional[str]:
    """The outcome kind a scalar spells, whichever op it is for; None if it spells none."""
    if word in ops.WORDS:
        return word
    if word.startswith("single:"):
        return "single"
    return "errno" if ERRNO.fullmatch(word) else None


def _ops_taking(kind: str) -> list[str]:
    return [name for name, op in ops.OPS.items() if kind in op.outcomes]


def _misplaced(c: _Ctx, kind: str) -> str:
    """`only for distribute steps` or `not for distribute steps`: whichever says it shorter."""
    takers = _ops_taking(kind)
    return f"only for {takers[0]} steps" if len(takers) == 1 else f"not for {c.op} steps"


def _outcome(c: _Ctx, node: Node) -> Optional[Outcome]:
    allowed = ops.OPS[c.op].outcomes
    if _is_value_outcome(node):
        if "value" not in allowed:
            return c.f.problem(node, f"{{value: N}} is {_misplaced(c, 'value')}, not {c.op}")
        return _value_outcome(c, node)
    if not isinstance(node, ScalarNode) or node.tag in (_BOOL, _NULL):
        return c.f.problem(node, f"expected an outcome ({_outcomes(c.op)}), not {_show(node)}")
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


def _single(c: _Ctx, node: Node, sock: str) -> Optional[Outcome]:
    over = c.args.get("over")
    if over is not None and sock not in over:
        return c.f.problem(node, f"single:{sock}: socket {sock!r} is not in over ({', '.join(s for s in over if s)})")
    return Outcome("single", sock)


def _value_outcome(c: _Ctx, node: Node) -> Optional[Outcome]:
    """`{value: N}` (exactly N, as the kernel returned it) or `{value: nonzero}` (set, whatever the number)."""
    value_node = node.value[0][1]
    value = c.f.scalar(value_node)
    if value == NONZERO:
        return Outcome("value", NONZERO)
    if isinstance(value, bool) or _is_int(value):
        return Outcome("value", int(value))
    return c.f.problem(value_node, f"expected value must be an integer or nonzero, not {_show(value_node)}")
