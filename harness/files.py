"""Writing output files so that a reader never sees half of one."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


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
        tmp.unlink(missing_ok=True)
        raise
