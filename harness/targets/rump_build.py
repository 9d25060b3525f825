"""`harness rump build`: NetBSD's network stack as rump kernel libraries, from pinned sources.

The sources are rumpkernel/buildrump.sh and rumpkernel/src-netbsd (branch buildrump-src) at the
revisions below, cloned (a shallow fetch of each pinned commit) or given as local checkouts. Only
buildrump.sh's `tools` stage runs as it is (the NetBSD make, its mk.conf and the librumpuser
configure); the libraries themselves are then made with its make wrapper in the few folders the
network stack needs (the same four passes buildrump.sh's `build` makes over every folder of every
faction), which takes about half the time of a full build. What the `rump` target loads is copied,
with the headers and a PROVENANCE file, into the cache the target looks in (or --out), replacing
what was there only once the new build is whole, and checked by booting it once.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from .. import agent
from ..files import cache_dir
from ..terminal import EXIT_BAD_INPUT, EXIT_INFRA, EXIT_INTERRUPTED, EXIT_OK, clean, err, out
from .local import agent_command
from .rump import cache_folder


@dataclass(frozen=True)
class Pin:
    name: str
    url: str
    rev: str
    marker: str  # a file a checkout of it has


BUILDRUMP = Pin("buildrump.sh", "https://github.com/rumpkernel/buildrump.sh",
                "6cccd464a9675ce19eaca569b1c9c2837492038c", "buildrump.sh")  # 2017-09-10
SRC_NETBSD = Pin("src-netbsd", "https://github.com/rumpkernel/src-netbsd",  # branch buildrump-src
                 "82f3a6905f6a3a65ceb3a21046de62437f61e7dd", "sys/rump/Makefile.rump")  # buildrump's .srcgitrev
# HOST_CFLAGS and -F: today's GCC defaults to -fno-common and turns warnings the 2017 tree has into errors.
BUILD_ENV = {"HOST_CFLAGS": "-O -fcommon"}
BUILD_FLAGS = ("-q", "-V", "NOGCCERROR=1", "-F", "CFLAGS=-fcommon", "-F", "CFLAGS=-Wno-error")
# Folders of src-netbsd the network stack needs, in link order (each group links against the ones before).
GROUPS = (("lib/librumpuser",), ("lib/librump", "sys/rump/share"), ("lib/librumpnet", "sys/rump/include"),
          ("sys/rump/net/lib/libnet", "sys/rump/net/lib/libnetinet", "sys/rump/net/lib/libnetinet6"))
LIBRARIES = agent.RUMP_LIBS  # what the agent loads
STAGE_TIMEOUT_S = 3600


class BuildError(Exception):
    """The build cannot go on; `status` is the exit status that says why (2 bad input, 3 it failed)."""

    def __init__(self, message: str, status: int = EXIT_INFRA) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Source:
    pin: Pin
    path: Path
    rev: str  # what the checkout is at: a commit, or why it is not known

    @property
    def pinned(self) -> bool:
        return self.rev == self.pin.rev


def makefile(src: Path, folders: Sequence[str]) -> str:
    """A NetBSD make file that runs each target in `folders`, as buildrump.sh writes its own."""
    return "SUBDIR=" + "".join(f" {src / folder}" for folder in folders) + "\n.include <bsd.subdir.mk>\n"


def steps(buildrump: Path, src: Path, work: Path, jobs: int) -> list[tuple[str, list[str], Path]]:
    """(what, command, where) of every stage, in order: pure, so that it can be read and tested."""
    obj = work / "obj"
    make = [str(obj / "tooldir" / "bin" / "brrumpmake"), "-j", str(jobs), "-f"]
    every = str(work / "all.mk")
    plan = [("tools (NetBSD make, mk.conf, librumpuser configure)",
             ["./buildrump.sh", "-s", str(src), "-o", str(obj), "-d", str(work / "dest"), "-j", str(jobs),
              *BUILD_FLAGS, "tools"], buildrump)]
    plan += [(f"{target} (every folder)", make + [every, target], src) for target in ("obj", "includes")]
    plan += [(f"compile and link {', '.join(Path(f).name for f in group)}", make + [str(work / f"{i}.mk"), "dependall"],
              src) for i, group in enumerate(GROUPS)]
    plan.append(("install into the stage", make + [every, "install"], src))
    return plan


def write_makefiles(src: Path, work: Path) -> None:
    (work / "all.mk").write_text(makefile(src, [f for group in GROUPS for f in group]))
    for i, group in enumerate(GROUPS):
        (work / f"{i}.mk").write_text(makefile(src, group))


def git_rev(path: Path) -> str:
    proc = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() if proc.returncode == 0 else "unknown (not a git checkout)"


def local_sources(spec: str) -> tuple[Source, Source]:
    """--src BUILDRUMP_DIR,SRC_NETBSD_DIR, checked to be what they say (bad input otherwise)."""
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or not all(parts):
        raise BuildError(f"--src takes BUILDRUMP_DIR,SRC_NETBSD_DIR, not {spec!r}", EXIT_BAD_INPUT)
    found = []
    for pin, part in zip((BUILDRUMP, SRC_NETBSD), parts):
        path = Path(part).expanduser().resolve()
        if not (path / pin.marker).exists():
            raise BuildError(f"{part}: not a checkout of {pin.name} (no {pin.marker})", EXIT_BAD_INPUT)
        found.append(Source(pin, path, git_rev(path)))
    return found[0], found[1]


def clone(pin: Pin, where: Path, run: Callable[[str, list[str], Path], None]) -> Source:
    """A shallow fetch of the pinned commit (GitHub serves any commit it has by its hash)."""
    if where.exists() and git_rev(where) == pin.rev:
        return Source(pin, where, pin.rev)
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    try:
        run(f"fetch {pin.name} at {pin.rev[:12]}", ["git", "init", "-q"], where)
        run(f"fetch {pin.name} at {pin.rev[:12]}", ["git", "fetch", "-q", "--depth", "1", pin.url, pin.rev], where)
        run(f"check out {pin.name}", ["git", "checkout", "-q", "FETCH_HEAD"], where)
    except BuildError as exc:
        raise BuildError(f"cannot fetch {pin.url} at {pin.rev[:12]} ({exc}); without internet, give local "
                         f"checkouts: harness rump build --src BUILDRUMP_DIR,SRC_NETBSD_DIR") from None
    return Source(pin, where, git_rev(where))


class Runner:
    """Runs each stage in a process group of its own, its output into the log; the newest line is
    shown (a build is long: progress, the stage's time, and where the whole output is)."""

    def __init__(self, log: Path) -> None:
        self.log_path = log
        self.log = log.open("w", encoding="utf-8")
        self.start = time.monotonic()
        self.proc: Optional[subprocess.Popen] = None

    def elapsed(self) -> str:
        return minutes(time.monotonic() - self.start)

    def __call__(self, what: str, command: list[str], where: Path, env: Optional[dict] = None) -> None:
        self.log.write(f"\n### {what}: {' '.join(command)} (in {where})\n")
        self.log.flush()
        stage = time.monotonic()
        with err.status(f"{what}") as status:
            self.proc = subprocess.Popen(command, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                         start_new_session=True, text=True, errors="replace")
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.write(line)
                if time.monotonic() - stage > STAGE_TIMEOUT_S:
                    self.stop()
                    raise BuildError(f"{what}: still running after {STAGE_TIMEOUT_S} s; stopped")
                if line.strip():
                    status.update(f"{what} [{self.elapsed()}]: {clean(line.strip(), 100)}")
            code = self.proc.wait()
        self.log.flush()
        if code != 0:
            raise BuildError(f"{what} failed (exit status {code}): {self.tail()}")
        err.print(f"  {what}: done in {minutes(time.monotonic() - stage)} (total {self.elapsed()})", markup=False)

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        return " / ".join(line.strip() for line in text if line.strip()) + f" (whole output: {self.log_path})"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def install(stage: Path, target: Path, sources: tuple[Source, Source], command: str) -> None:
    """Copy the libraries (with their version links) and headers into `target`, atomically."""
    fresh = target.with_name(target.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    (fresh / "lib").mkdir(parents=True)
    for name in LIBRARIES:
        found = sorted((stage / "usr" / "lib").glob(f"lib{name}.so*"))
        if not found:
            raise BuildError(f"the build made no lib{name}.so (looked in {stage / 'usr' / 'lib'})")
        for path in found:
            shutil.copy2(path, fresh / "lib" / path.name, follow_symlinks=False)
    shutil.copytree(stage / "usr" / "include" / "rump", fresh / "include" / "rump")
    lines = [f"{s.pin.name}: {s.pin.url} at {s.rev}, from {s.path}" + ("" if s.pinned else f" (the pin is {s.pin.rev})")
             for s in sources]
    (fresh / "PROVENANCE").write_text("NetBSD's network stack as rump kernel libraries, built by "
                                      f"`{command}` on {os.uname().sysname} {os.uname().release} "
                                      f"{os.uname().machine}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
                                      + "\n".join(lines) + "\nlicence: NetBSD's (BSD), as the sources say\n")
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def boot_check(lib: Path) -> str:
    """Boot the new kernel once through the agent: what it says it is, or BuildError."""
    proc = subprocess.run(agent_command() + ["--rump", str(lib), "--identity"], capture_output=True, text=True,
                          timeout=60)
    try:
        event = json.loads(proc.stdout.splitlines()[0])
    except (ValueError, IndexError):
        raise BuildError(f"the agent could not use the new libraries: {clean(proc.stderr[-500:])}") from None
    if event.get("event") != "hello":
        raise BuildError(f"the new libraries do not boot: {event.get('reason')}")
    ident = event["identity"]
    return f"{ident['system']} {ident['release']}"


def main(src: Optional[str], jobs: Optional[int], out_dir: Optional[str]) -> int:
    target = Path(out_dir).expanduser().resolve() if out_dir else cache_folder().parent
    work = cache_dir() / "rump" / "build"
    jobs = jobs or os.cpu_count() or 1
    command = "harness rump build" + (f" --src {src}" if src else "")
    runner: Optional[Runner] = None
    try:
        if src:
            sources = local_sources(src)
        work.mkdir(parents=True, exist_ok=True)
        runner = Runner(work / "build.log")
        err.print(f"harness rump build: NetBSD's network stack for the rump target, {jobs} jobs; "
                  f"log: {runner.log_path}", markup=False, soft_wrap=True)
        if not src:
            sources = (clone(BUILDRUMP, work / "buildrump.sh", runner), clone(SRC_NETBSD, work / "src-netbsd", runner))
        for s in sources:
            note = "" if s.pinned else f"; not the pinned {s.pin.rev[:12]}: PROVENANCE says so"
            err.print(f"  {s.pin.name}: {s.path} at {s.rev[:12]}{note}", markup=False, soft_wrap=True)
        shutil.rmtree(work / "obj", ignore_errors=True)
        shutil.rmtree(work / "dest", ignore_errors=True)
        write_makefiles(sources[1].path, work)
        for what, cmd, where in steps(sources[0].path, sources[1].path, work, jobs):
            runner(what, cmd, where, BUILD_ENV)
        install(work / "obj" / "dest.stage", target, sources, command)
        system = boot_check(target / "lib")
    except BuildError as exc:
        err.print(f"harness rump build: {clean(str(exc))}", markup=False, soft_wrap=True)
        return exc.status
    except KeyboardInterrupt:
        if runner is not None:
            runner.stop()
        err.print("harness rump build: interrupted; nothing was installed", soft_wrap=True)
        return EXIT_INTERRUPTED
    out.print(f"built {system} in {runner.elapsed()}: {target / 'lib'} (the rump target uses it"
              f"{'' if not out_dir else ' with HARNESS_RUMP_LIB=' + str(target / 'lib')})", markup=False, soft_wrap=True)
    return EXIT_OK
