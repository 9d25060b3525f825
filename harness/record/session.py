"""`harness record`: trace a program, turn its socket calls into a scenario, write the file whole.

Ties the pure parts (strace parser, converter, renderer) to the edge (tracer) and
decides what a run that recorded nothing means: a program that could not run
(exit 3) versus one that opened no IP socket (bad input, exit 2).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import pwd
import re
import shlex
import tempfile
from pathlib import Path
from typing import Callable, Optional

from ..files import atomic_write, fallback_path
from ..resources import schema_file
from ..terminal import clean
from . import convert, render, strace, tracer
from .tracer import RecordError

STRACE_SAYS = re.compile(r"(\S*/)?strace: ")  # strace's own messages, among the program's stderr


def user_name(uid: int) -> Optional[str]:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


INTERPRETERS = re.compile(r"(python|perl|ruby|node|nodejs|php|bash|sh|dash|zsh)[0-9.]*")
INLINE = ("-c", "-e", "--eval")  # the program is the text that follows: named by a hash of it
LONGEST_NAME = 32


def default_name(command: list[str]) -> str:
    """The program's name; for an interpreter, its script's or module's (`python3 -m http.server`); for
    inline code (`sh -c '...'`) or a name longer than LONGEST_NAME, a short readable one: `sh-3f2a1c`."""
    base = Path(command[0]).name
    args = command[1:]
    name = base
    if INTERPRETERS.fullmatch(base):
        if any(flag in args[:-1] for flag in INLINE):
            return f"{base}-{_hash(command)}"
        if "-m" in args[:-1]:
            name = args[args.index("-m") + 1]
        else:
            script = next((a for a in args if not a.startswith("-")), None)
            name = Path(script).stem if script else base
    return name if len(name) <= LONGEST_NAME else f"{name[:LONGEST_NAME - 7]}-{_hash(command)}"


def _hash(command: list[str]) -> str:
    return hashlib.sha256(shlex.join(command).encode("utf-8", "surrogateescape")).hexdigest()[:6]


def output_path(out: Optional[str], name: str) -> Path:
    """Where the file goes (default NAME.yaml here); bad input (exit 2) if that folder cannot take it."""
    path = Path(out) if out else Path(f"{name}.yaml")
    if path.is_dir():
        raise RecordError(2, f"--out {path} is a folder; give a file name such as {path / (name + '.yaml')}")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RecordError(2, f"cannot create {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise RecordError(2, f"cannot write into {folder}")
    return path


def record(command: list[str], out: Optional[str], name: Optional[str], duration: Optional[float],
           say: Callable[[str], None]) -> tuple[Path, convert.Summary]:
    """Record COMMAND into a scenario file; its path and summary, or RecordError (nothing written)."""
    title = render.scenario_name(name or default_name(command))
    path = output_path(out, title)
    tracer.find_strace()
    tracer.find_command(command[0])
    shown = shlex.join(command)
    say(f"record: running {shown} under strace"
        + (f" for up to {duration:g} s" if duration is not None else "") + "; Ctrl-C stops it and keeps the recording")
    with tempfile.TemporaryDirectory(prefix="harness-record-") as folder:
        traced = tracer.trace(command, Path(folder), duration, say)
        events = _events(traced)
    for pid in traced.left_session:
        say(f"record: pid {pid} outlived the trace (it left the program's session); killed")
    recording = convert.convert(events, os.geteuid(), user_name)
    if not recording.summary.sockets:
        _nothing_recorded(shown, traced)
    if traced.failed:
        _failed(shown, traced, recording, say)
    uname = platform.uname()
    head = render.Header(title, shown, f"{uname.system} {uname.release} {uname.machine}",
                         dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                         _schema_ref(path), traced.stopped)
    return _write(path, render.render(recording, head).encode("utf-8")), recording.summary


def _write(path: Path, data: bytes) -> Path:
    """The file whole where asked; where that fails (a full or read-only disk), in the temporary folder,
    and exit 3 saying where, so the recording of a program that may not run twice is never lost."""
    try:
        atomic_write(path, data)
        return path
    except OSError as exc:
        why = f"could not write {path}: {exc.strerror or exc}"
    spare = fallback_path(path)
    try:
        atomic_write(spare, data)
    except OSError as exc:
        raise RecordError(3, f"{why}; nor {spare}: {exc.strerror or exc}; the recording is lost") from None
    raise RecordError(3, f"{why}; the recording is in {spare}")


def _failed(shown: str, traced: tracer.Traced, recording: convert.Recording, say: Callable[[str], None]) -> None:
    """A program that failed on its own: before serving, the recording shows a start-up that went wrong
    (a port in use, a log it could not open), not the program: exit 3 and why. After, it is kept."""
    said = _stderr(traced)
    if not recording.served:
        raise RecordError(3, f"{shown} {traced.stopped} before serving (it accepted no connection); "
                             f"nothing was written{said}")
    say(f"record: the program {traced.stopped} after serving; the recording is kept{said}")


def _events(traced: tracer.Traced) -> list[strace.Event]:
    """The parsed trace; strace's own failure (not permitted, cannot start) as exit 3."""
    text = traced.trace.read_text(errors="replace") if traced.trace.exists() else ""
    failure = [line for line in traced.stderr.splitlines() if STRACE_SAYS.match(line)]
    if not text.strip() and failure:
        denied = any("Operation not permitted" in line for line in failure)
        why = ("tracing is not permitted here (ptrace refused: in a container it needs CAP_SYS_PTRACE and no "
               "seccomp rule against ptrace; kernel.yama.ptrace_scope must be 2 or less for root)") if denied else \
            "strace could not trace the program"
        raise RecordError(3, f"{why}; nothing was written. strace said: {clean(' '.join(failure[-3:]))}")
    return strace.parse(text.splitlines())


def _stderr(traced: tracer.Traced) -> str:
    tail = clean(traced.stderr.strip()[-500:])
    return f"; its stderr: {tail}" if tail else ""


def _nothing_recorded(shown: str, traced: tracer.Traced) -> None:
    """No IP socket: a program that failed (exit 3), or one that opens none (bad input, exit 2)."""
    said = _stderr(traced)
    if traced.failed:
        raise RecordError(3, f"{shown} {traced.stopped} before opening any IPv4/IPv6 socket; "
                             f"nothing was written{said}")
    raise RecordError(2, f"{shown} {traced.stopped} without opening any IPv4/IPv6 socket: nothing to record, "
                         "nothing was written")


def _schema_ref(path: Path) -> Optional[str]:
    """The JSON Schema for editors, relative to the file (as scenarios/ has it): the checkout's, or the
    installed package's copy."""
    schema = schema_file()
    if not schema.exists():
        return None
    return os.path.relpath(schema, path.resolve().parent)
