"""`harness explore` on real kernels: small explorations (a few hundred sequences) end to end.

The 2000-sequence explorations of the issue are scripts/explore_pairs.sh (minutes each); their figures and
findings are in docs/explore.md.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import IS_ROOT, ROOT, harness, needs_root
from test_rump import LIB, needs_rump, rump_env

from harness.scenario.loader import load_suite

SCHEMA = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())


def explore(tmp_path: Path, targets: str, budget: int, env: dict | None = None, timeout: float = 900):
    out = tmp_path / "found"
    proc = harness("explore", "--targets", targets, "--seed", "1", "--budget", str(budget), "--out", str(out),
                   env=env, timeout=timeout)
    return proc, out


def findings(out: Path) -> list[dict]:
    return json.loads((out / "explore.json").read_text())["findings"]


def assert_ready(out: Path) -> list[Path]:
    """Every file validates (schema and loader), and every step says where it came from."""
    files = sorted(out.glob("*.yaml"))
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for path in files:
        assert [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))] == [], path
        scenario = load_suite(str(path)).scenarios[0]
        assert "explored" in scenario.tags and "harness explore (seed 1" in scenario.description
        assert all(step.note and step.note.startswith("generated: seed 1, sequence ") for step in scenario.steps)
    return files


@needs_root
def test_linux_38_against_linux_finds_so_reuseport_refused_in_at_most_three_steps(tmp_path):
    proc, out = explore(tmp_path, "local,local-legacy", 150)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = findings(out)
    setsockopt = [f for f in found if f["signature"].startswith("setsockopt")]
    assert setsockopt and "local ok · local-legacy ENOPROTOOPT [SO_REUSEPORT]" in setsockopt[0]["signature"]
    assert len(setsockopt[0]["steps"]) <= 3 and setsockopt[0]["count"] > 10
    text = (out / setsockopt[0]["file"]).read_text()
    assert "expect: {linux<3.9: ENOPROTOOPT, linux>=3.9: ok}" in text
    files = assert_ready(out)
    again = harness("run", *map(str, files), "--targets", "local,local-legacy", "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stdout + again.stderr
    page = (out / "explore.html").read_text()
    assert setsockopt[0]["signature"] in page and (out / "report.html").exists()
    assert "findings, by signature" in proc.stdout and "sequences (" in proc.stdout


@needs_root
def test_a_kernel_named_twice_agrees_with_itself(tmp_path):
    proc, out = explore(tmp_path, "local,local", 300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((out / "explore.json").read_text())
    assert doc["targets"] == ["local", "local@2"] and doc["findings"] == []
    assert doc["counts"]["generated"] == doc["counts"]["answered"] == 300 and doc["counts"]["disagreed"] == 0
    assert not list(out.glob("*.yaml"))


@needs_rump
@pytest.mark.skipif(not IS_ROOT, reason="local needs root for network namespaces")
def test_linux_against_netbsd_finds_ready_scenarios_that_pass_on_both(tmp_path):
    proc, out = explore(tmp_path, "local,rump", 200, env=rump_env(LIB))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    found = findings(out)
    assert len(found) >= 5 and all("local" in f["signature"] and "rump" in f["signature"] for f in found)
    files = assert_ready(out)
    assert any("netbsd:" in p.read_text() and "linux:" in p.read_text() for p in files)
    again = harness("run", *map(str, files), "--targets", "local,rump", "--out", str(tmp_path / "again"),
                    env=rump_env(LIB))
    assert again.returncode == 0, again.stdout + again.stderr


@needs_root
def test_a_model_column_is_explored_like_any_target(tmp_path):
    """model://linux-6 answers by prediction: compared step by step with this kernel's observations."""
    proc, out = explore(tmp_path, "local,model://linux-6", 200)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    doc = json.loads((out / "explore.json").read_text())
    assert doc["targets"] == ["local", "model:linux-6"] and doc["counts"]["answered"] == 200
    for path in assert_ready(out):
        assert "model:linux-6 (linux 6, predicted)" in path.read_text()


def test_bad_input_runs_nothing_and_writes_nothing(tmp_path):
    out = tmp_path / "found"
    one = harness("explore", "--targets", "local", "--out", str(out))
    assert one.returncode == 2 and "two or more targets" in one.stderr and "local,local" in one.stderr
    unknown = harness("explore", "--targets", "local,nosuch", "--out", str(out))
    assert unknown.returncode == 2 and "unknown target nosuch" in unknown.stderr
    assert not out.exists()
    out.mkdir()
    (out / "mine.yaml").write_text("suite: mine\nscenarios:\n  - name: a\n    steps: [{op: sleep, ms: 1}]\n")
    foreign = harness("explore", "--targets", "local,local", "--out", str(out))
    assert foreign.returncode == 2 and "mine.yaml" in foreign.stderr
    assert sorted(p.name for p in out.iterdir()) == ["mine.yaml"]


@needs_root
def test_a_target_that_answers_nothing_is_infrastructure(tmp_path):
    proc, out = explore(tmp_path, "local,ref://freebsd-14", 400)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "ref:freebsd-14 answered nothing" in proc.stderr
    assert json.loads((out / "explore.json").read_text())["counts"]["generated"] == 200  # stopped after one batch


@needs_root
def test_ctrl_c_keeps_the_findings_made_so_far(tmp_path):
    out = tmp_path / "found"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "explore", "--targets", "local,local-legacy", "--budget", "100000",
         "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.lstrip().startswith("finding:"):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(timeout=300), "".join(lines)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    assert proc.returncode == 130, stdout + "".join(lines)
    doc = json.loads((out / "explore.json").read_text())
    assert doc["interrupted"] and doc["findings"] and "Traceback" not in "".join(lines)
    assert_ready(out)
    assert "Interrupted: only what was found before Ctrl-C is shown" in (out / "explore.html").read_text()
    time.sleep(0.5)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_agent_of(int(p), str(out))]


def _is_agent_of(pid: int, out: str) -> bool:
    """A process left behind by the exploration: an agent (they outlive nothing of theirs)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        environ_ppid = Path(f"/proc/{pid}/stat").read_text().split()[3]
    except OSError:
        return False
    return "harness/agent.py" in cmdline and environ_ppid == "1"
