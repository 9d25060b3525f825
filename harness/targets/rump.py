"""`rump` (`rump://netbsd`): NetBSD's network stack, run in-process by the agent as a rump kernel.

NetBSD's kernel code (sockets, TCP/IP for IPv4 and IPv6, loopback) built as Linux shared libraries
by the rump kernel project's buildrump.sh (the harness neither ships nor builds them). The agent loads them (`agent.py --rump DIR`)
and boots a fresh kernel per scenario, so every answer is NetBSD's own code's. The agent reads the
kernel's identity from the kernel (kern.osrelease) and says "rump kernel on <host>" in it: the
column is NetBSD's, neither emulated nor a NetBSD machine. docs/rump.md.
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Optional

from ..files import cache_dir
from .base import AgentSession, Availability, Target, TargetInfo
from .local import agent_command
from .process import ProcessSession
from .registry import TargetSettings, TargetURL

ENV = "HARNESS_RUMP_LIB"
SYSTEM = "netbsd 7.99"  # the kernel the target was checked against: expectations where none ran
HINT = (f"set {ENV}=DIR to a folder holding librump.so and the network libraries, or put them in "
        "~/.cache/harness/rump/netbsd-7.99-<machine>/lib or PREFIX/share/rump/netbsd-7.99-rump-net-<machine>/lib "
        "of the Python environment harness runs in (docs/rump.md)")


def cache_folder() -> Path:
    """The folder the product keeps the libraries in for this machine kind, where a user may put them."""
    return cache_dir() / "rump" / f"netbsd-7.99-{platform.machine()}" / "lib"


def environment_folder() -> Path:
    """Where an installer unpacked the libraries into the Python environment harness runs in (the
    checkout's scripts/setup.sh does, into .venv): its set-up alone makes `rump` available."""
    return Path(sys.prefix) / "share" / "rump" / f"netbsd-7.99-rump-net-{platform.machine()}" / "lib"


def library_folder() -> tuple[Optional[Path], str]:
    """(folder, how it was chosen): HARNESS_RUMP_LIB wins, else the cache if a user put them there,
    else the Python environment's copy."""
    chosen = os.environ.get(ENV)
    if chosen:
        return Path(chosen).expanduser(), ENV
    for folder, source in ((cache_folder(), "the harness's cache folder"),
                           (environment_folder(), "the Python environment's share/rump")):
        if (folder / "librump.so").exists():
            return folder, source
    return None, ""


class RumpTarget(Target):
    """The agent on this machine, calling a NetBSD rump kernel instead of the host's kernel."""

    def __init__(self) -> None:
        self.folder, source = library_folder()
        details = {"libraries": f"{self.folder} ({source})"} if self.folder else {}
        self.info = TargetInfo("rump", "rump", f"NetBSD's network stack as a rump kernel, in-process on "
                                               f"{platform.system()} {platform.release()}",
                               details=details, system=SYSTEM)

    def availability(self) -> Availability:
        """Libraries named or built: available. A named folder that is wrong is the agent's to say
        (an infrastructure error with the loader's reason), not a reason to skip quietly."""
        if self.folder is None:
            return Availability(False, f"no NetBSD rump kernel libraries: {HINT}")
        return Availability(True)

    def launch(self, needs_root: bool = False) -> AgentSession:
        """No root needed: actors of other users are uids inside the rump kernel."""
        return ProcessSession(agent_command() + ["--rump", str(self.folder)])


def catalogue(settings: TargetSettings) -> list[Target]:
    return [RumpTarget()]


def from_url(url: TargetURL, settings: TargetSettings) -> Target:
    """`rump://netbsd` is `rump`."""
    url.only()
    if url.host != "netbsd" or url.user or url.port or url.path not in ("", "/"):
        raise ValueError(f"{url.text}: expected rump://netbsd")
    return RumpTarget()
