"""The scenario library the harness ships, by name: `harness run reuseport timewait`, `harness run all`.

A command's FILES are paths first: an argument naming an existing file or folder, or shaped like a
path (a `/`, a `.yaml` ending), is one, exactly as before there were names. Any other argument is
the name of a shipped suite (scenarios/NAME.yaml, whose `suite:` is NAME), or `all` for every one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..resources import scenarios_dir, shown

ALL = "all"


class UnknownSuite(ValueError):
    """An argument that is neither a path nor a shipped suite; the message lists the suites."""


def shipped() -> dict[str, Path]:
    """Suite name -> file, for every suite of the library, by name."""
    return {path.stem: path for path in sorted(scenarios_dir().glob("*.yaml"))}


def _is_path(arg: str) -> bool:
    return os.path.exists(arg) or os.sep in arg or arg.endswith((".yaml", ".yml")) or arg.startswith(".")


def resolve(args: Sequence[str]) -> list[str]:
    """The files and folders to load for a command's FILES arguments, names replaced by the library's files
    (shown relative to the current folder when inside it, as `scenarios/reuseport.yaml` in a checkout)."""
    library = shipped()
    files: list[str] = []
    unknown = []
    for arg in args:
        if _is_path(arg):
            files.append(arg)
        elif arg == ALL:
            files.extend(shown(path) for path in library.values())
        elif arg in library:
            files.append(shown(library[arg]))
        else:
            unknown.append(arg)
    if unknown:
        raise UnknownSuite(f"no such file or shipped suite: {', '.join(unknown)} (shipped suites: "
                           f"{', '.join(library) or 'none'}, or {ALL}; `harness suites` lists them)")
    return files
