"""docs/extending.md works: its snippets, applied to a copy of the repository where its comments say,
add an op, a provider and a report format that the guard tests accept and a real run uses."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from conftest import IS_ROOT, ROOT, page_data

GUIDE = ROOT / "docs" / "extending.md"
# `<!-- into FILE, after: LINE -->`, `<!-- into FILE, before: LINE -->`, `<!-- new file FILE -->`, `<!-- run -->`,
# each followed by one fenced block (indented as the list item it sits in).
SNIPPET = re.compile(r"<!-- (?:into (?P<file>\S+), (?P<where>after|before): (?P<anchor>.*?)|new file (?P<new>\S+)"
                     r"|(?P<run>run)) -->\n(?P<indent>[ ]*)```\w*\n(?P<code>.*?)\n(?P=indent)```", re.S)
COPIED = ("harness", "tests", "docs", "scenarios", "pyproject.toml")
TOY = """\
suite: peer
scenarios:
  - name: connected
    description: a connected socket's peer, read back by the guide's op (expected wrong on purpose)
    steps:
      - {op: socket, sock: l, type: tcp}
      - {op: bind, sock: l, addr: loopback, port: P}
      - {op: listen, sock: l}
      - {op: socket, sock: c, type: tcp}
      - {op: connect, sock: c, addr: loopback, port: P}
      - {op: getpeername, sock: c, expect: ENOTCONN}
"""
READING = "ok addr=127.0.0.1"  # how the toy op's observation reads, wherever it is shown


@dataclass
class Snippet:
    code: str
    file: Optional[str] = None
    where: Optional[str] = None
    anchor: Optional[str] = None
    new: Optional[str] = None
    run: bool = False


def snippets() -> list[Snippet]:
    found = []
    for m in SNIPPET.finditer(GUIDE.read_text()):
        code = "\n".join(line[len(m["indent"]):] for line in m["code"].split("\n"))  # the list item's indent
        found.append(Snippet(code + "\n", m["file"], m["where"], m["anchor"], m["new"], bool(m["run"])))
    return found


def apply(root: Path, snippet: Snippet) -> None:
    if snippet.new:
        target = root / snippet.new
        assert not target.exists(), f"the guide's new file {snippet.new} already exists"
        target.write_text(snippet.code)
        return
    if snippet.run:
        shim = root / ".bin"
        shim.mkdir(exist_ok=True)
        (shim / "harness").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harness "$@"\n')
        (shim / "harness").chmod(0o755)
        subprocess.run(["bash", "-ec", snippet.code], cwd=root, check=True, timeout=60,
                       env={**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"})
        return
    path = root / snippet.file
    lines = path.read_text().split("\n")
    hits = [i for i, line in enumerate(lines) if line == snippet.anchor]
    assert len(hits) == 1, f"the guide's anchor {snippet.anchor!r} is in {snippet.file} {len(hits)} times, not once"
    at = hits[0] + (1 if snippet.where == "after" else 0)
    path.write_text("\n".join(lines[:at] + snippet.code.rstrip("\n").split("\n") + lines[at:]))


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Path:
    """A copy of the repository with every snippet of the guide applied, in the guide's order."""
    root = tmp_path_factory.mktemp("extended")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    for snippet in snippets():
        apply(root, snippet)
    return root


def in_copy(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """A command of the copy, its own `harness` package first on the path (not the checkout's)."""
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200"}
    return subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_the_guide_has_a_snippet_for_each_step():
    found = snippets()
    assert {s.new for s in found if s.new} == {"harness/targets/interp.py", "harness/report/tap.py"}
    assert {s.file for s in found if s.file} >= {"harness/scenario/ops.py", "harness/agent.py",
                                                 "harness/targets/registry.py", "harness/report/formats.py"}
    assert any(s.run for s in found)


def test_the_guard_tests_accept_the_new_op(extended):
    """Every test that guards the op table (agent handlers, the two lists of every op, the schema file)
    passes in the extended copy: the guide names every step they require."""
    proc = in_copy(extended, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_observation.py",
                   "tests/test_schema.py", "tests/test_loader.py",
                   "tests/test_agent.py::test_every_op_runs_on_old_pythons_with_and_without_ctypes")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "harness/scenario" not in proc.stdout  # no import error of the copy's own package


@pytest.mark.skipif(not IS_ROOT, reason="local targets need root for network namespaces")
def test_the_new_op_runs_on_the_new_provider_and_reads_the_same_in_every_report(extended, tmp_path):
    toy = tmp_path / "peer.yaml"
    toy.write_text(TOY)
    out = tmp_path / "out"
    interp = f"interp://{sys.executable}"
    proc = in_copy(extended, "-m", "harness", "run", str(toy), "--targets", f"local,{interp}", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the toy expects ENOTCONN of a connected socket
    line = f"(getpeername c) at line 11: expected ENOTCONN [default], observed {READING}"
    assert line in proc.stdout  # the terminal
    doc = json.loads((out / "results.json").read_text())
    assert {r["target"] for r in doc["results"]} == {"local", f"interp:{sys.executable}"}
    junit = ET.parse(out / "junit.xml").getroot()
    assert all(line in c.find("failure").get("message") for c in junit.iter("testcase"))  # JUnit, both targets
    drawn = page_data((out / "report.html").read_text())["rows"][0]["c"]
    assert [cell[5][0] for cell in drawn] == [READING, READING]  # the HTML page
    tap = (out / "report.tap").read_text().splitlines()  # the new format, written by default
    assert tap[:3] == ["TAP version 14", "1..2", "not ok 1 - peer/connected on local"]
    assert f"report.tap" in proc.stdout
    base = in_copy(extended, "-m", "harness", "baseline", "update", str(out / "results.json"), "--out",
                   str(tmp_path / "base"))
    assert base.returncode == 0, base.stderr
    assert all(f"#6 = {READING}" in f.read_text() for f in (tmp_path / "base").glob("*.txt"))  # baselines
