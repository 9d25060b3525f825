"""Which expectation applies to a target: selectors matched against its identity.

Pure functions: a selector is matched against an Identity, and an expectation
resolves to the first rule whose selector matches, in written order.
"""
from __future__ import annotations

import operator
from typing import Callable, Optional

from ..model import Expectation, Identity, Selector
from ..scenario.selector import ALIASES, GROUPS

_COMPARE: dict[str, Callable[[tuple, tuple], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}


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


def resolve(expect: Expectation, ident: Identity) -> Optional[int]:
    """The index of the first rule whose selector matches, or None if none does."""
    for index, rule in enumerate(expect.rules):
        if matches(rule.selector, ident):
            return index
    return None
