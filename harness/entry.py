"""The `harness` command: `harness --version` answers before the command line module is imported.

Importing harness.cli loads click, rich, YAML and the whole run machinery (about 100 ms); a version
check, which scripts and CI matrices run often, needs none of it.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from . import __version__, streams


def main(argv: Optional[Sequence[str]] = None) -> None:
    streams.install()  # before anything prints: closed, full or early-closed streams (harness/streams.py)
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(f"harness, version {__version__}")  # what click's version option prints
        return
    from .cli import main as cli_main
    cli_main(args)
