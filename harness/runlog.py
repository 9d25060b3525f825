"""The run's log file (reports/run.log): provider commands and their stderr, for after the fact."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable


class LazyFileHandler(logging.FileHandler):
    """Creates the file (and its folder) on the first line only: a run that logs nothing writes nothing."""

    def _open(self):  # logging's hook for opening the stream
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def run_logger(path: Path) -> Callable[[str], None]:
    """A function that appends one line to the log at `path` (created on first use)."""
    logger = logging.getLogger("harness.run")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    handler = LazyFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return logger.info
