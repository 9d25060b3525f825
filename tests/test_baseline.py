"""Baselines: record what kernels answered, then flag only changed answers (real runs on this machine)."""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import SEED, harness, needs_root, page_data

from harness.judge import baseline

TODAY = dt.date(2026, 11, 30)
FOUR = "reuseport/distribute-tcp-four-listeners[inet]"


def text(target="local", system="linux-6.8", lines=("reuseport/setsockopt-exists #2 = ok",), head=baseline.SCHEMA):
    return "\n".join([f"# {head}", f"# target: {target}", f"# system: {system}", *lines]) + "\n"


# --- the text format --------------------------------------------------------------------------

def test_format_round_trips_with_flaky_and_expiry_marks():
    lines = ("flaky | reuseport/a #3 = ok value=1", "expires=2027-01-31 | reuseport/b #6 = EADDRINUSE",
             "reuseport/c #17 = single:s3")
    base = baseline.parse(text(lines=lines), "b.txt")
    assert (base.target, base.system) == ("local", "linux-6.8")
    a, b = base.entries[("reuseport/a", 3)], base.entries[("reuseport/b", 6)]
    assert (a.observed, a.flaky, b.expires) == ("ok value=1", True, dt.date(2027, 1, 31))
    assert b.expired(dt.date(2027, 2, 1)) and not b.expired(TODAY)
    again = baseline.parse(baseline.render(base), "b.txt")
    assert again.entries.keys() == base.entries.keys()
    assert [e.observed for e in again.entries.values()] == [e.observed for e in base.entries.values()]


@pytest.mark.parametrize("body, message", [
    (text(lines=("reuseport/a 3 = ok",)), "b.txt:4: expected"),
    (text(lines=("reuseport/a #3 = ok", "reuseport/a #3 = ok")), "b.txt:5: reuseport/a #3 is already at line 4"),
    (text(lines=("expires=2027-02-31 | reuseport/a #3 = ok",)), "b.txt:4: 2027-02-31 is not a date"),
    (text(head="harness-baseline/2") + "# recorded by: harness 9.9\n",
     "b.txt:1: written as harness-baseline/2 by harness 9.9; this harness"),
    ("reuseport/a #3 = ok\n", "b.txt:1: not a harness baseline"),
    ("# harness-baseline/1\n# system: linux-6.8\n", "b.txt:1: no '# target:' line"),
])
def test_bad_baselines_name_file_and_line(body, message):
    with pytest.raises(baseline.BaselineError, match=message.replace("(", r"\(")):
        baseline.parse(body, "b.txt")


def test_systems_are_keyed_by_family_and_major_minor_never_by_host():
    assert baseline.system_key({"family": "linux", "version": "6.8.0", "hostname": "runner-17"}) == "linux-6.8"
    assert baseline.system_key({"family": "linux", "version": "3.8", "emulated_on": "Linux 6.1"}) == \
        "linux-3.8-emulated"
    assert baseline.system_key({"family": "darwin", "version": "14.7.1"}) == "darwin-14.7"


# --- real runs --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory, sshd):
    """The seed file on local and local-legacy, and on this machine again through ssh://, as separate runs."""
    base = tmp_path_factory.mktemp("baseline-runs")
    out = {}
    for name, targets in (("here", "local,local-legacy"), ("remote", sshd.url(name="remote"))):
        proc = harness("run", str(SEED), "--targets", targets, "--out", str(base / name), timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[name] = base / name / "results.json"
    return out


def record(runs, folder: Path, *names: str) -> None:
    proc = harness("baseline", "update", *(str(runs[n]) for n in names or runs), "--out", str(folder))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def edit(folder: Path, target: str, old: str, new: str) -> Path:
    (path,) = [p for p in folder.glob("*.txt") if baseline.parse(p.read_text(), str(p)).target == target]
    body = path.read_text()
    assert old in body
    path.write_text(body.replace(old, new))
    return path


@needs_root
def test_no_change_then_one_changed_answer_then_flaky(runs, tmp_path):
    folder = tmp_path / "baselines"
    record(runs, folder)
    files = sorted(p.name for p in folder.glob("*.txt"))
    assert len(files) == 3 and any(f.startswith("local-legacy@linux-3.8-emulated") for f in files)
    merged = [str(runs["here"]), str(runs["remote"])]
    same = harness("report", *merged, "--baseline", str(folder), "--out", str(tmp_path / "same"))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "CHANGED" not in same.stdout

    # Last night the kernel gave every connection to s3; tonight it spreads them: a change, though it passes.
    path = edit(folder, "local", f"{FOUR} #17 = spread", f"{FOUR} #17 = single:s3")
    changed = harness("report", *merged, "--baseline", str(folder), "--out", str(tmp_path / "changed"))
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert f"CHANGED local {FOUR} step 17: single:s3 -> spread" in changed.stdout
    assert str(path) in changed.stdout  # the entry's file:line
    junit = ET.parse(tmp_path / "changed" / "junit.xml").getroot()
    (case,) = [c for s in junit.iter("testsuite") if s.get("name") == "local" for c in s.iter("testcase")
               if c.get("name") == "distribute-tcp-four-listeners[inet]"]
    assert "changed since baseline: single:s3 -> spread" in case.find("failure").get("message")
    assert case.get("classname") == "reuseport" and case.get("file").endswith("scenarios/reuseport.yaml")
    html = (tmp_path / "changed" / "report.html").read_text()
    drawn = [step for row in page_data(html)["rows"] for cell in row["c"] if isinstance(cell, list) for step in cell]
    assert 'id="f-changed"' in html and any(len(step) > 4 and step[4] == "single:s3" for step in drawn)  # "was ..."

    edit(folder, "local", f"{FOUR} #17 = single:s3", f"flaky | {FOUR} #17 = single:s3")
    flaky = harness("report", *merged, "--baseline", str(folder), "--out", str(tmp_path / "flaky"))
    assert flaky.returncode == 0 and "(flaky: not failing)" in flaky.stdout


@needs_root
def test_known_mismatches_pass_until_their_entry_expires(tmp_path):
    wrong = tmp_path / "reuseport.yaml"  # an expectation no Linux meets: a real kernel answer, a known mismatch
    wrong.write_text(SEED.read_text().replace("expect: {linux<3.9: EADDRINUSE, default: ok}",
                                              "expect: {linux<3.9: EADDRINUSE, default: EACCES}", 1))
    run = harness("run", str(wrong), "--targets", "local", "--tags", "bind", "--out", str(tmp_path / "run"))
    assert run.returncode == 1, run.stdout + run.stderr
    results = str(tmp_path / "run" / "results.json")
    folder = tmp_path / "baselines"
    assert harness("baseline", "update", results, "--out", str(folder)).returncode == 0
    known = harness("run", str(wrong), "--targets", "local", "--tags", "bind", "--baseline", str(folder),
                    "--out", str(tmp_path / "known"))
    assert known.returncode == 0, known.stdout + known.stderr
    junit = (tmp_path / "known" / "junit.xml").read_text()
    assert "known mismatch, unchanged since baseline" in junit
    edit(folder, "local", "reuseport/duplicate-bind-tcp-both[inet] #6 = ok",
         "expires=2020-01-01 | reuseport/duplicate-bind-tcp-both[inet] #6 = ok")
    expired = harness("report", results, "--baseline", str(folder), "--out", str(tmp_path / "expired"))
    assert expired.returncode == 1, expired.stdout + expired.stderr


def test_a_baseline_from_another_version_is_bad_input(tmp_path):
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / "local@linux-6.8.txt").write_text(text(head="harness-baseline/2"))
    proc = harness("run", str(SEED), "--targets", "local", "--baseline", str(folder), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "local@linux-6.8.txt:1: written as harness-baseline/2" in proc.stderr
    assert not (tmp_path / "o").exists()  # nothing ran, nothing written
    missing = harness("report", str(SEED), "--baseline", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p"))
    assert missing.returncode == 2
