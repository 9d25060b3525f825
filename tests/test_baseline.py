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


# --- runner images that move on: the nearest recorded minor, a new major, no folder yet -----------

def recorded(*keys: tuple[str, str]) -> dict:
    return {key: baseline.Baseline(*key, path=f"b/{key[0]}@{key[1]}.txt") for key in keys}


def test_a_newer_minor_is_compared_with_the_nearest_recorded_minor_and_says_so():
    known = recorded(("local", "linux-6.8"), ("local", "linux-6.14"), ("local", "linux-5.15"),
                     ("local", "darwin-15.6"), ("local-legacy", "linux-3.8-emulated"))
    base, note = baseline.choose(known, "local", "linux-6.8")
    assert base.system == "linux-6.8" and note == ""
    base, note = baseline.choose(known, "local", "linux-6.11")  # 3 from 6.8 and from 6.14: the older
    assert base.system == "linux-6.8"
    assert note.startswith("local@linux-6.11: no baseline of its own; compared with local@linux-6.8 "
                           "(b/local@linux-6.8.txt): the system moved from linux-6.8 to linux-6.11")
    assert baseline.choose(known, "local", "linux-6.13")[0].system == "linux-6.14"
    assert baseline.choose(known, "local", "darwin-15.7")[0].system == "darwin-15.6"


def test_a_new_major_or_another_kind_of_system_is_new_and_says_so():
    known = recorded(("local", "linux-6.8"), ("local", "linux-5.15"), ("local", "darwin-15.6"))
    base, note = baseline.choose(known, "local", "linux-7.0")
    assert base is None
    assert note.startswith("local@linux-7.0: a new major version (recorded: linux-5.15, linux-6.8): nothing compared")
    assert baseline.choose(known, "local", "darwin-26.1")[1].startswith("local@darwin-26.1: a new major version")
    for target, system in (("local", "linux-6.8-emulated"), ("other", "linux-6.8"), ("local", "freebsd-14.4")):
        base, note = baseline.choose(known, target, system)
        assert base is None and f"{target}@{system}: no baseline file: nothing compared" in note


@pytest.fixture(scope="module")
def bind_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bind-run")
    proc = harness("run", str(SEED), "--targets", "local", "--tags", "bind", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "results.json"


def moved(folder: Path, system: str) -> Path:
    """The one recorded file, as if it had been recorded on `system`."""
    (path,) = folder.glob("*.txt")
    old = baseline.parse(path.read_text(), str(path)).system
    new = path.with_name(f"local@{system}.txt")
    new.write_text(path.read_text().replace(f"# system: {old}", f"# system: {system}"))
    path.unlink()
    return new


@needs_root
def test_a_run_on_a_newer_minor_is_compared_with_the_recorded_one(bind_run, tmp_path):
    folder = tmp_path / "baselines"
    assert harness("baseline", "update", str(bind_run), "--out", str(folder)).returncode == 0
    (path,) = folder.glob("*.txt")
    here = baseline.parse(path.read_text(), str(path)).system  # this kernel's linux-X.Y
    family, version = here.rsplit("-", 1)
    major, minor = version.split(".")
    older = f"{family}-{major}.{int(minor) + 100}" if minor == "0" else f"{family}-{major}.{int(minor) - 1}"
    moved_to = moved(folder, older)
    same = harness("report", str(bind_run), "--baseline", str(folder), "--out", str(tmp_path / "same"))
    assert same.returncode == 0, same.stdout + same.stderr
    assert f"compared with local@{older} ({moved_to}): the system moved from {older} to {here}" in same.stdout
    assert f"the system moved from {older} to {here}" in (tmp_path / "same" / "report.html").read_text()
    # ... and really compared: a changed entry fails.
    body = moved_to.read_text()
    moved_to.write_text(body.replace("#6 = ok", "#6 = EADDRINUSE", 1))
    changed = harness("report", str(bind_run), "--baseline", str(folder), "--out", str(tmp_path / "changed"))
    assert changed.returncode == 1 and "CHANGED local" in changed.stdout, changed.stdout + changed.stderr


@needs_root
def test_a_run_on_a_new_major_compares_nothing_and_says_so(bind_run, tmp_path):
    folder = tmp_path / "baselines"
    assert harness("baseline", "update", str(bind_run), "--out", str(folder)).returncode == 0
    moved_to = moved(folder, "linux-1.0")
    moved_to.write_text(moved_to.read_text().replace("#6 = ok", "#6 = EADDRINUSE"))  # would be a change
    proc = harness("report", str(bind_run), "--baseline", str(folder), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a new major version (recorded: linux-1.0): nothing compared" in proc.stdout
    assert "CHANGED" not in proc.stdout


@needs_root
def test_an_optional_baseline_folder_that_does_not_exist_judges_by_expectations_alone(bind_run, tmp_path):
    """A CI's first night: reports are written, the missing baseline said, the exit by the expectations."""
    wrong = tmp_path / "reuseport.yaml"
    wrong.write_text(SEED.read_text().replace("expect: {linux<3.9: EADDRINUSE, default: ok}",
                                              "expect: {linux<3.9: EADDRINUSE, default: EACCES}", 1))
    for command, want in ((["run", str(wrong), "--targets", "local", "--tags", "bind"], 1),
                          (["report", str(bind_run)], 0)):
        out = tmp_path / command[0]
        proc = harness(*command, "--baseline", str(tmp_path / "none"), "--baseline-optional", "--out", str(out))
        assert proc.returncode == want, proc.stdout + proc.stderr
        assert f"baseline: no baseline folder {tmp_path / 'none'}: nothing compared, judged by the expectations " \
               f"alone; record one" in proc.stdout
        assert (out / "junit.xml").is_file() and (out / "report.html").is_file()
        assert "Baseline: no baseline folder" in (out / "report.html").read_text()
    # Without --baseline-optional a folder that is not there is still a mistake (a typo must not pass).
    assert harness("report", str(bind_run), "--baseline", str(tmp_path / "none"),
                   "--out", str(tmp_path / "p")).returncode == 2
