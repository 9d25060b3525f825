"""Writing output files: a reader never sees half of one, a device is never replaced by a file, and
a command knows before it starts that it can write.

One policy for every command that writes (run, report, baseline update): an output that can be
known unusable before any work (a folder that takes no file, a FIFO nobody reads, a block device,
another run's folder) is bad input, exit 2, nothing written; one that fails while writing (the
disk filled up) is written to a fallback file in the temporary folder instead, said so, exit 3.

An output that is not a regular file (/dev/null, /dev/stdout, a FIFO, a terminal), and any path
under /dev or /proc, is written in place: it is never renamed over, and no file is put beside it.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterable, Optional, Union

Data = Union[bytes, Iterable[bytes]]  # whole, or in chunks (a large report is streamed)
LOCK = ".harness.lock"


def in_place(path: Path) -> bool:
    """Whether `path` is written where it is rather than replaced: anything but a regular file or a
    missing one (devices, FIFOs, sockets), and every path under /dev or /proc (`/dev/stdout` may
    lead to a regular file, which is the shell's, not ours to replace)."""
    absolute = os.path.abspath(path)
    if absolute.startswith(("/dev/", "/proc/")):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError:
        return False  # the write itself will say what is wrong


def _chunks(data: Data) -> Iterable[bytes]:
    return [data] if isinstance(data, (bytes, bytearray)) else data


def atomic_write(path: Path, data: Data) -> None:
    """Write aside in the same folder, then rename over the target (atomic on POSIX); a device, FIFO
    or /dev path is written in place instead (in_place). A symbolic link is followed: the file it
    names is replaced, the link stays.

    The temporary file is opened by name (not mkstemp) so it gets the usual
    umask-derived mode, which the rename keeps.
    """
    path = Path(path)
    if in_place(path):
        _write_in_place(path, data)
        return
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as out:
            for chunk in _chunks(data):
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the error that matters is the write's, not the clean-up's
        raise


def own_descriptor(path: Path) -> Optional[int]:
    """The descriptor a path names (/dev/stdout, /dev/fd/N, /proc/self/fd/N): written through it, the
    report and the command's other output share one file offset, as with `cmd > file`."""
    absolute = os.path.abspath(path)
    match = re.fullmatch(rf"/(?:dev/fd|proc/self/fd|proc/{os.getpid()}/fd)/(\d+)", absolute)
    return STD_PATHS.get(absolute, int(match.group(1)) if match else None)


STD_PATHS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def _write_in_place(path: Path, data: Data) -> None:
    """Open without creating and write: a FIFO with no reader is ENXIO, never a wait for one."""
    if stat.S_ISBLK(_mode(path)):
        raise OSError(errno.EPERM, "a block device: refusing to write a report over it", str(path))
    fd = own_descriptor(path)
    if fd is not None or str(path) in _HELD:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # what was printed before comes before
        fd = os.dup(_HELD.get(str(path), fd))
    else:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
    with open(fd, "wb") as out:
        for chunk in _chunks(data):
            out.write(chunk)


def _mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode
    except OSError:
        return 0


def fallback_path(path: Path) -> Path:
    """Where a file that could not be written where asked goes instead (the temporary folder)."""
    return Path(tempfile.gettempdir()) / f"harness-{os.getpid()}-{Path(path).name}"


def write_or_fall_back(path: Path, write: Callable[[Path], None]) -> tuple[Optional[Path], Optional[str]]:
    """`write(path)`; where that fails, `write` into the fallback file. (Where it went or None if
    nowhere, and what happened or None if all went well.)"""
    try:
        write(path)
        return path, None
    except OSError as exc:
        problem = f"cannot write {path}: {exc.strerror or exc}"
    spare = fallback_path(path)
    try:
        write(spare)
    except OSError as exc:
        return None, f"{problem}; the fallback {spare} failed too ({exc.strerror or exc}): not written"
    return spare, f"{problem}; written to {spare} instead"


class OutputError(Exception):
    """An output that cannot be used; the message says which and why."""


_HELD: dict[str, int] = {}  # outputs written in place, opened when claimed: path -> descriptor


def _check_in_place(path: Path) -> None:
    mode = _mode(path)
    if stat.S_ISBLK(mode):
        raise OutputError(f"{path}: a block device; refusing to write a report over it")
    if not mode:
        if os.path.abspath(path).startswith(("/dev/", "/proc/")):
            raise OutputError(f"cannot write into {Path(path).parent}: no {Path(path).name} there, and under "
                              "/dev and /proc harness writes only to what exists, in place")
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        why = "a FIFO no one reads" if exc.errno == errno.ENXIO else exc.strerror or str(exc)
        raise OutputError(f"cannot write {path}: {why}") from None
    os.set_blocking(fd, True)
    _HELD[str(path)] = fd  # kept open: closing it would end a FIFO reader's input before the report


def _probe_folder(folder: Path) -> None:
    """The folder exists (made if need be) and takes a file with data in it (a full disk does not)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".harness-probe-{os.getpid()}"
        try:
            with open(probe, "wb") as handle:
                handle.write(b"harness")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None


def _lock(folder: Path) -> IO[str]:
    """The folder's lock, held while the returned handle stays open; OutputError if another run holds it."""
    try:
        handle = open(folder / LOCK, "a+", encoding="ascii")
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise OutputError(f"another harness run (pid {owner}) is writing into {folder}; "
                          "give this one other output paths") from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
    except OSError as exc:
        handle.close()
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return handle


def claim_outputs(files: list[Path], lock: bool = True) -> list[IO[str]]:
    """Before any work: every output can be written, and each folder that receives a file is this
    command's alone (a lock in it, held while the returned handles stay open). Outputs written in
    place (devices, FIFOs) are checked for writing and get no lock and no file beside them."""
    folders: list[Path] = []
    for path in files:
        if in_place(path):
            _check_in_place(path)
        else:
            folders.append(Path(os.path.realpath(path)).parent)
    locks: list[IO[str]] = []
    try:
        for folder in dict.fromkeys(folders):
            _probe_folder(folder)
            if lock:
                locks.append(_lock(folder))
    except OutputError:
        for handle in locks:
            handle.close()
        raise
    return locks


def cache_dir() -> Path:
    """What the harness builds or downloads once per machine (boxes, rump kernels): HARNESS_CACHE,
    else ~/.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")
