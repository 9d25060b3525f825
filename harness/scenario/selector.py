"""The selector grammar (`linux<3.9`, `bsd`, `default`): which targets an expectation is for.

Parsing only; which selector matches a target is judging (harness/judge/expectations.py).
"""
from __future__ import annotations

import re

from ..model import Selector

OS_FAMILIES = ("linux", "freebsd", "darwin", "netbsd", "openbsd", "dragonfly")
ALIASES = {"macos": "darwin"}
BSD_FAMILIES = frozenset(("freebsd", "darwin", "netbsd", "openbsd", "dragonfly"))
GROUPS = {"bsd": BSD_FAMILIES}
# A version is up to 8 components of up to 9 digits: no kernel needs more, and Python refuses
# to turn a string of over 4,300 digits into an int.
_SELECTOR = re.compile(r"^([a-z]+)\s*(?:(<=|>=|==|!=|<|>|=)\s*(\d{1,9}(?:\.\d{1,9}){0,7}))?$")


class SelectorError(ValueError):
    """A selector that does not follow the grammar; the message says why."""


_SYSTEM = re.compile(r"^([a-z]+)[-\s]+(\d{1,9}(?:\.\d{1,9}){0,7})$")


def shorten(text: str, limit: int = 80) -> str:
    """A value as it reads in a message: at most `limit` characters."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def parse_system(text: str) -> tuple[str, str]:
    """`freebsd-14`, `macos 14`, `linux-3.2` -> (family, version); ValueError naming the families."""
    m = _SYSTEM.match(text.strip().lower())
    family = ALIASES.get(m.group(1), m.group(1)) if m else ""
    if family not in OS_FAMILIES:
        raise ValueError(f"{shorten(text)!r} is not a system such as freebsd-14, macos-14, linux-3.2 "
                         f"(families: {', '.join(OS_FAMILIES)}, macos)")
    return family, m.group(2)


def parse_selector(text: str) -> Selector:
    """Parse `family[op version]`; raise SelectorError with a readable reason."""
    m = _SELECTOR.match(text.strip())
    if not m:
        raise SelectorError(
            f"bad selector {shorten(text)!r}: expected a family such as linux, freebsd, darwin, bsd "
            "or default, optionally with one comparison such as linux<3.9"
        )
    family, op, version = m.groups()
    family = ALIASES.get(family, family)
    known = OS_FAMILIES + tuple(GROUPS) + ("default",)
    if family not in known:
        raise SelectorError(f"bad selector {text!r}: unknown OS family {family!r} (known: {', '.join(known)}, macos)")
    if op and (family in GROUPS or family == "default"):
        raise SelectorError(f"bad selector {text!r}: {family} cannot carry a version comparison")
    vt = tuple(int(p) for p in version.split(".")) if version else None
    return Selector(family=family, op=op, version=vt, text=text.strip())
