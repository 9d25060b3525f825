"""Hostile input and faults: bounded work, honest outcomes, no traceback, nothing lost (issue reproducers)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import SEED, harness, harness_in_background, needs_root, results
from harness.scenario.loader import load_suite


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def merge_bomb(levels: int, fanout: int = 9) -> str:
    """Each step merges the previous one `fanout` times: expanded naively, fanout**levels pairs."""
    steps = ["      - &m0 {op: sleep, ms: 1}"]
    for level in range(1, levels + 1):
        steps.append(f"      - &m{level} {{<<: [{', '.join([f'*m{level - 1}'] * fanout)}]}}")
    return "suite: bomb\nscenarios:\n  - name: a\n    steps:\n" + "\n".join(steps) + "\n"


def test_a_merge_key_bomb_is_cheap_to_validate(tmp_path):
    path = write(tmp_path, merge_bomb(12))
    assert len(path.read_bytes()) < 1200
    start = time.monotonic()
    proc = harness("validate", str(path), timeout=30)
    assert proc.returncode == 0, proc.stderr  # a valid file: 13 sleep steps
    assert time.monotonic() - start < 5 and "13" not in proc.stderr


def test_a_selector_of_thousands_of_digits_is_bad_input_not_a_traceback(tmp_path):
    key = "linux<" + "9" * 5000  # an explicit key (?): YAML's plain keys stop at 1024 characters
    step = f"op: sleep\n        ms: 1\n        expect:\n          ? {key}\n          : ok\n          default: ok"
    path = write(tmp_path, f"suite: s\nscenarios:\n  - name: a\n    steps:\n      - {step}\n")
    proc = harness("validate", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad selector" in proc.stderr and len(proc.stderr) < 2000  # the value is shortened, not echoed


@pytest.mark.parametrize("step, message", [
    ("{op: sleep, ms: 100000000000000000000000000000}", "ms must be a non-negative integer up to 3600000"),
    ("{op: recvfrom, sock: u, size: 100000000000}", "size must be a non-negative integer up to 16777216"),
    ("{op: setsockopt, sock: u, opt: SO_RCVBUF, value: 99999999999999}", "fits 32 bits"),
])
def test_numbers_have_their_real_range_at_validate_time(tmp_path, step, message):
    text = f"suite: s\nscenarios:\n  - name: a\n    steps:\n      - {{op: socket, sock: u, type: udp}}\n      - {step}\n"
    proc = harness("validate", str(write(tmp_path, text)))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_a_user_name_with_a_nul_is_refused_at_validate_time(tmp_path):
    text = 'suite: s\nscenarios:\n  - name: a\n    actors: {o: {user: "no\\0body"}}\n    steps: [{op: sleep, ms: 1}]\n'
    proc = harness("validate", str(write(tmp_path, text)))
    assert proc.returncode == 2 and ":4:" in proc.stderr and "user" in proc.stderr


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_unwritable_out_is_bad_input_before_anything_runs(tmp_path, where):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "reports" if where == "under-a-file" else Path("/proc/harness-cannot-write-here")
    proc = harness("run", str(SEED), "--targets", "local", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot write into" in proc.stderr and "Traceback" not in proc.stderr
    assert "pass" not in proc.stdout  # nothing ran


@needs_root
def test_a_second_run_into_the_same_out_is_refused(tmp_path):
    slow = write(tmp_path, "suite: slow\nscenarios:\n  - name: hold\n    steps: [{op: sleep, ms: 4000}]\n")
    out = tmp_path / "out"
    first = harness_in_background("run", str(slow), "--targets", "local", "--out", str(out))
    deadline = time.monotonic() + 20
    while not (out / ".harness.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = harness("run", str(SEED), "--targets", "local", "--out", str(out))
    assert second.returncode == 2 and f"another harness run (pid {first.pid})" in second.stderr, second.stderr
    assert first.wait(timeout=60) == 0
    assert results(out)["results"][0]["scenario"] == "hold"  # the first run's results, intact


def test_ctrl_c_while_files_load_exits_130_and_writes_nothing(tmp_path):
    lines = ["suite: big", "scenarios:"]
    for i in range(8000):
        lines += [f"  - name: s{i}", "    steps: [{op: socket, sock: a, type: tcp}]"]
    big = write(tmp_path, "\n".join(lines) + "\n")
    out = tmp_path / "out"
    proc = harness_in_background("run", str(big), "--targets", "local", "--out", str(out))
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "interrupted before anything ran" in stderr
    assert not out.exists()


def test_error_lines_stay_whole_in_a_log(tmp_path):
    deep = tmp_path / ("d" * 120) / ("e" * 60)
    deep.mkdir(parents=True)
    path = write(deep, "suite: s\nscenarios:\n  - name: a\n    steps: [{op: bnd, sock: a}]\n")
    proc = harness("validate", str(path), env={"COLUMNS": ""})
    problem = [line for line in proc.stderr.splitlines() if line.startswith(str(path))]
    assert len(problem) == 1 and "unknown op 'bnd'" in problem[0]  # one message, one line, however long
    assert os.path.isabs(problem[0].split(":")[0])


def test_a_seeded_batch_of_mutated_files_loads_or_is_rejected_cleanly(tmp_path):
    """A short run of scripts/fuzz_scenarios.py (the long one is run by hand: --count 2000)."""
    fuzz = fuzz_module()
    failures, figures = fuzz.fuzz(seed=7, count=300, folder=tmp_path)
    assert failures == []
    assert 0 < figures["accepted"] < figures["mutants"]  # some mutants still load, most are rejected
    assert figures["slowest_s"] < fuzz.LIMIT_S


def fuzz_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("fuzz_scenarios", SEED.parent.parent / "scripts" / "fuzz_scenarios.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_seeded_batch_of_mutated_results_files_is_reported_exactly_when_the_checker_accepts_it(tmp_path):
    """A short run of scripts/fuzz_scenarios.py --results (the long one is run by hand: --count 2000):
    through the checker, `harness report` and `harness baseline update`, never a traceback."""
    failures, figures = fuzz_module().fuzz_results(seed=11, count=300, folder=tmp_path)
    assert failures == []
    assert 30 < figures["accepted"] < figures["mutants"] - 30  # both kinds, in numbers


@pytest.mark.parametrize("change, where", [
    (lambda s: s["observed"].update(histogram=[3, 0]), "histogram: expected object or null, not list"),
    (lambda s: s["observed"].update(histogram={"s0": "3"}), "histogram"),
    (lambda s: s["observed"].update(histogram={"s0": None}), "histogram"),
    (lambda s: s["observed"].update(lost="1"), "lost"),
])
def test_report_refuses_what_its_reports_could_not_read_in_a_step(tmp_path, change, where):
    """The campaign's files the old checker let through and the reports then crashed on."""
    doc = fuzz_module().results_document()
    change(doc["results"][0]["steps"][2])
    path = tmp_path / "r.json"
    path.write_text(__import__("json").dumps(doc))
    proc = harness("report", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "results[0].steps[2].observed." in proc.stderr and where in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("environment", [{"where": "host", "values": ["a"]}, {"where": 7, "values": {}},
                                         {"where": "host", "values": {"x": 1}}])
def test_report_refuses_an_environment_of_the_wrong_shape(tmp_path, environment):
    doc = fuzz_module().results_document()
    doc["targets"][0]["environment"] = environment
    path = tmp_path / "r.json"
    path.write_text(__import__("json").dumps(doc))
    proc = harness("report", str(path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "targets[0].environment." in proc.stderr and "Traceback" not in proc.stderr


def test_report_reads_only_documents_of_the_documented_shape(tmp_path):
    good = {"schema": "harness-results/1", "complete": True, "targets": [{"name": "t"}],
            "results": [{"target": "t", "suite": "s", "scenario": "a", "id": "s/a", "verdict": "pass",
                         "steps": [{"index": 1, "op": "bind", "text": "bind a", "observed": {"outcome": "ok"}}]}]}
    import copy
    import json
    cases = {"v2": ({**good, "schema": "harness-results/2"}, "written as harness-results/2"),
             "missing": ({k: v for k, v in good.items() if k != "targets"}, "targets: missing")}
    wrong = copy.deepcopy(good)
    wrong["results"][0]["steps"][0]["index"] = "x"
    cases["wrongtype"] = (wrong, "results[0].steps[0].index: expected int, not str")
    port = copy.deepcopy(good)  # getsockname's port, as reports read it (issue 26)
    port["results"][0]["steps"][0].update(op="getsockname", observed={"outcome": "ok", "port": "P"})
    cases["port"] = (port, "results[0].steps[0].observed.port: expected int or null, not str")
    verdict = copy.deepcopy(good)
    verdict["results"][0]["verdict"] = "maybe"
    cases["verdict"] = (verdict, "results[0].verdict: 'maybe' is not one of")
    for name, (doc, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        proc = harness("report", str(path), "--out", str(tmp_path / "out"))
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, (name, proc.stderr)
    deep = tmp_path / "deep.json"
    deep.write_text('{"schema": "harness-results/1", "x": ' + "[" * 100000 + "]" * 100000 + "}")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, message in ((deep, "cannot read results"), (fifo, "not a regular file"), ("/dev/zero", "not a regular")):
        start = time.monotonic()
        proc = harness("report", str(path), "--out", str(tmp_path / "out"), timeout=20)
        assert proc.returncode == 2 and message in proc.stderr and time.monotonic() - start < 10, proc.stderr
    ok = tmp_path / "good.json"
    ok.write_text(json.dumps(good))
    assert harness("report", str(ok), "--out", str(tmp_path / "out")).returncode == 0
    assert not (tmp_path / "out" / "results.json").exists()


def test_escape_codes_and_huge_values_are_shown_escaped_and_short(tmp_path):
    hostile = "bad\x1b[31mname\x07" + "x" * 100_000  # one argument may hold 128 KiB
    proc = harness("run", str(SEED), "--targets", f"local,{hostile}", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "bad\\x1b[31mname\\x07" in proc.stderr
    assert len(proc.stderr) < 10_000 and "more characters" in proc.stderr


@pytest.fixture
def full_disk(tmp_path):
    """A 40 KiB tmpfs: room for the first results, not for all of them."""
    import subprocess
    folder = tmp_path / "full"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(folder)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@needs_root
def test_a_full_disk_loses_no_result(full_disk):
    proc = harness("run", str(SEED), "--targets", "local", "--out", str(full_disk))
    assert proc.returncode == 3, proc.stdout + proc.stderr  # an infrastructure problem, not a verdict
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr
    spare = Path(proc.stderr.split("the results are in ")[1].split()[0])
    printed = dict(part.split(": ", 1) for part in proc.stdout.strip().splitlines()[-1].split("  "))
    try:
        doc = __import__("json").loads(spare.read_text())
        assert doc["complete"] and doc["summary"]["pass"] == len(doc["results"]) == len(load_suite(str(SEED)).scenarios)
        assert printed["results"] == str(spare)
        for name in ("junit", "html"):  # each report where it really went: the folder, or a fallback file
            assert Path(printed[name]).is_file(), printed
        assert not (full_disk / "results.json").exists()  # no partial copy left to pass for the run's
    finally:
        for path in {spare, *map(Path, printed.values())}:
            if str(path).startswith("/tmp/harness-"):
                path.unlink(missing_ok=True)


def test_ctrl_c_while_reports_are_written_exits_130_without_a_traceback(tmp_path):
    import json
    import sys
    sys.path.insert(0, str(SEED.parent.parent / "benchmarks"))
    from reports import synthetic_doc  # 10 targets x 5000 scenarios: seconds of report writing

    big = tmp_path / "big.json"
    big.write_text(json.dumps(synthetic_doc(scenarios=5000)))
    out = tmp_path / "out"
    proc = harness_in_background("report", str(big), "--out", str(out))
    deadline = time.monotonic() + 60
    while not [p for p in out.glob(".*") if p.name != ".harness.lock"]:  # a report being written aside
        assert proc.poll() is None and time.monotonic() < deadline, "the reports were never seen being written"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    leftovers = [p.name for p in (tmp_path / "out").glob(".*")] if (tmp_path / "out").exists() else []
    assert leftovers in ([], [".harness.lock"])  # no half-written file left aside (the folder's lock stays)


def test_a_multi_line_reason_stays_one_line_in_a_log():
    from harness.terminal import clean
    assert clean("box x could not be found or\ncould not be accessed\n\tin the catalogue") == \
        "box x could not be found or could not be accessed \tin the catalogue"
