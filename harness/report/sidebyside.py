"""Writing every report format at once, each in a child process of its own, for large matrices.

A report of a million results spends most of its time in Python walking rows;
two formats walked one after the other take twice that. Forked children share
the mapped results files (harness/report/schema.py) and walk them side by side,
so the command takes the time of its slowest format. Each child says where its
file went and what could not be written through a pipe; Ctrl-C, SIGTERM or
SIGHUP in the parent stops the children, whose half-written files remove
themselves (files.atomic_write), and is then raised as in a sequential write.
"""
from __future__ import annotations

import json
import os
import signal
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Protocol, TypeVar

if TYPE_CHECKING:
    from .matrix import Matrix


class Named(Protocol):
    """A report format as seen here: only its name (the table itself lives in formats.py, which calls us)."""
    name: str


F = TypeVar("F", bound=Named)

Written = tuple[Optional[Path], Optional[str]]  # where the file went (None: nowhere), what went wrong


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _child(write: Callable[[], Written], pipe: int) -> None:
    """In the child: write, say how it went, and leave without running the parent's exit handlers."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    status = 0
    try:
        where, problem = write()
        answer = {"where": None if where is None else str(where), "problem": problem}
    except KeyboardInterrupt:
        answer, status = {"interrupted": True}, 130
    except BaseException:  # a defect: the parent raises it, as a sequential write would
        answer, status = {"crash": traceback.format_exc()}, 1
    try:
        os.write(pipe, json.dumps(answer).encode("utf-8"))
    finally:
        os._exit(status)


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def write_side_by_side(formats: tuple[F, ...], write: Callable[[F], Written]
                       ) -> dict[str, Written]:
    """`write(fmt)` for every format at once, each in a forked child; what each returned, by name."""
    children: dict[str, tuple[int, int]] = {}
    try:
        for fmt in formats:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _child(lambda: write(fmt), write_end)
            os.close(write_end)
            children[fmt.name] = (pid, read_end)
        answers = {}
        for name, (pid, read_end) in list(children.items()):
            answers[name] = json.loads(_read_all(read_end) or b"{}")
            os.close(read_end)
            os.waitpid(pid, 0)
            del children[name]
    except BaseException:
        for pid, read_end in children.values():
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass
            os.close(read_end)
        raise
    out: dict[str, Written] = {}
    for name, answer in answers.items():
        if answer.get("interrupted"):
            raise KeyboardInterrupt
        if "crash" in answer or "problem" not in answer:
            raise RuntimeError(f"writing the {name} report failed:\n{answer.get('crash', 'no answer')}")
        out[name] = (None if answer["where"] is None else Path(answer["where"]), answer["problem"])
    return out


def worth_it(matrix: "Matrix", formats: Mapping[str, object]) -> bool:
    """Forking pays for large matrices only (and needs fork)."""
    return hasattr(os, "fork") and len(formats) > 1 and len(matrix.rows) * len(matrix.columns) >= 100_000
