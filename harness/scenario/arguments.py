"""FILES arguments of any command, as scenarios: shipped suites by name, files by path, or exit 2.

Here rather than in cli.py so that commands which providers and the model add
(`harness predict`) read their arguments the same way without importing the
command line they are part of.
"""
from __future__ import annotations

from typing import Sequence

from ..model import Scenario, Suite
from ..terminal import bad_input, clean, err
from . import library
from .loader import ScenarioFileError, load_files


def files_or_exit(args: Sequence[str]) -> list[str]:
    """FILES arguments as files: paths as given, shipped suites by name (harness/scenario/library.py)."""
    try:
        return library.resolve(args)
    except library.UnknownSuite as exc:
        bad_input(str(exc))


def load_suites_or_exit(files: Sequence[str]) -> list[Suite]:
    """Every suite of every file, or every problem listed and exit 2."""
    try:
        return load_files(files)
    except ScenarioFileError as exc:
        for problem in exc.problems:
            err.print(clean(str(problem)), markup=False, soft_wrap=True)  # one per line: editors and CI parse them
        bad_input(f"{len(exc.problems)} problem(s) in scenario files; nothing was run")


def load_or_exit(files: Sequence[str]) -> list[Scenario]:
    """Every scenario of every file, or every problem listed and exit 2."""
    return [sc for suite in load_suites_or_exit(files) for sc in suite.scenarios]
