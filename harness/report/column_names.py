"""Column names of a merged report: a target that ran on several machines is named by what ran.

`harness report` merges results files made on different machines (one CI job per OS), and
each of them has its own `local`. A target name found in more than one of the files becomes
TARGET@SYSTEM, SYSTEM being the system its agent reported: `local@macos-15`,
`local@freebsd-14.4`, `local@linux-6.8` (macOS by major version, as Apple numbers its
releases; others by major.minor), never the host name, which changes with every CI runner. So
the same jobs give the same JUnit suite names and HTML columns night after night, whatever
order the files are given in; a name found in one file only is kept as it is.

Names that still collide are told apart by what differs: the machine (`-arm64`, `-x86_64`),
or for an emulated target the kernel under it (`-on-linux-6.8`); then, for twins, by `#2`,
`#3` in the order of the files' paths. Pure: the names depend only on what the files hold
and where they are.
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import PurePath
from typing import Any, Mapping, Sequence

_SHOWN_FAMILY = {"darwin": "macos"}
_MAJOR_ONLY = {"darwin"}  # macOS 15.6 and 15.7 are one release line; FreeBSD 14.3 and 14.4 are not
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

Entry = tuple[str, Mapping[str, Any]]  # (results file, its target entry)


def system_label(family: str, version: str) -> str:
    """`macos-15`, `freebsd-14.4`, `linux-6.8`: the release line a system belongs to."""
    parts = re.findall(r"\d+", version or "")
    keep = 1 if family in _MAJOR_ONLY else 2
    shown = ".".join(parts[:keep]) or "unknown"
    return f"{_SHOWN_FAMILY.get(family, family or 'unknown')}-{shown}"


def _system(source: str, target: Mapping[str, Any]) -> str:
    """What the column is: as measured, else as declared, else the folder its results came from."""
    shown = target.get("identity") or target.get("declared")
    if shown:
        return system_label(str(shown.get("family", "")), str(shown.get("version", "")))
    path = PurePath(source)
    return _UNSAFE.sub("_", path.parent.name if path.name == "results.json" and path.parent.name else path.stem)


def _where(target: Mapping[str, Any]) -> str:
    """What tells two runs of one system apart: the kernel under an emulation, else the machine."""
    ident = target.get("identity") or {}
    under = str(ident.get("emulated_on") or "")
    if under:
        family, _, version = under.partition(" ")
        return "on-" + system_label(family.lower(), version)
    return _UNSAFE.sub("_", str(ident.get("machine") or "").lower())


def _twin_order(entries: Sequence[Entry], index: int) -> tuple[str, str, int]:
    source, target = entries[index]
    return source, str((target.get("identity") or {}).get("release", "")), index


def column_keys(entries: Sequence[Entry]) -> list[str]:
    """One unique key per target entry, in the entries' order."""
    files_of: dict[str, set[str]] = defaultdict(set)
    for source, target in entries:
        files_of[target["name"]].add(source)
    keys = [t["name"] if len(files_of[t["name"]]) < 2 else f"{t['name']}@{_system(s, t)}" for s, t in entries]
    for group in _collisions(keys):
        wheres = [_where(entries[i][1]) for i in group]
        if "@" in keys[group[0]] and len(set(wheres)) > 1:
            for i, where in zip(group, wheres):
                keys[i] = f"{keys[i]}-{where}" if where else keys[i]
    for group in _collisions(keys):
        base = keys[group[0]]
        for n, i in enumerate(sorted(group, key=lambda j: _twin_order(entries, j))[1:], 2):
            keys[i] = _free(f"{base}#{n}", keys)
    return keys


def _collisions(keys: Sequence[str]) -> list[list[int]]:
    at: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        at[key].append(i)
    return [group for group in at.values() if len(group) > 1]


def _free(key: str, taken: Sequence[str]) -> str:
    n, out = 1, key
    while out in taken:
        n += 1
        out = f"{key}.{n}"
    return out

