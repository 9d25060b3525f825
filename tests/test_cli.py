"""The `harness` command end to end, on this machine's real kernel."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import ROOT, SEED, harness, harness_in_background, needs_root, results

from harness.scenario.loader import load_suite


@needs_root
def test_seed_file_passes_on_local_and_local_legacy(tmp_path):
    proc = harness("run", str(SEED), "--targets", "local,local-legacy", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = results(tmp_path)
    assert doc["complete"] and doc["summary"]["fail"] == doc["summary"]["error"] == 0
    by = {(r["target"], r["scenario"]): r for r in doc["results"]}
    assert all(r["verdict"] == "pass" for r in by.values())
    # Every scenario in its three address families, each its own result, all answered by a kernel.
    bases = {name.rsplit("[", 1)[0] for _, name in by}
    assert len(bases) == 16 and set(by) == {(t, f"{b}[{fam}]") for t in ("local", "local-legacy") for b in bases
                                             for fam in ("inet", "inet6", "inet6-mapped")}
    v6 = by[("local", "duplicate-bind-tcp-both[inet6]")]["steps"]
    assert v6[0]["args"] == {"sock": "a", "type": "tcp", "family": "inet6", "v6only": True}
    assert v6[2]["args"]["addr"] == "loopback6" and v6[0]["observed"]["outcome"] == "ok"

    spread = by[("local", "distribute-tcp-four-listeners[inet]")]["steps"][-1]["observed"]
    assert sum(1 for n in spread["histogram"].values() if n > 0) >= 2
    assert sum(spread["histogram"].values()) == 32

    legacy = by[("local-legacy", "setsockopt-exists[inet]")]["steps"][1]["observed"]
    assert legacy["outcome"] == "ENOPROTOOPT"
    targets = {t["name"]: t for t in doc["targets"]}
    assert targets["local-legacy"]["emulated"] and targets["local-legacy"]["identity"]["emulated"]
    assert targets["local-legacy"]["identity"]["label"].startswith("linux 3.8, emulated on Linux ")
    assert targets["local"]["identity"]["release"] == os.uname().release
    assert "emulated" in proc.stdout  # the terminal matrix says so too


@needs_root
def test_a_wrong_expectation_exits_1_naming_step_expected_and_observed(tmp_path):
    text = SEED.read_text().replace("expect: {linux<3.9: EADDRINUSE, default: ok}", "expect: {linux<3.9: EADDRINUSE, default: EACCES}", 1)
    bad = tmp_path / "reuseport.yaml"
    bad.write_text(text)
    proc = harness("run", str(bad), "--targets", "local", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL local reuseport/duplicate-bind-tcp-both" in proc.stdout
    assert "step 6 (bind b 127.0.0.1:P)" in proc.stdout or "step 6 (bind b loopback:P)" in proc.stdout
    assert "expected EACCES [default], observed ok" in proc.stdout


BROKEN = {
    "unknown-op.yaml": "suite: s\nscenarios:\n  - name: a\n    steps:\n      - {op: bnd, sock: a}\n",
    "undefined-socket.yaml": "suite: s\nscenarios:\n  - name: a\n    steps:\n      - {op: listen, sock: nope}\n",
    "bad-selector.yaml": (
        "suite: s\nscenarios:\n  - name: a\n    steps:\n      - {op: socket, sock: a, type: tcp,\n"
        "         expect: {linux<<3: ok}}\n"
    ),
    "wrong-type.yaml": "suite: s\nscenarios:\n  - name: a\n    steps:\n      - {op: socket, sock: a, type: 7}\n",
    "duplicate-names.yaml": (
        "suite: s\nscenarios:\n  - name: a\n    steps: [{op: sleep, ms: 1}]\n"
        "  - name: a\n    steps: [{op: sleep, ms: 1}]\n"
    ),
    "syntax.yaml": "suite: s\nscenarios: [\n",
    "empty.yaml": "",
    "garbage.yaml": b"\x00\xff\xfe\x89PNG\r\n\x1a\n\x00\x00",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_rejects_broken_files_with_positions_and_exit_2(tmp_path, name):
    path = tmp_path / name
    content = BROKEN[name]
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for command in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "out")]):
        proc = harness(*command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.startswith(str(path) + ":")]
        assert lines, proc.stderr
        for line in lines:
            line_no, col = line[len(str(path)) + 1:].split(":")[:2]
            assert line_no.isdigit() and col.isdigit(), line
    assert not (tmp_path / "out").exists()  # bad input: nothing written


def test_validate_accepts_the_shipped_scenarios():
    proc = harness("validate", str(ROOT / "scenarios"))
    assert proc.returncode == 0, proc.stderr
    assert "ok:" in proc.stdout


def test_unknown_target_is_bad_input(tmp_path):
    proc = harness("run", str(SEED), "--targets", "local,plan9", "--out", str(tmp_path))
    assert proc.returncode == 2 and "unknown target plan9" in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_targets_lists_local_and_emulated_legacy():
    proc = harness("targets")
    assert proc.returncode == 0
    assert "local-legacy" in proc.stdout and "emulated" in proc.stdout


@needs_root
def test_an_agent_that_cannot_start_is_an_infrastructure_error(tmp_path):
    proc = harness("run", str(SEED), "--targets", "local", "--out", str(tmp_path),
                   env={"HARNESS_AGENT_PYTHON": "/bin/false"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = results(tmp_path)
    assert {r["verdict"] for r in doc["results"]} == {"error"}
    assert doc["summary"]["fail"] == 0  # never reported as behaviour


SLOW = """suite: slow
scenarios:
  - name: quick
    steps: [{op: sleep, ms: 1}]
  - name: slow
    steps: [{op: sleep, ms: 20000}]
"""


@needs_root
def test_interrupt_stops_agents_and_keeps_what_finished(tmp_path):
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW)
    out = tmp_path / "out"
    proc = harness_in_background("run", str(path), "--targets", "local", "--out", str(out))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (out / "results.json").exists() and results(out)["results"]:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stdout + stderr
    doc = results(out)
    assert doc["interrupted"] and not doc["complete"]
    assert [(r["scenario"], r["verdict"]) for r in doc["results"]] == [("quick", "pass")]
    leftovers = subprocess.run(["pgrep", "-f", f"{ROOT}/harness/agent.py"], capture_output=True,
                               text=True).stdout.split()  # this checkout's agents only
    assert not leftovers, f"agent processes left behind: {leftovers}"


@needs_root
def test_run_writes_results_junit_and_html_where_asked(tmp_path):
    paths = {"--json": tmp_path / "a" / "r.json", "--junit": tmp_path / "b" / "j.xml", "--html": tmp_path / "c" / "p.html"}
    args = [item for flag, path in paths.items() for item in (flag, str(path))]
    proc = harness("run", str(SEED), "--targets", "local", "--tags", "distribute", "--out", str(tmp_path / "d"), *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(p.exists() for p in paths.values())
    assert not (tmp_path / "d").exists()  # every file went where it was asked to
    tagged = [sc for sc in load_suite(str(SEED)).scenarios if "distribute" in sc.tags]
    assert json.loads(paths["--json"].read_text())["summary"]["pass"] == len(tagged) > 0


@needs_root
def test_the_whole_scenario_library_passes_on_this_kernel_and_the_emulated_legacy_one(tmp_path):
    """Every Linux expectation of every suite, checked against the real kernel (and Linux 3.8 emulated)."""
    proc = harness("run", str(ROOT / "scenarios"), "--targets", "local,local-legacy", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = results(tmp_path)
    suites = {r["suite"] for r in doc["results"]}
    assert {"reuseport", "reuseaddr", "timewait", "dualstack", "connect", "real-world"} <= suites
    assert {s for s in suites if s.startswith("peer-")} == {p.stem for p in (ROOT / "scenarios").glob("peer-*.yaml")}
    assert doc["summary"]["fail"] == doc["summary"]["error"] == 0


@needs_root
def test_local_legacy_works_with_pyseccomp_where_debians_binding_is_missing(tmp_path):
    """A venv of another Python does not see python3-seccomp: pyseccomp (PyPI) stands in."""
    hidden = tmp_path / "hide" / "seccomp"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('python3-seccomp is not visible here')\n")
    proc = harness("run", str(SEED), "--targets", "local-legacy", "--tags", "reuseport", "--out", str(tmp_path / "o"),
                   env={"PYTHONPATH": str(tmp_path / "hide")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    setsockopt = results(tmp_path / "o")["results"][0]["steps"][1]
    assert setsockopt["observed"]["outcome"] == "ENOPROTOOPT"  # the filter is loaded: the 3.8 answer


@needs_root
def test_the_readmes_example_runs_as_the_readme_says(tmp_path):
    """The scenario at the top of the README is a real one: it passes on both local targets, the
    distribution observed on each as its expectation says."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```yaml\nsuite: example\n") + len("```yaml\n")
    example = tmp_path / "example.yaml"
    example.write_text(readme[start:readme.index("```", start)])
    proc = harness("run", str(example), "--targets", "local,local-legacy", "--reference", "freebsd-14",
                   "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed, 0 failed, 1 skipped, 0 errors" in proc.stdout
    hist = {r["target"]: r["steps"][-1]["observed"]["histogram"] for r in results(tmp_path / "out")["results"]
            if r["target"] in ("local", "local-legacy")}
    assert min(hist["local"].values()) > 0 and hist["local-legacy"] == {"a": 32, "b": 0}


def test_a_bug_in_the_harness_exits_3_with_its_traceback_never_1(monkeypatch, capsys):
    """Exit 1 means a kernel behaved otherwise (or explore found a difference): a crash of ours must not
    read as that."""
    from harness import cli

    def broken(files):
        raise RuntimeError("a bug")
    monkeypatch.setattr(cli, "load_or_exit", broken)
    with pytest.raises(SystemExit) as exc:
        cli.main(["validate", str(SEED)])
    assert exc.value.code == 3
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr and "RuntimeError: a bug" in stderr and "internal error" in stderr
    with pytest.raises(SystemExit) as exc:  # bad usage is still click's: 2
        cli.main(["validate", "--no-such-option"])
    assert exc.value.code == 2
