"""Reading a scenario file's YAML as nodes, with every problem kept at its file:line:column.

The loader reads nodes rather than Python values so that each problem can say
where it was written, and keeps going after one, so that a file's every problem
is listed at once. This module knows YAML, not scenarios: composing a file
(libyaml where it is safe, PyYAML otherwise), duplicate keys, merge keys (<<),
and reading a scalar, a string or a mapping as an author means it.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..model import Pos

BOOL, NULL, STR, MERGE = ("tag:yaml.org,2002:" + t for t in ("bool", "null", "str", "merge"))
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


class YamlFile:
    """One file being loaded: its problems, and node helpers that record them where they occur."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
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
        if not isinstance(node, ScalarNode) or node.tag in (BOOL, NULL):
            return self.problem(node, f"{what} must be a string, not {show(node)}")
        if pattern and not pattern.fullmatch(node.value):
            return self.problem(node, f"{what} {node.value!r} must match {pattern.pattern}")
        return node.value

    def mapping(self, node: Node, what: str, allowed: Optional[Iterable[str]] = None,
                unknown: str = "key {}") -> Optional[Pairs]:
        """The pairs of a mapping, without (but reporting) keys not `allowed`.  Of equal keys the first
        wins: check_duplicates reported the others, and merged keys (<<) come after the node's own."""
        if not isinstance(node, MappingNode):
            return self.problem(node, f"{what} must be a mapping, not {show(node)}")
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
            self.problem(pairs.pop(key)[0], unknown_name(unknown, key, allowed, "allowed"))
        return pairs

    def _entries(self, node: MappingNode, seen: set[int]) -> list[tuple[Node, Node]]:
        """The mapping's own pairs, then those it merges (<<) whose keys it does not have yet.

        Each mapping is expanded once and each key kept once, so nested merges of the same
        anchor (`<<: [*m, *m, ...]` on every level) cost what the file's size does, not its
        power: a 500-byte file cannot make the loader expand billions of pairs.
        """
        if id(node) in self._merged:
            return self._merged[id(node)]
        own = [(k, v) for k, v in node.value if k.tag != MERGE]
        keys = {_key_of(k) for k, _ in own}
        for v in (v for k, v in node.value if k.tag == MERGE):
            for src in v.value if isinstance(v, SequenceNode) else [v]:
                if not isinstance(src, MappingNode):
                    self.problem(src, f"<< must merge a mapping, not {show(src)}")
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


def show(node: Node) -> str:
    """How a wrong value reads in a message."""
    if isinstance(node, (MappingNode, SequenceNode)):
        kind = "a mapping" if isinstance(node, MappingNode) else "a list"
        return kind if node.value else kind.replace("a ", "an empty ")
    if node.tag == BOOL:
        return f"{node.value} (YAML reads that as a boolean: quote it)"
    return "nothing" if node.tag == NULL else repr(node.value) if node.tag == STR else node.value


def unknown_name(what: str, name: str, known: Iterable[str], label: str = "known") -> str:
    """`unknown op 'bnd' (did you mean bind? known: accept, bind, ...)`; `what` is like "op {}"."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown {what.format(repr(name))} ({hint}{label}: {', '.join(known)})"


def at(pos: Pos) -> str:
    return f"line {pos.line}, column {pos.col}"


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL


def given(pairs: Pairs, key: str) -> Optional[Node]:
    """The value node of `key`, or None when it is missing or written with no value."""
    node = pairs[key][1] if key in pairs else None
    return None if node is None or is_null(node) else node


def need(f: YamlFile, pairs: Pairs, key: str, node: Node, what: str) -> Optional[Node]:
    value = given(pairs, key)
    if value is None:
        f.problem(node, f"{what} is missing required field {key!r}")
    return value


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def compose(f: YamlFile) -> Optional[Node]:
    """The file's root node, or None with the problem recorded (unreadable, not UTF-8, not YAML, empty)."""
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
        where = f" at {at(f.pos(e.context_mark))}" if e.context_mark else ""
        context = f" ({e.context}{where})" if e.context else ""
        f.problems.append(Problem(f.pos(e.problem_mark) if e.problem_mark else Pos(f.path, 1, 1),
                                  f"YAML syntax error: {e.problem}{context}"))
        return None
    except RecursionError:
        return f.problem(None, "YAML error: nested too deeply")
    except yaml.YAMLError as e:
        return f.problem(None, f"YAML error: {e}")
    if root is None or is_null(root):
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


def _check_encodable(f: YamlFile, node: ScalarNode) -> None:
    bad = next((ch for ch in node.value if "\ud800" <= ch <= "\udfff"), None)
    if bad is not None:
        f.problem(node, f"character U+{ord(bad):04X} (a lone surrogate) cannot be written as UTF-8: "
                        "write the character itself, or its \\UXXXXXXXX escape")


def _problem_at(f: YamlFile, text: str, offset: int, message: str) -> None:
    """A problem at a character offset, for errors that carry no line and column."""
    line, col = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
    f.problems.append(Problem(Pos(f.path, line, col), message))


def check_duplicates(f: YamlFile, root: Node) -> None:
    """PyYAML silently keeps the last of two equal keys; an author wants to hear about it. Text no
    file can hold is refused here too: a lone surrogate (`"\\ud800"`) would pass every check
    and then fail the results file, JUnit and HTML writers, losing the run."""
    stack, seen = [root], set()
    while stack:  # iterative, and each node once: aliases can make the graph deep or cyclic
        node = stack.pop()
        if id(node) in seen:
            continue
        if isinstance(node, ScalarNode):
            seen.add(id(node))
            _check_encodable(f, node)
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack += node.value
            continue
        first: dict[tuple[str, str], Pos] = {}
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.tag != MERGE:
                if (k.tag, k.value) in first:
                    f.problem(k, f"duplicate key {k.value!r} (first at {at(first[k.tag, k.value])})")
                first.setdefault((k.tag, k.value), f.pos(k))
            stack += [k, v]
