"""Nothing lost, nothing misreported, on any output (issue 27): devices and FIFOs written in place,
full and read-only disks, closed, full and early-closed standard streams, narrow terminals, text
printed as text, SIGHUP."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import IS_ROOT, ROOT, SEED, default_signals, harness, needs_root, results

SLEEPY = "suite: slow\nscenarios:\n  - name: hold\n    steps: [{op: sleep, ms: 30000}]\n"
QUICK = "suite: quick\nscenarios:\n  - name: a\n    steps: [{op: socket, sock: a, type: tcp}]\n"


def write(folder: Path, text: str, name: str = "t.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def small_results(folder: Path, **changes: object) -> Path:
    """A results file of one scenario on one target, as `harness report` reads it."""
    doc = {"schema": "harness-results/1", "complete": True,
           "targets": [{"name": "t", "provider": "local", "ran": True,
                        "identity": {"family": "linux", "version": "6.1", "hostname": "h"}}],
           "results": [{"target": "t", "suite": "s", "scenario": "a", "id": "s/a", "verdict": "pass",
                        "description": "d", "steps": [{"index": 1, "op": "bind", "text": "bind a", "line": 3,
                                                       "observed": {"outcome": "ok"}, "match": True}]}]}
    doc.update(changes)
    path = folder / "results.json"
    path.write_text(json.dumps(doc))
    return path


def popen(*args: str, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, preexec_fn=default_signals,
                            env={**os.environ, "COLUMNS": "200"}, **kwargs)


# --- outputs that are not regular files -------------------------------------------------------------

@needs_root
def test_devices_and_dev_stdout_are_written_in_place_never_replaced(tmp_path):
    """A null device made here (not the machine's /dev/null: a regression would replace that one) and
    stdout by its /dev/fd name: written in place, never renamed over, nothing put beside them."""
    device = tmp_path / "devices" / "null"
    device.parent.mkdir()
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    proc = harness("report", str(small_results(tmp_path)), "--out", str(tmp_path / "out"), "--junit", str(device),
                   "--html", "/dev/fd/1")
    assert proc.returncode == 0, proc.stderr
    assert device.is_char_device() and os.listdir(device.parent) == ["null"]  # no lock, probe or temporary file
    assert proc.stdout.startswith("<!DOCTYPE html>") and "</html>" in proc.stdout  # the page, through stdout
    assert "html: /dev/fd/1" in proc.stdout.split("</html>")[1]  # printed after it, not over it
    assert not (tmp_path / "out").exists()  # nothing of the report went to the --out folder


def test_a_fifo_is_written_in_place_and_one_nobody_reads_is_refused(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused = harness("report", str(small_results(tmp_path)), "--out", str(tmp_path / "o"), "--junit", str(fifo))
    assert refused.returncode == 2 and "a FIFO no one reads" in refused.stderr, refused.stderr
    assert not (tmp_path / "o" / "report.html").exists()  # nothing written: refused before any work
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    time.sleep(0.3)  # cat opens the FIFO
    proc = harness("report", str(small_results(tmp_path)), "--out", str(tmp_path / "o"), "--junit", str(fifo))
    got = reader.communicate(timeout=30)[0]
    assert proc.returncode == 0, proc.stderr
    assert got.startswith(b"<?xml") and b"<testsuites" in got and fifo.is_fifo()


def test_reports_pointed_into_another_runs_folder_are_refused(tmp_path):
    out = tmp_path / "first"
    first = popen("run", str(write(tmp_path, SLEEPY)), "--targets", "local", "--out", str(out),
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (out / ".harness.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = harness("run", str(write(tmp_path, QUICK, "q.yaml")), "--targets", "local",
                         "--out", str(tmp_path / "second"), "--junit", str(out / "junit.xml"))
        assert second.returncode == 2 and f"another harness run (pid {first.pid})" in second.stderr, second.stderr
        report = harness("report", str(small_results(tmp_path)), "--out", str(out))
        assert report.returncode == 2 and "another harness run" in report.stderr
    finally:
        first.terminate()  # as Ctrl-C: the run kills its agent (SIGKILL would leave it to its 30 s sleep)
        first.wait(timeout=30)


def test_the_same_results_file_twice_is_bad_input(tmp_path):
    path = small_results(tmp_path)
    proc = harness("report", str(path), str(tmp_path / "." / "results.json"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "given twice" in proc.stderr, proc.stdout + proc.stderr
    assert not (tmp_path / "o").exists()


# --- full and read-only disks: exit 2 before any work, else exit 3 with a fallback file --------------

@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs: `tmpfs(size, read_only)` -> its folder."""
    mounted = []

    def mount(size: str = "64k", read_only: bool = False) -> Path:
        folder = tmp_path / f"fs{len(mounted)}"
        folder.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]).returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


def fill(folder: Path) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


@needs_root
def test_a_full_or_read_only_out_is_bad_input_before_any_work_on_run_report_and_baseline(tmpfs, tmp_path):
    full = tmpfs("64k")
    fill(full)
    read_only = tmpfs("64k", read_only=True)
    results_file = small_results(tmp_path)
    for out in (full, read_only):
        commands = [("run", str(write(tmp_path, QUICK)), "--targets", "local", "--out", str(out / "o")),
                    ("report", str(results_file), "--out", str(out / "o")),
                    ("baseline", "update", str(results_file), "--out", str(out / "b"))]
        for args in commands:
            proc = harness(*args)
            assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
            assert "Traceback" not in proc.stderr and "cannot write into" in proc.stderr, proc.stderr


@needs_root
def test_a_disk_that_fills_while_reports_are_written_gives_exit_3_and_fallback_files(tmpfs, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from reports import synthetic_doc  # 10 targets x 1000 scenarios: a page of megabytes

    big = tmp_path / "big.json"
    big.write_text(json.dumps(synthetic_doc()))
    out = tmpfs("256k")
    proc = harness("report", str(big), "--out", str(out))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr
    printed = dict(part.split(": ", 1) for part in proc.stdout.strip().splitlines()[-1].split("  "))
    try:
        for name in ("junit", "html"):
            assert Path(printed[name]).is_file(), printed  # every path printed exists: where it really went
        assert "written to" in proc.stderr
        assert not [p for p in os.listdir(out) if p.startswith(".") and p != ".harness.lock"]
    finally:
        for path in printed.values():
            if str(path).startswith("/tmp/harness-"):
                Path(path).unlink(missing_ok=True)


# --- signals -----------------------------------------------------------------------------------------

def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        children = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout.split()
        found.update(map(int, children))
        todo += [int(c) for c in children]
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@needs_root
def test_sighup_stops_a_run_like_sigterm_exit_129_agents_killed_reports_written(tmp_path):
    out = tmp_path / "out"
    proc = popen("run", str(write(tmp_path, SLEEPY)), "--targets", "local", "--out", str(out),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:  # the agent and its scenario
        time.sleep(0.1)
    agents = descendants(proc.pid)
    assert agents, "the run started no agent"
    start = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 129, stdout + stderr
    assert time.monotonic() - start < 10  # at once, not when the 30 s step ends
    assert "Traceback" not in stderr and "hung up (SIGHUP)" in stderr
    doc = results(out)
    assert doc["interrupted"] is True and doc["complete"] is False
    assert (out / "junit.xml").exists() and (out / "report.html").exists()
    time.sleep(0.5)
    assert [pid for pid in agents if alive(pid)] == []


# --- standard streams ----------------------------------------------------------------------------------

@pytest.mark.parametrize("redirect", ["stdout-closed", "stderr-closed", "stdout-full", "stderr-full"])
def test_a_run_never_depends_on_a_working_stdout_or_stderr(tmp_path, redirect):
    which, how = redirect.split("-")
    out = tmp_path / "out"
    shell = f"{sys.executable} -m harness run {write(tmp_path, QUICK)} --targets local --out {out}"
    fd = "1" if which == "stdout" else "2"
    other = "2>err.txt" if which == "stdout" else ">out.txt"
    shell += f" {fd}>&-" if how == "closed" else f" {fd}>/dev/full"
    proc = subprocess.run(["bash", "-c", f"cd {tmp_path} && {shell} {other}"], cwd=ROOT, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert results(out)["complete"] and (out / "report.html").exists()
    if which == "stdout":
        assert "Traceback" not in (tmp_path / "err.txt").read_text()
        if how == "full":
            assert "standard output failed (No space left on device)" in (tmp_path / "err.txt").read_text()
    else:
        assert "passed" in (tmp_path / "out.txt").read_text()


def test_a_pipe_closed_early_keeps_the_run_going_and_says_so_on_stderr(tmp_path):
    out = tmp_path / "out"
    shell = (f"{sys.executable} -m harness run {write(tmp_path, QUICK)} --targets local --out {out} "
             f"2>{tmp_path / 'err.txt'} | true; echo ${{PIPESTATUS[0]}}")  # the reader is gone at once
    proc = subprocess.run(["bash", "-c", shell], cwd=ROOT, timeout=120, capture_output=True, text=True)
    err = (tmp_path / "err.txt").read_text()
    assert proc.stdout.strip() == "0", err
    assert "Traceback" not in err and results(out)["complete"] and (out / "junit.xml").exists()
    assert "standard output failed (Broken pipe)" in err


def test_a_slow_reader_never_holds_up_the_run(tmp_path):
    """Over 64 KiB of progress lines into a pipe nobody reads yet: the scenarios still run and the
    results are written; the lines come once someone reads."""
    name = "n" * 150
    text = "suite: many\nscenarios:\n" + "".join(
        f"  - name: {name}{i}\n    steps: [{{op: socket, sock: a, type: udp}}]\n" for i in range(500))
    out = tmp_path / "out"
    proc = popen("run", str(write(tmp_path, text)), "--targets", "local", "--out", str(out),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (out / "junit.xml").exists():
                break
            time.sleep(0.2)
        assert results(out)["complete"] and len(results(out)["results"]) == 500
        assert (out / "junit.xml").exists()  # written while 75 KB of stderr waited in the pipe
    finally:
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0 and stderr.count(b"pass local many/") == 500


def test_columns_zero_or_narrow_still_prints_everything(tmp_path):
    bad = write(tmp_path, "suite: s\nscenarios:\n  - name: a\n    steps: [{op: bnd, sock: a}]\n")
    proc = harness("validate", str(bad), env={"COLUMNS": "0"})
    assert proc.returncode == 2 and f"{bad}:4:" in proc.stderr and "unknown op 'bnd'" in proc.stderr
    proc = harness("run", str(write(tmp_path, QUICK, "q.yaml")), "--targets", "local", "--out", str(tmp_path / "o"),
                   env={"COLUMNS": "10"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed, 0 skipped, 0 errors" in proc.stdout.splitlines()  # one line, CI reads it
    table_rows = [line for line in proc.stdout.splitlines() if "quick/a" in line]
    assert table_rows and "pass" in table_rows[0]  # the verdict column is still there


# --- text is text ------------------------------------------------------------------------------------

def test_messages_are_printed_as_text_never_markup_or_emoji(tmp_path):
    lines = ["suite: s", "scenarios:", "  - name: a", "    steps:"] + ["      - {op: sleep, ms: 1}"] * 95
    lines += ["      - {op: bnd, sock: a}"]
    folder = tmp_path / "x :smile: [red]y"
    folder.mkdir()
    path = write(folder, "\n".join(lines) + "\n", "x :smile: .yaml")
    proc = harness("validate", str(path))
    assert proc.returncode == 2
    assert f"{path}:100:14: unknown op 'bnd'" in proc.stderr, proc.stderr  # not file.yaml💯14
    out = tmp_path / "o [red]:smile:"
    proc = harness("run", str(write(tmp_path, QUICK, "q.yaml")), "--targets", "local", "--out", str(out))
    assert proc.returncode == 0 and f"results: {out / 'results.json'}" in proc.stdout, proc.stdout
    assert "😄" not in proc.stdout + proc.stderr


def test_a_lone_surrogate_is_bad_input_at_its_position_and_nothing_runs(tmp_path):
    text = 'suite: s\ndescription: "bad \\ud800 text"\nscenarios:\n  - name: a\n    steps: [{op: sleep, ms: 1}]\n'
    path = write(tmp_path, text)
    for args in (("validate", str(path)), ("run", str(path), "--targets", "local", "--out", str(tmp_path / "o"))):
        proc = harness(*args)
        assert proc.returncode == 2 and f"{path}:2:14: character U+D800 (a lone surrogate)" in proc.stderr, proc.stderr
    assert not (tmp_path / "o").exists()


def test_every_writer_takes_what_the_checker_lets_through(tmp_path):
    """Controls, U+202E and U+2028 in a results file: `harness report` writes JUnit XML that parses and a
    page that shows each as an escape; a lone surrogate (no UTF-8 can hold it) is refused by the checker,
    never half-written."""
    import xml.etree.ElementTree as ET
    from conftest import page_data

    path = small_results(tmp_path)
    doc = json.loads(path.read_text())
    doc["targets"][0]["reason"] = "r\x1b[31m"
    doc["targets"][0]["identity"]["hostname"] = "h\x00"
    doc["results"][0]["description"] = "a\u202eb\u2028c\x07"
    doc["results"][0]["steps"][0]["note"] = "n\x1b"
    path.write_text(json.dumps(doc))
    out = tmp_path / "o"
    proc = harness("report", str(path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("hostname") == "h\\x00"
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "\u202e" not in page and "\u2028" not in page and "\x07" not in page
    assert "a\\u202eb\\u2028c\\x07" in page
    assert page_data(page)["rows"][0]["s"][0][2] == "n\\x1b"
    baseline = harness("baseline", "update", str(path), "--out", str(tmp_path / "b"))
    assert baseline.returncode == 0, baseline.stderr

    doc["results"][0]["steps"][0]["note"] = "n\ud800"
    path.write_text(json.dumps(doc))  # ensure_ascii: the surrogate as its JSON escape, as a foreign writer might
    proc = harness("report", str(path), "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2 and "cannot read results" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o2").exists()


def test_a_results_file_the_run_writes_is_read_back_whatever_its_text(tmp_path):
    """A host name that was not UTF-8 reaches the run as a lone surrogate: the results file holds it as the
    text of its escape, which `harness report`'s checker reads (a JSON escape of it, it would refuse)."""
    from harness.report.schema import read
    from harness.run.results import encode

    doc = json.loads((small_results(tmp_path)).read_text())
    doc["targets"][0]["identity"]["hostname"] = "h\udcff"
    doc["summary"] = {"pass": 1}
    path = tmp_path / "written.json"
    path.write_bytes(encode(doc))
    assert read(str(path))["targets"][0]["identity"]["hostname"] == "h\\udcff"
    assert len(path.read_text().splitlines()) == 5  # head, a line per target and per result, the tail
