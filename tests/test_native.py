"""`harness run --targets local` on a macOS or FreeBSD host, and what `pip install .` ships.

No macOS or FreeBSD kernel exists here. These tests fake the platform in the
harness's own process (sys.platform, platform.system, os.geteuid) to run the
code paths such a host takes: which modules load, that `local` needs neither
root nor namespaces, that `local-legacy` says why it cannot run. The agent
they start is real and runs on this machine's Linux kernel, without namespaces,
as it would on a Mac; what the kernel answers is therefore Linux's.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT, SEED, needs_root

from harness import agent

HEAVY = ("seccomp", "vagrant", "paramiko", "fabric", "harness.targets.vagrant",
         "harness.targets.vagrantcli", "harness.targets.ssh", "harness.targets.remote")


def run_as(system: str, release: str, tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`harness ARGS` in a fresh interpreter that believes it runs on `system`, as a non-root user."""
    modules = tmp_path / "modules.json"
    # urllib.request (which xml.sax.saxutils imports) needs macOS's own _scproxy once sys.platform says darwin:
    # loaded before the platform is faked, as it would load on a real Mac.
    script = f"""
import atexit, json, os, platform, sys, urllib.request
sys.platform = {system.lower()!r}
platform.system = lambda: {system!r}
platform.release = lambda: {release!r}
platform.mac_ver = lambda *a: ("14.5", ("", "", ""), "arm64")
os.geteuid = lambda: 501
atexit.register(lambda: open({str(modules)!r}, "w").write(json.dumps(sorted(sys.modules))))
from harness.cli import main
main({list(args)!r})
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc, json.loads(modules.read_text())


@needs_root  # the real agent under the faked harness binds ports as root for the other-user scenarios
@pytest.mark.parametrize("system, release", [("Darwin", "23.5.0"), ("FreeBSD", "14.1-RELEASE")])
def test_local_runs_without_namespaces_root_seccomp_or_vagrant(tmp_path, system, release):
    proc, modules = run_as(system, release, tmp_path, "run", str(SEED), "--targets", "local", "--tags", "bind",
                           "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [m for m in HEAVY if m in modules] == []
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    local = doc["targets"][0]
    assert local["ran"] and local["environment"]["where"] == "host"  # no per-scenario namespace off Linux
    assert {r["verdict"] for r in doc["results"]} == {"pass"}


def test_local_legacy_says_it_needs_linux(tmp_path):
    proc, modules = run_as("Darwin", "23.5.0", tmp_path, "run", str(SEED), "--targets", "local-legacy",
                           "--out", str(tmp_path / "out"))
    assert proc.returncode == 3, proc.stdout + proc.stderr  # a named target that cannot run
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["targets"][0]["reason"] == "the emulation uses seccomp, which only Linux has"
    assert doc["targets"][0]["declared"]["label"] == "linux 3.8, not measured"
    assert "seccomp" not in modules


def test_targets_and_validate_need_no_vm_code(tmp_path):
    for args in (["validate", str(SEED)], ["--version"]):
        proc, modules = run_as("Darwin", "23.5.0", tmp_path, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert [m for m in HEAVY if m in modules] == []


def test_the_agent_names_macos_by_its_product_version(monkeypatch):
    monkeypatch.setattr(agent.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(agent.platform, "release", lambda: "23.5.0")
    monkeypatch.setattr(agent.platform, "mac_ver", lambda *a: ("14.5", ("", "", ""), "arm64"))
    ident = agent.identity()
    assert (ident["family"], ident["version"], ident["release"]) == ("darwin", "14.5", "23.5.0")


def test_a_wheel_carries_the_agent_and_the_report_template(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/agent.py" in names and "harness/report/templates/report.html.j2" in names
    assert not [n for n in names if n.startswith("tests/")]
