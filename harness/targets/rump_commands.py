"""The rump provider's part of the command line: `harness rump build`.

Kept apart from rump_build.py so that building the command line loads nothing of the build.
"""
from __future__ import annotations

import signal
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
    """Build NetBSD's network stack (rump kernel libraries) at the pinned revisions, for the `rump` target.

    Needs git (unless --src), a C compiler, make and zlib's headers (Debian: build-essential zlib1g-dev);
    about 5 minutes on 2 cores. Exit status 0 built, 2 bad input, 3 the build failed, 130 interrupted."""
    from .rump_build import main

    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the build as Ctrl-C does
    sys.exit(main(src, jobs, out_dir))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


COMMANDS = [rump_group]
