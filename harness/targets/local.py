"""`local` (this machine's kernel) and `local-legacy` (Linux < 3.9, emulated on it).

Both run the agent as a subprocess; on Linux every scenario gets a fresh network
namespace, which needs CAP_SYS_ADMIN (root).  The legacy emulation is a seccomp
filter, installed through libseccomp (its own Python binding, or pyseccomp from
PyPI over the system's libseccomp, so that a venv of any Python works), that makes
SOL_SOCKET/SO_REUSEPORT fail with ENOPROTOOPT exactly as a 3.8 kernel does.
"""
from __future__ import annotations

import errno
import hashlib
import os
import platform
import py_compile
import stat
import sys
from typing import Optional

from ..files import cache_dir
from ..model import Identity
from .base import AGENT_PATH, AgentSession, Availability, Target, TargetInfo
from .process import ProcessSession
from .registry import TargetSettings, TargetURL

LEGACY_VERSION = "3.8"


def agent_python() -> str:
    """The interpreter that runs the agent locally (HARNESS_AGENT_PYTHON overrides)."""
    return os.environ.get("HARNESS_AGENT_PYTHON") or sys.executable


def agent_command() -> list[str]:
    """The agent needs only the standard library: -S skips site-packages, and their start-up cost. It
    runs from its compiled form where that can be kept (a script is compiled at every start)."""
    return [agent_python(), "-S", str(compiled_agent() or AGENT_PATH)]


def compiled_agent() -> Optional[Path]:
    """agent.py compiled for the interpreter that runs it, kept in the cache folder under the hash of
    its source (an edited agent is compiled again, never run stale); None where it cannot be kept, or
    where another interpreter runs the agent (its bytecode would differ). The agent often runs as root:
    a file or folder someone else could have written is never run (the source is, then)."""
    if agent_python() != sys.executable:
        return None
    try:
        digest = hashlib.sha256(AGENT_PATH.read_bytes()).hexdigest()[:16]
        folder = cache_dir() / "agent"
        compiled = folder / f"agent-{digest}.{sys.implementation.cache_tag}.pyc"
        if not compiled.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = folder / f".{compiled.name}.{os.getpid()}"
            py_compile.compile(str(AGENT_PATH), cfile=str(partial), doraise=True)
            os.replace(partial, compiled)
        return compiled if all(_only_ours(p) for p in (folder, compiled)) else None
    except (OSError, py_compile.PyCompileError):
        return None


def _only_ours(path: Path) -> bool:
    info = os.lstat(path)
    return info.st_uid == os.geteuid() and not info.st_mode & 0o022 and not stat.S_ISLNK(info.st_mode)


def _is_linux() -> bool:
    return sys.platform.startswith("linux")


class LocalTarget(Target):
    """The kernel the harness runs on, each scenario in its own network namespace."""

    def __init__(self, info: Optional[TargetInfo] = None) -> None:
        self.info = info or TargetInfo("local", "local", f"this machine ({platform.system()} {platform.release()})")

    def availability(self) -> Availability:
        if _is_linux() and os.geteuid() != 0:
            return Availability(False, "needs root: each scenario runs in its own network namespace (CAP_SYS_ADMIN)")
        return Availability(True)

    def netns(self) -> bool:
        return _is_linux()

    def declared(self) -> Optional[Identity]:
        """This machine, as the agent would name it (asked only when the agent could not run)."""
        if self.info.system:
            return super().declared()
        from .. import agent

        here = agent.identity()
        return Identity.of_system(here["family"], here["version"])

    def launch(self, needs_root: bool = False) -> AgentSession:
        return ProcessSession(agent_command())


def seccomp_binding():
    """libseccomp's own binding (Debian: python3-seccomp), else pyseccomp (PyPI) over the system's
    libseccomp: the same API. ImportError or OSError (no libseccomp) say why neither works."""
    try:
        import seccomp
    except ImportError:
        import pyseccomp as seccomp  # its ImportError is the one reported
    return seccomp


def install_legacy_filter() -> None:
    """Runs in the agent's child process before exec: SO_REUSEPORT -> ENOPROTOOPT.

    getsockopt is filtered too, as a 3.8 kernel rejects reading the option as well.
    The filter is inherited by everything the agent forks.
    """
    from .. import agent  # its table of Linux's numbers

    seccomp = seccomp_binding()
    filt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for call in ("setsockopt", "getsockopt"):
        filt.add_rule(
            seccomp.ERRNO(errno.ENOPROTOOPT),
            call,
            seccomp.Arg(1, seccomp.EQ, agent.LINUX["SOL_SOCKET"]),
            seccomp.Arg(2, seccomp.EQ, agent.LINUX["SO_REUSEPORT"]),
        )
    filt.load()


class LegacyTarget(LocalTarget):
    """Linux before 3.9, emulated: the host kernel with SO_REUSEPORT taken away."""

    def __init__(self) -> None:
        super().__init__(TargetInfo(
            "local-legacy", "local",
            f"Linux {LEGACY_VERSION}, emulated on {platform.system()} {platform.release()} (seccomp)",
            emulated=True,
            details={"emulates": f"linux {LEGACY_VERSION}", "method": "seccomp: SO_REUSEPORT -> ENOPROTOOPT"},
            system=f"linux {LEGACY_VERSION}",
        ))

    def availability(self) -> Availability:
        if not _is_linux():
            return Availability(False, "the emulation uses seccomp, which only Linux has")
        try:
            seccomp_binding()
        except (ImportError, OSError) as exc:
            return Availability(False, f"no seccomp binding: {exc}; install python3-seccomp (Debian) or "
                                       "pyseccomp (PyPI)")
        return super().availability()

    def launch(self, needs_root: bool = False) -> AgentSession:
        seccomp_binding()  # loaded in the parent: the forked child only builds and loads the filter

        return ProcessSession(agent_command(), preexec=install_legacy_filter)

    def identity(self, observed: Identity) -> Identity:
        return Identity(
            system="Linux",
            release=f"{LEGACY_VERSION} (emulated)",
            version=LEGACY_VERSION,
            family="linux",
            machine=observed.machine,
            python=observed.python,
            hostname=observed.hostname,
            netns=observed.netns,
            emulated_on=f"{observed.system} {observed.release}",
        )


def catalogue(settings: TargetSettings) -> list[Target]:
    """The provider's named targets."""
    return [LocalTarget(), LegacyTarget()]


def from_url(url: TargetURL, settings: TargetSettings) -> Target:
    """`local://` is `local`, `local://legacy` is `local-legacy`."""
    url.only()
    kinds = {"": LocalTarget, "legacy": LegacyTarget}
    if url.host not in kinds or url.user or url.port or url.path not in ("", "/"):
        raise ValueError(f"{url.text}: expected local:// or local://legacy")
    return kinds[url.host]()
