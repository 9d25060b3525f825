"""Every report format, one row each: the command line offers, fills and names them from this table.

A format is a module with `write(matrix, path)` that reads the matrix of
harness/report/matrix.py (it never judges). Its row says the option that
chooses its path (`--junit FILE`), its file name in the output folder, and the
module, which is imported only when a report is written (jinja2 costs a run
that writes none nothing). Adding a format is one row here and its
module (docs/extending.md).
"""
from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional

from ..files import write_or_fall_back

if TYPE_CHECKING:
    from .matrix import Matrix


@dataclass(frozen=True)
class ReportFormat:
    name: str  # its option (--NAME) and its name in messages
    filename: str  # in the output folder
    module: str  # defines write(matrix, path)
    title: str  # what it is, for --help

    def write(self, matrix: "Matrix", path: Path) -> None:
        importlib.import_module(self.module).write(matrix, path)


REPORTS: tuple[ReportFormat, ...] = (
    ReportFormat("junit", "junit.xml", "harness.report.junit", "JUnit XML"),
    ReportFormat("html", "report.html", "harness.report.html", "HTML report"),
)


def preload() -> threading.Thread:
    """Import every format's module in a thread of its own, started while the agents run: the run
    mostly waits on them, so the template engine's import and the page's template load (tens of
    milliseconds) cost the command nothing. Modules that fail to import are the writer's to report."""
    def load() -> None:
        for fmt in REPORTS:
            try:
                module = importlib.import_module(fmt.module)
                getattr(module, "prepare", lambda: None)()
            except Exception:  # said by write_all, where a format is written or falls back
                pass

    thread = threading.Thread(target=load, name="reports", daemon=True)
    thread.start()
    return thread


def write_all(matrix: "Matrix", paths: Mapping[str, Path]) -> tuple[dict[str, Optional[Path]], list[str]]:
    """Every format into its path, in table order; each file whole or not at all (atomic_write), and
    one that cannot be written where asked in a fallback file (harness/files.py). Where each went
    (None: nowhere), and what could not be written where asked."""
    from .sidebyside import worth_it, write_side_by_side

    def write(fmt: ReportFormat) -> tuple[Optional[Path], Optional[str]]:
        return write_or_fall_back(paths[fmt.name], lambda path: fmt.write(matrix, path))

    if worth_it(matrix, paths):  # a large matrix: every format at once, each in a process of its own
        outcomes = write_side_by_side(REPORTS, write)
    else:
        outcomes = {fmt.name: write(fmt) for fmt in REPORTS}
    written = {name: where for name, (where, _) in outcomes.items()}
    return written, [problem for _, problem in outcomes.values() if problem]
