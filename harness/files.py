"""Writing output files: a reader never sees half of one, and a run knows before it starts that it can write."""
from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
from pathlib import Path
from typing import IO


def atomic_write(path: Path, data: bytes) -> None:
    """Write aside in the same folder, then rename over the target (atomic on POSIX).

    The temporary file is opened by name (not mkstemp) so it gets the usual
    umask-derived mode, which the rename keeps.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        with open(tmp, "xb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the error that matters is the write's, not the clean-up's
        raise


def fallback_path(path: Path) -> Path:
    """Where a file that could not be written where asked goes instead (the temporary folder)."""
    return Path(tempfile.gettempdir()) / f"harness-{os.getpid()}-{path.name}"


class OutputError(Exception):
    """An output folder that cannot be used; the message says which and why."""


def claim_outputs(files: list[Path]) -> IO[str]:
    """Before anything runs: every output file's folder exists and takes a file, and the results
    folder is this run's alone (a lock, held while the returned handle stays open)."""
    for folder in dict.fromkeys(f.parent for f in files):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".harness-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    lock_path = files[0].parent / ".harness.lock"
    handle = open(lock_path, "a+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise OutputError(f"another harness run (pid {owner}) is writing into {files[0].parent}; "
                          "give this one another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def cache_dir() -> Path:
    """What the harness builds or downloads once per machine (boxes, rump kernels): HARNESS_CACHE,
    else ~/.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "harness")
