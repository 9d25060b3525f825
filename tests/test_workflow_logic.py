"""The nightly workflow's own logic, run here: its linux and merge jobs' steps, night after night.

tests/actions_runner.py plays GitHub's runner: each job runs in a fresh scratch copy of the
repository (the checkout), with GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_OUTPUT/ENV/STEP_SUMMARY and
the matrix stubbed, and one artifact store per workflow run, laid out as upload-artifact v4+ and
download-artifact v5+ do. The linux job's results are real: its `run:` steps execute as written,
on this kernel, with the scratch copy's harness (its .venv is stubbed by this test: the set-up
step needs the network). The macOS and FreeBSD jobs cannot run here: their uploads are faked
from the linux run (identity replaced by macOS's or FreeBSD's, a new host name each night; the
observations stay Linux's: they are fakes, used only for the merge's logic), and their steps are
checked where they can be (tests/test_workflows.py: actionlint, shellcheck, package names).

Skipped here, each with its reason printed: the set-up script (network: apt, PyPI, npm), starting
libvirtd and the linux-modern VM (VMs are the lead's: tests/test_vms.py), `pip install .` (the
scratch copy's harness is on PATH instead), and ci.yml's one step (it is this test suite).

The nights, as a repository adopting the workflow lives them:
  1. no baselines/ yet: the linux job fails by its expectations alone (the scratch copy has one
     scenario with a wrong Linux expectation, scenarios/fixture.yaml below), the merge job says
     there is no baseline, publishes JUnit and the report anyway, with a recorded baseline in it;
  2. that recorded baseline committed: the known mismatch no longer fails any job, macOS moved to
     a new minor version and is compared with the recorded one; then both jobs are re-run;
  3. one faked FreeBSD answer changed: the merge job fails, naming it;
  4. only the linux job uploaded: download-artifact unpacks the single artifact into results/;
and a night when no job uploaded anything at all (an infrastructure failure, exit 3).

To show what this catches in another tree (e.g. `git archive main`), point HARNESS_WORKFLOW_TREE
at it: its workflow and its harness are run, this module's checks stay.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping, Optional

import pytest
import yaml
from conftest import ROOT, needs_root

import actions_runner
from actions_runner import Artifacts, JobResult

from harness.targets import rump

TREE = Path(os.environ.get("HARNESS_WORKFLOW_TREE") or ROOT).resolve()
NIGHTLY = TREE / ".github" / "workflows" / "nightly.yml"
CI = TREE / ".github" / "workflows" / "ci.yml"
TESTS = Path(__file__).resolve().parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
NOT_CHECKED_OUT = (".git", ".venv", "__pycache__", "*.egg-info", "build", "reports", "results", "merged")

FIXTURE = """suite: fixture
description: the workflow-logic test's known mismatch (tests/test_workflow_logic.py)
scenarios:
  - name: wrong-linux-expectation
    description: an expectation no Linux meets, on purpose
    tags: [fixture]
    steps:
      - {op: socket, sock: a, type: tcp}
      - op: setsockopt
        sock: a
        opt: SO_REUSEADDR
        expect: {linux: ENOPROTOOPT, default: ok}
"""
MISMATCH = "fixture/wrong-linux-expectation"

# The jobs that cannot run here, faked per night: artifact -> (family, version, release, machine).
FAKES = {
    1: {"results-macos-15": ("darwin", "15.6.1", "24.6.0", "arm64"),
        "results-macos-26": ("darwin", "26.1", "25.1.0", "arm64"),
        "results-freebsd-14.4": ("freebsd", "14.4", "14.4-RELEASE", "amd64"),
        "results-freebsd-15.1": ("freebsd", "15.1", "15.1-RELEASE", "amd64")},
}
FAKES[2] = {**FAKES[1], "results-macos-15": ("darwin", "15.7", "24.7.0", "arm64")}  # the runner image moved on


def load_workflow(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def skip_here(step: Mapping[str, Any]) -> Optional[str]:
    """Why a step must not run on this machine, or None."""
    run = str(step.get("run", ""))
    if "scripts/setup.sh" in run:
        return ("needs the network (apt, PyPI, npm); this test stubs its product instead: .venv/bin/python and "
                ".venv/bin/harness run the scratch copy's harness")
    if "host-daemons.sh" in run:
        return "starts libvirtd for the linux-modern VM: VMs are not booted by the tests"
    if "pip install" in run:
        return "installs the harness into the runner's Python: `harness` on PATH runs the scratch copy's"
    if "scripts/test.sh" in run:
        return "runs the whole test suite, this test among them: it is the suite running now (.ci/run)"
    return None


def tracked(tree: Path) -> Optional[list[str]]:
    """The files git would check out of the tree (its new, not ignored files too); None outside git."""
    proc = subprocess.run(["git", "-C", str(tree), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                          capture_output=True, text=True, timeout=60)
    return [f for f in proc.stdout.split("\0") if f and (tree / f).is_file()] if proc.returncode == 0 else None


def checkout(into: Path, baselines: Optional[Path]) -> Path:
    """A fresh scratch copy of the tree, as actions/checkout gives each job, and the stubbed .venv."""
    files = tracked(TREE)
    if files is None:  # e.g. `git archive main` unpacked
        shutil.copytree(TREE, into, ignore=shutil.ignore_patterns(*NOT_CHECKED_OUT))
    else:
        for f in files:
            (into / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TREE / f, into / f)
    shutil.rmtree(into / "baselines", ignore_errors=True)  # the nights decide which baseline is committed
    (into / "scenarios" / "fixture.yaml").write_text(FIXTURE)
    if baselines is not None:
        shutil.copytree(baselines, into / "baselines")
    bin_dir = into / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f'#!/bin/sh\nPYTHONPATH="{into}" exec "{VENV_PYTHON}" "$@"\n')
    (bin_dir / "harness").write_text(f'#!/bin/sh\nexec "{bin_dir / "python"}" "{TESTS / "harness_without_vms.py"}" "$@"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return into


def run_job(workflow: dict, job: str, place: Path, artifacts: Artifacts, baselines: Optional[Path]) -> JobResult:
    workspace = checkout(place / "work", baselines)
    env = {**os.environ, "PATH": f"{workspace / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    # A repository whose runner has NetBSD's rump libraries names them in a variable (docs/rump.md): here,
    # where scripts/test.sh found the prebuilt copy.
    variables = {"HARNESS_RUMP_LIB": os.environ["HARNESS_RUMP_LIB"]} if os.environ.get("HARNESS_RUMP_LIB") else {}
    result = actions_runner.run_job(workflow, job, workspace, artifacts, place / "temp", environ=env,
                                    variables=variables, skip=skip_here)
    print(f"=== {place.name}: job {job}: {result.conclusion}\n{result.log(tail=0)}")
    return result


def why(job: JobResult) -> str:
    """A failed job's log, with every cell the harness said had changed since the baseline (the log's
    tail alone gave only counts: `rump@netbsd-7.99: 4 changed`)."""
    changed = [line for step in job.steps for line in step.output.splitlines() if line.startswith("CHANGED ")]
    return job.log() + "".join(f"\n    {line}" for line in changed)


def fake_os_upload(artifacts: Artifacts, name: str, linux_doc: dict, system: tuple[str, str, str, str],
                   night: int) -> None:
    """What the macOS or FreeBSD job would have uploaded: the linux run's `local`, as that system."""
    family, version, release, machine = system
    doc = json.loads(json.dumps(linux_doc))
    doc["targets"] = [t for t in doc["targets"] if t["name"] == "local"]
    doc["results"] = [r for r in doc["results"] if r["target"] == "local"]
    doc["targets"][0]["identity"].update(
        family=family, version=version, release=release, machine=machine,
        system={"darwin": "Darwin", "freebsd": "FreeBSD"}[family],
        hostname=f"{name}-night{night}-{random.randrange(10 ** 6)}")  # CI runners' names change every night
    folder = artifacts.path(name)
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(doc))


def suites(check: dict) -> list[str]:
    (junit,) = check["files"]
    return [s.get("name") for s in ET.fromstring(junit).iter("testsuite")]


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("nights")
    workflow = load_workflow(NIGHTLY)
    out: dict[str, Any] = {}
    linux_doc: dict = {}

    def night(n: int, baselines: Optional[Path], *, rerun: bool = False) -> None:
        nonlocal linux_doc
        store = Artifacts(base / f"night{n}" / "artifacts")
        out[f"linux{n}"] = run_job(workflow, "linux", base / f"night{n}" / "linux", store, baselines)
        uploaded = store.path("results-linux") / "results.json"
        linux_doc = json.loads(uploaded.read_text()) if uploaded.exists() else linux_doc
        for name, system in FAKES[n].items():
            fake_os_upload(store, name, linux_doc, system, n)
        out[f"merge{n}"] = run_job(workflow, "merge", base / f"night{n}" / "merge", store, baselines)
        out[f"store{n}"] = store
        if rerun:  # "Re-run all jobs": new attempts of the same run, its artifacts still there
            out[f"linux{n}-rerun"] = run_job(workflow, "linux", base / f"night{n}" / "linux-rerun", store, baselines)
            out[f"merge{n}-rerun"] = run_job(workflow, "merge", base / f"night{n}" / "merge-rerun", store, baselines)

    out["merge0"] = run_job(workflow, "merge", base / "night0" / "merge", Artifacts(base / "night0" / "artifacts"), None)
    night(1, None)
    # Adopting: the `report` artifact's baselines/, reviewed and committed (README, "To adopt it");
    # where the merge job recorded none, the README's command on the downloaded results-* artifacts.
    baselines = base / "committed-baselines"
    recorded = out["store1"].path("report") / "baselines"
    if recorded.is_dir():
        shutil.copytree(recorded, baselines)
    else:
        tool = checkout(base / "adopt", None)
        found = sorted(str(p) for p in out["store1"].root.glob("results-*/results.json"))
        proc = subprocess.run([str(tool / ".venv" / "bin" / "harness"), "baseline", "update", *found,
                               "--out", str(baselines)], cwd=tool, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    out["baselines"] = baselines
    night(2, baselines, rerun=True)

    # Night 3: other runners again, and FreeBSD 15.1 answers the fixture's setsockopt otherwise than recorded.
    store = Artifacts(base / "night3" / "artifacts")
    shutil.copytree(out["store2"].path("results-linux"), store.path("results-linux"))
    for name, system in FAKES[2].items():
        fake_os_upload(store, name, linux_doc, system, 3)
    path = store.path("results-freebsd-15.1") / "results.json"
    doc = json.loads(path.read_text())
    (mismatch,) = [r for r in doc["results"] if r["id"] == MISMATCH]
    mismatch["steps"][1]["observed"]["outcome"] = "EINVAL"
    path.write_text(json.dumps(doc))
    out["merge3"] = run_job(workflow, "merge", base / "night3" / "merge", store, baselines)
    out["store3"] = store

    # Night 4: every other job died before uploading anything.
    store = Artifacts(base / "night4" / "artifacts")
    shutil.copytree(out["store2"].path("results-linux"), store.path("results-linux"))
    out["merge4"] = run_job(workflow, "merge", base / "night4" / "merge", store, baselines)
    out["store4"] = store
    return out


# --- the first night -----------------------------------------------------------------------------

@needs_root
def test_first_night_without_baselines_publishes_the_merged_report_and_junit(nights):
    merge: JobResult = nights["merge1"]
    (check,) = nights["store1"].checks
    assert check["files"], f"the JUnit step found no merged/junit.xml:\n{merge.log()}"
    assert check["name"] == "harness nightly"
    step = merge.step("Merge and compare with the baselines")
    # Judged by the expectations alone (the fixture's mismatch): 1, not 2 for a missing folder.
    assert (step.outcome, step.status) == ("failure", 1), merge.log()
    assert "no baseline folder baselines/" in step.output and "harness baseline update" in step.output
    assert "no baseline folder baselines/" in merge.summary
    report = nights["store1"].path("report")
    assert (report / "report.html").is_file() and (report / "junit.xml").is_file()
    assert "no baseline folder baselines/" in (report / "report.html").read_text()


@needs_root
def test_first_night_the_linux_job_runs_for_real_and_fails_by_its_expectations(nights):
    linux: JobResult = nights["linux1"]
    assert linux.step("Set up (the README's set-up script)").outcome == "skipped"
    choose = linux.step("Choose the targets")
    assert choose.outcome == "success" and choose.outputs["targets"].startswith("local,local-legacy,linux-modern")
    run = linux.step("Run the scenarios")
    assert run.outcome == "success", linux.log()  # the status is remembered, the upload comes first
    assert linux.step("Upload results").outcome == "success"
    assert (linux.step("Fail if the harness did").outcome, linux.conclusion) == ("failure", "failure")
    doc = json.loads((nights["store1"].path("results-linux") / "results.json").read_text())
    ran = {t["name"] for t in doc["targets"] if t.get("ran")}
    assert {"local", "local-legacy"} <= ran and "linux-modern" not in {t["name"] for t in doc["targets"]}
    verdicts = {(r["target"], r["id"]): r["verdict"] for r in doc["results"]}
    assert verdicts[("local", MISMATCH)] == "fail"  # a real kernel answer against a wrong expectation


# --- after adoption --------------------------------------------------------------------------------

@needs_root
def test_a_mismatch_recorded_in_the_baseline_no_longer_fails_the_os_job(nights):
    linux: JobResult = nights["linux2"]
    assert linux.conclusion == "success", why(linux)
    assert linux.step("Fail if the harness did").outcome == "skipped"
    merge: JobResult = nights["merge2"]
    assert merge.conclusion == "success", why(merge)
    (junit,) = nights["store2"].checks[0]["files"]
    cases = [(suite.get("name"), case) for suite in ET.fromstring(junit).iter("testsuite")
             for case in suite.iter("testcase") if case.get("name") == "wrong-linux-expectation"]
    linux = [case for name, case in cases if not name.startswith("rump")]  # rump is NetBSD: no mismatch there
    assert linux and all("known mismatch" in case.find("skipped").get("message") for case in linux)
    assert all(len(case) == 0 for name, case in cases if name.startswith("rump"))  # passed, as expected


@needs_root
def test_merged_columns_are_named_by_system_and_the_same_every_night(nights):
    doc = json.loads((nights["store2"].path("results-linux") / "results.json").read_text())
    (local,) = [t for t in doc["targets"] if t["name"] == "local"]
    major, minor = local["identity"]["version"].split(".")[:2]
    expected = {f"local@linux-{major}.{minor}", "local-legacy", "local@macos-15", "local@macos-26",
                "local@freebsd-14.4", "local@freebsd-15.1"}
    expected |= {"rump"} & {t["name"] for t in doc["targets"]}  # where the harness has it (issue 22)
    # Every night's runners have other host names; on night 2 macOS 15 is on another minor.
    named = {n: suites(nights[f"store{n}"].checks[0]) for n in (1, 2, 3) if nights[f"store{n}"].checks[0]["files"]}
    assert {n: set(names) for n, names in named.items()} == {n: expected for n in (1, 2, 3)}


@needs_root
def test_a_runner_image_on_a_new_minor_is_compared_with_the_recorded_one(nights):
    output = nights["merge2"].step("Merge and compare with the baselines").output
    assert "compared with local@darwin-15.6" in output and "moved from darwin-15.6 to darwin-15.7" in output


@needs_root
def test_re_running_the_jobs_uploads_their_artifacts_again(nights):
    for job, upload in (("linux2-rerun", "Upload results"), ("merge2-rerun", "Upload the merged report")):
        step = nights[job].step(upload)
        assert step.outcome == "success", f"{job}: {step.reason}"


@needs_root
def test_a_changed_kernel_answer_fails_the_night_and_says_which(nights):
    step = nights["merge3"].step("Merge and compare with the baselines")
    assert (step.outcome, step.status) == ("failure", 1), nights["merge3"].log()
    assert f"CHANGED local {MISMATCH} step 2: ok -> EINVAL" in step.output
    (check,) = nights["store3"].checks
    assert check["files"]


@needs_root
def test_a_night_with_a_single_artifact_still_merges(nights):
    """download-artifact v5+ unpacks a single matched artifact into path itself, not path/<name>."""
    merge: JobResult = nights["merge4"]
    assert merge.conclusion == "success", why(merge)
    (check,) = nights["store4"].checks
    assert check["files"] and "local" in suites(check)


@needs_root
def test_a_night_without_any_results_says_so_as_an_infrastructure_failure(nights):
    step = nights["merge0"].step("Merge and compare with the baselines")
    assert (step.outcome, step.status) == ("failure", 3)
    assert "no OS job uploaded a results.json" in step.output


@needs_root
def test_rump_runs_in_the_linux_job_where_the_runner_has_its_libraries(nights):
    """With NetBSD's libraries (HARNESS_RUMP_LIB, as scripts/test.sh sets it where ../shared has them, or
    the copy scripts/setup.sh unpacked into the .venv the jobs' Python runs from) the night has a measured
    NetBSD column; without them the job runs the others and its log says why."""
    doc = json.loads((nights["store2"].path("results-linux") / "results.json").read_text())
    names = {t["name"] for t in doc["targets"]}
    if rump.library_folder()[0] is not None:  # this process's Python and environment are the jobs' own
        (netbsd,) = [t for t in doc["targets"] if t["name"] == "rump"]
        assert netbsd["ran"] and netbsd["identity"]["family"] == "netbsd"
    else:
        assert "rump" not in names and {"local", "local-legacy"} <= names


# --- ci.yml ---------------------------------------------------------------------------------------

def test_ci_runs_the_suite_this_test_is_part_of(tmp_path):
    """ci.yml's one job: its checkout is emulated and its one step is this suite (.ci/run runs the same)."""
    workflow = load_workflow(CI)
    said: list[str] = []
    result = actions_runner.run_job(workflow, "test", tmp_path, Artifacts(tmp_path / "artifacts"), tmp_path / "temp",
                                    skip=skip_here, say=said.append)
    assert [s.outcome for s in result.steps] == ["success", "skipped"]
    assert said and "it is the suite running now" in said[0]
    assert "bash scripts/test.sh" in (TREE / ".ci" / "run").read_text()
