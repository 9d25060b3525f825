"""The rump provider's part of the command line: `harness rump build`.

Kept apart from rump_build.py so that building the command line loads nothing of the build.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional

import click


def run_options(command: Callable) -> Callable:
    """The rump target adds no option to `harness run`."""
    return command


def settings(values: dict[str, Any]) -> None:
    return None


@click.group("rump")
def rump_group() -> None:
    """NetBSD's network stack as a rump kernel (the `rump` target)."""


@rump_group.command("build")
@click.option("--src", metavar="BUILDRUMP_DIR,SRC_NETBSD_DIR",
              help="Local checkouts of rumpkernel/buildrump.sh and rumpkernel/src-netbsd (branch buildrump-src) "
                   "instead of cloning them.")
@click.option("--jobs", "-j", default=None, type=click.IntRange(1, 256), help="Parallel make jobs [CPUs].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Install the libraries here instead of the cache the `rump` target looks in.")
def build(src: Optional[str], jobs: Optional[int], out_dir: Optional[str]) -> None:
    """Build NetBSD's network stack (rump kernel libraries) at the pinned revisions, for the `rump` target."""
    from .rump_build import main

    sys.exit(main(src, jobs, out_dir))


COMMANDS = [rump_group]
