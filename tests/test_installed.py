"""The installed tool, as a user gets it: the sdist and wheel built from this checkout, the wheel installed
with its dependencies into a fresh virtualenv, every command run from an empty folder where nothing of
the checkout is importable.

One build and one virtualenv for the module (about 10 s; the dependencies come from pip's cache or
PyPI, as `pip install` gets them). The virtualenv sees the system's packages, as scripts/setup.sh's
does, for python3-seccomp (local-legacy). The commands run with PATH holding only the virtualenv's
bin/: no vagrant, virsh, libvirtd or bash, so `--targets all`, `up` and `down` can neither boot a
machine nor fetch or build a box here; they report the VM targets unavailable, with the reason.
"""
from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, grid_rows, needs_root

from harness.scenario.loader import load_files
from harness.scenario.schema import json_schema

# What the commands read besides the code, as the checkout has it (the wheel keeps the layout).
SHIPPED = ["Vagrantfile", "docs/scenario.schema.json", "scripts/apt-install.sh",
           *(f"scenarios/{p.name}" for p in (ROOT / "scenarios").glob("*.yaml")),
           *(f"vagrant/{p.name}" for p in (ROOT / "vagrant").iterdir() if p.is_file())]
EXECUTABLE = ["vagrant/qemu-tcg-wrapper", "vagrant/build-box.sh", "vagrant/host-daemons.sh", "vagrant/setup-host.sh"]
# Not copied for the build: what is not the project's source (environments, outputs, state, caches).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".harness", ".vagrant", "build", "dist", "reports",
                                    "*.egg-info", "__pycache__", "node_modules")


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path
    home: Path  # HOME, XDG_STATE_HOME and HARNESS_CACHE live under it
    work: Path  # the empty folder commands run in

    @property
    def package(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages/harness"))

    def package_files(self) -> set[Path]:
        return {p for p in self.package.rglob("*") if "__pycache__" not in p.parts}

    def env(self, path: str = "") -> dict[str, str]:
        """A fresh user's environment: the virtualenv's bin/ (plus `path`), nothing of the checkout."""
        return {"PATH": os.pathsep.join(p for p in (str(self.venv / "bin"), path) if p), "HOME": str(self.home),
                "XDG_STATE_HOME": str(self.home / "state"), "HARNESS_CACHE": str(self.home / "cache"),
                "HARNESS_ISOLATED_ONLY": "1", "COLUMNS": "200", "LANG": "C.UTF-8"}

    def run(self, *args: str, path: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
        """`harness ARGS` (or `python ARGS` when args start with -m/-c) in the empty folder; never a traceback,
        never a file written into the installed package."""
        before = self.package_files()
        command = [str(self.venv / "bin" / ("python" if args[0] in ("-m", "-c") else "harness")), *args]
        proc = subprocess.run(command, cwd=self.work, env=self.env(path), capture_output=True, text=True,
                              timeout=timeout)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        assert self.package_files() == before, "a command wrote into the installed package"
        return proc


def checked(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{what} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("installed")
    source, dist = tmp / "source", tmp / "dist"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)  # the build writes nothing into the checkout
    # The sdist first, then the wheel from the unpacked sdist: the wheel proves the sdist is complete.
    checked(subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
                           capture_output=True, text=True, timeout=300, cwd=tmp),  # not where a build/ folder may be
            "python -m build (scripts/setup.sh installs build and setuptools>=77 into .venv)")
    wheel, sdist = next(dist.glob("harness-*.whl")), next(dist.glob("harness-*.tar.gz"))
    venv = tmp / "venv"
    checked(subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                           capture_output=True, text=True, timeout=120), "python -m venv")
    checked(subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            str(wheel)], capture_output=True, text=True, timeout=600, cwd=tmp),
            "pip install of the wheel with its dependencies")
    (tmp / "home").mkdir()
    (tmp / "work").mkdir()
    return Installed(wheel, sdist, venv, tmp / "home", tmp / "work")


@pytest.fixture(scope="module")
def seed_run(installed) -> subprocess.CompletedProcess:
    """`harness run reuseport --targets local,local-legacy`, the project's main job, once."""
    if os.geteuid() != 0:
        pytest.skip("local targets need root for network namespaces")
    return installed.run("run", "reuseport", "--targets", "local,local-legacy", "--out", "seed")


def test_wheel_and_sdist_carry_the_library_catalogue_and_scripts_and_pass_twine(installed):
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        for rel in SHIPPED:  # one source of truth: the checkout's bytes, in the checkout's layout
            assert whl.read(f"harness/_data/{rel}") == (ROOT / rel).read_bytes(), rel
        for rel in EXECUTABLE:  # libvirt executes the wrapper; the scripts keep their mode too
            assert whl.getinfo(f"harness/_data/{rel}").external_attr >> 16 & 0o111, rel
        code = {p.relative_to(ROOT).as_posix() for p in (ROOT / "harness").rglob("*.py")}
        assert code <= names, f"modules missing from the wheel (pyproject's packages): {sorted(code - names)}"
        assert "harness/report/templates/report.html.j2" in names
        meta = email.message_from_bytes(whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    assert meta["License-Expression"] == "MIT" and meta["License-File"] == "LICENSE"
    assert meta["Description-Content-Type"] == "text/markdown" and meta["Requires-Python"] == ">=3.9"
    classifiers = meta.get_all("Classifier")
    assert {"Operating System :: POSIX :: Linux", "Operating System :: MacOS",
            "Operating System :: POSIX :: BSD :: FreeBSD", "Programming Language :: Python :: 3.9"} <= set(classifiers)
    assert not meta.get_all("Project-URL")  # none until the project has a public address: never a made-up one
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(installed.wheel),
                            str(installed.sdist)], capture_output=True, text=True, timeout=120)
    assert twine.returncode == 0 and twine.stdout.count("PASSED") == 2, twine.stdout + twine.stderr
    for path in EXECUTABLE:
        assert os.access(installed.package / "_data" / path, os.X_OK), path
    for script in (installed.package / "_data" / "vagrant").glob("*.sh"):  # what a script runs beside itself
        for rel in re.findall(r'\$\(dirname "\$0"\)/([\w./-]+)', script.read_text()):
            assert (script.parent / rel).is_file(), f"{script.name} runs {rel}, which the package lacks"


def test_the_harness_that_runs_is_the_installed_one(installed):
    code = ("import harness, harness.resources as r, importlib.util as u; print(harness.__file__); "
            "print(r.checkout()); print(r.data_root()); print(u.find_spec('pytest'))")
    lines = checked(installed.run("-c", code), "python -c").stdout.splitlines()
    assert Path(lines[0]).is_relative_to(installed.venv) and not Path(lines[0]).is_relative_to(ROOT)
    assert lines[1] == "None" and Path(lines[2]) == installed.package / "_data"
    assert lines[3] == "None"  # the checkout's .venv (pytest and the rest) is not reachable either


def test_vm_state_goes_to_the_users_state_folder_or_the_project_never_the_package(installed):
    code = "from harness.targets.vagrantcli import state_dir; print(state_dir('freebsd'))"
    assert installed.run("-c", code).stdout.strip() == str(installed.home / "state" / "harness" / "vagrant" / "freebsd")
    project = installed.work / "project"
    (project / ".harness").mkdir(parents=True)
    proc = subprocess.run([str(installed.venv / "bin" / "python"), "-c", code], cwd=project,
                          env=installed.env(), capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == str(project / ".harness" / "vagrant" / "freebsd"), proc.stderr
    shutil.rmtree(project)


def test_a_shipped_suite_runs_by_name_on_local_and_local_legacy(installed, seed_run):
    assert seed_run.returncode == 0, seed_run.stdout + seed_run.stderr
    assert "96 passed, 0 failed, 0 skipped, 0 errors" in seed_run.stdout
    doc = json.loads((installed.work / "seed" / "results.json").read_text())
    assert doc["files"] == [str(installed.package / "_data" / "scenarios" / "reuseport.yaml")]
    assert {t["name"]: t["ran"] for t in doc["targets"]} == {"local": True, "local-legacy": True}
    assert (installed.work / "seed" / "report.html").stat().st_size > 0


def test_targets_lists_the_catalogue_with_why_each_vm_cannot_run(installed):
    for tool in ("vagrant", "virsh", "libvirtd", "VBoxManage", "bash"):
        assert shutil.which(tool, path=installed.env()["PATH"]) is None, f"{tool} is reachable: a VM could boot"
    proc = checked(installed.run("targets"), "harness targets")
    rows = {name: "  ".join(cells) for name, cells in grid_rows(proc.stdout).items()}
    for name, box in (("linux-legacy", "debian/wheezy64"), ("linux-modern", "debian/bookworm64"),
                      ("freebsd", "generic/freebsd14")):  # vagrant/targets.yaml, read from the package
        assert box in rows[name] and "no: vagrant is not installed" in rows[name], proc.stdout
    assert "opt-in: set HARNESS_MACOS_BOX" in rows["macos"]


@needs_root
def test_run_on_all_targets_reports_the_unavailable_ones_with_reasons(installed):
    proc = installed.run("run", "reuseport", "--targets", "all", "--out", "every-target")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # `all`: what cannot run here does not fail the run
    doc = json.loads((installed.work / "every-target" / "results.json").read_text())
    targets = {t["name"]: t for t in doc["targets"]}
    assert set(targets) == {"local", "local-legacy", "rump", "linux-legacy", "linux-modern", "freebsd"}
    for name in ("linux-legacy", "linux-modern", "freebsd"):
        assert not targets[name]["ran"] and "vagrant is not installed" in targets[name]["reason"]
    # a fresh user has no NetBSD libraries: the column says where they go
    assert not targets["rump"]["ran"] and "HARNESS_RUMP_LIB" in targets["rump"]["reason"]
    assert doc["summary"] == {"pass": 96, "fail": 0, "error": 0, "skipped": 192}


def test_ssh_and_reference_targets_from_the_installed_tool(installed, sshd):
    """The agent the package carries goes over SSH (to this machine's test sshd); a reference column beside it."""
    proc = installed.run("run", "timewait", "--targets", sshd.url(), "--reference", "freebsd-14", "--out", "ssh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((installed.work / "ssh" / "results.json").read_text())
    ssh, ref = doc["targets"]
    assert ssh["provider"] == "ssh" and ssh["ran"] and ref["reference"] and not ref["ran"]
    assert doc["summary"]["pass"] == len(load_files([str(ROOT / "scenarios" / "timewait.yaml")])[0].scenarios) > 0


def test_up_and_down_say_in_one_line_per_machine_why_they_cannot(installed):
    up = installed.run("up", "linux-modern")
    assert up.returncode == 3 and up.stdout.startswith("linux-modern: unavailable: vagrant is not installed")
    down = installed.run("down")
    assert down.returncode == 3, down.stdout + down.stderr
    assert [line.split(":")[0] for line in down.stdout.splitlines()] == ["linux-legacy", "linux-modern", "freebsd"]
    assert all(": not checked: libvirt is not installed" in line for line in down.stdout.splitlines())


def test_validate_suites_schema_and_python_m_harness(installed):
    library = load_files([str(ROOT / "scenarios")])
    scenarios = sum(len(suite.scenarios) for suite in library)
    assert checked(installed.run("validate", "all"), "validate").stdout.strip() == \
        f"ok: {len(library)} suite(s), {scenarios} scenario(s)"
    listed = checked(installed.run("suites"), "suites").stdout
    rows = grid_rows(listed)
    for suite in library:
        assert rows[suite.name][1] == str(len(suite.scenarios)), listed
    assert str(installed.package / "_data" / "scenarios") in listed
    assert json.loads(checked(installed.run("schema"), "schema").stdout) == json_schema()
    unknown = installed.run("run", "reuseprot", "--targets", "local")
    assert unknown.returncode == 2 and "shipped suites: connect, dualstack" in unknown.stderr
    assert checked(installed.run("-m", "harness", "--version"), "version").stdout.startswith("harness, version ")
    assert checked(installed.run("-m", "harness", "validate", "timewait"), "-m validate").stdout.startswith("ok: 1 suite")


def test_report_and_baseline_from_an_installed_run(installed, seed_run):
    assert seed_run.returncode == 0, seed_run.stdout + seed_run.stderr
    proc = checked(installed.run("report", "seed/results.json", "--out", "merged"), "report")
    assert "48 scenario(s) x 2 target(s): 96 passed" in proc.stdout
    assert (installed.work / "merged" / "junit.xml").exists() and (installed.work / "merged" / "report.html").exists()
    checked(installed.run("baseline", "update", "seed/results.json", "--out", "baselines"), "baseline update")
    again = checked(installed.run("run", "reuseport", "--targets", "local", "--baseline", "baselines", "--out", "again"),
                    "run --baseline")
    assert "CHANGED" not in again.stdout and "48 passed" in again.stdout


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup.sh)")
def test_record_writes_a_scenario_pointing_at_the_installed_schema(installed):
    program = "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)"
    strace_dir = str(Path(shutil.which("strace")).parent)
    proc = installed.run("record", "--out", "recorded.yaml", "--", str(installed.venv / "bin" / "python"), "-c",
                         program, path=strace_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = (installed.work / "recorded.yaml").read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema = (installed.work / first.split("$schema=", 1)[1]).resolve()
    assert schema == (installed.package / "_data" / "docs" / "scenario.schema.json").resolve()
    assert checked(installed.run("validate", "recorded.yaml"), "validate").stdout.startswith("ok: 1 suite(s)")
