"""Target selectors (`linux<3.9`, `bsd`, `default`) and expectation resolution.

Pure functions: a selector is matched against an Identity, and an expectation
resolves to the first rule whose selector matches, in written order.
"""
from __future__ import annotations

import operator
import re
from typing import Callable, Optional

from .model import Expectation, Identity, Rule, Selector

FAMILIES = ("linux", "freebsd", "darwin", "netbsd", "openbsd", "dragonfly")
ALIASES = {"macos": "darwin"}
BSD_FAMILIES = frozenset(("freebsd", "darwin", "netbsd", "openbsd", "dragonfly"))
GROUPS = {"bsd": BSD_FAMILIES}

_COMPARE: dict[str, Callable[[tuple, tuple], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}
_SELECTOR = re.compile(r"^([a-z]+)\s*(?:(<=|>=|==|!=|<|>|=)\s*(\d+(?:\.\d+)*))?$")


class SelectorError(ValueError):
    """A selector that does not follow the grammar; the message says why."""


def parse_selector(text: str) -> Selector:
    """Parse `family[op version]`; raise SelectorError with a readable reason."""
    m = _SELECTOR.match(text.strip())
    if not m:
        raise SelectorError(
            f"bad selector {text!r}: expected a family such as linux, freebsd, darwin, bsd "
            "or default, optionally with one comparison such as linux<3.9"
        )
    family, op, version = m.groups()
    family = ALIASES.get(family, family)
    known = FAMILIES + tuple(GROUPS) + ("default",)
    if family not in known:
        raise SelectorError(f"bad selector {text!r}: unknown OS family {family!r} (known: {', '.join(known)}, macos)")
    if op and (family in GROUPS or family == "default"):
        raise SelectorError(f"bad selector {text!r}: {family} cannot carry a version comparison")
    vt = tuple(int(p) for p in version.split(".")) if version else None
    return Selector(family=family, op=op, version=vt, text=text.strip())


def matches(sel: Selector, ident: Identity) -> bool:
    """Does the selector apply to a target with this identity?"""
    if sel.family == "default":
        return True
    family = ALIASES.get(ident.family, ident.family)
    if sel.family in GROUPS:
        return family in GROUPS[sel.family]
    if sel.family != family:
        return False
    if sel.op is None:
        return True
    return _compare_versions(ident.version_tuple, sel.op, sel.version or ())


def _compare_versions(have: tuple[int, ...], op: str, want: tuple[int, ...]) -> bool:
    """Numeric, component by component; missing components count as 0 (3.9 == 3.9.0)."""
    width = max(len(have), len(want))
    pad = lambda v: tuple(v) + (0,) * (width - len(v))  # noqa: E731
    return _COMPARE[op](pad(have), pad(want))


def resolve(expect: Expectation, ident: Identity) -> Optional[Rule]:
    """The first rule whose selector matches, or None if none does."""
    for rule in expect.rules:
        if matches(rule.selector, ident):
            return rule
    return None
