"""What the tests share: where things are, running the `harness` command, reading its results.

Test modules import these names (`from conftest import harness, ...`); pytest puts
this folder on sys.path.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scenarios" / "reuseport.yaml"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="local targets need root for network namespaces")


def harness(*args: str, env: Optional[dict] = None, cwd: Path = ROOT, timeout: float = 120
            ) -> subprocess.CompletedProcess:
    """`harness ARGS` in a fresh interpreter, as a user runs it; output captured as text."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})})


def harness_in_background(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def results(out: Path) -> dict:
    """The results document a run wrote into the folder `out`."""
    return json.loads((out / "results.json").read_text())
