"""Column names of merged reports: by system, never by host; the same on every invocation.

Results files from several "hosts" are made from one real run here, with the identity its agent
reported replaced by another system's and a host name that changes every night, as CI runners'
do (the observations stay Linux's: only the names are under test).
"""
from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import SEED, harness, needs_root

from harness.report.column_names import column_keys, system_label


def entry(name: str, family: str, version: str, host: str, machine: str = "x86_64", emulated_on=None,
          source: str = "r.json") -> tuple[str, dict]:
    ident = {"family": family, "version": version, "release": version, "hostname": host, "machine": machine,
             "emulated_on": emulated_on}
    return source, {"name": name, "identity": ident}


def test_system_labels_follow_each_systems_release_lines():
    assert system_label("darwin", "15.6.1") == "macos-15"
    assert system_label("freebsd", "14.4") == "freebsd-14.4"
    assert system_label("linux", "6.8.0") == "linux-6.8"
    assert system_label("netbsd", "10") == "netbsd-10"
    assert system_label("linux", "") == "linux-unknown"


def test_a_name_in_one_file_only_is_kept():
    assert column_keys([entry("local", "linux", "6.8.0", "a", source="x.json"),
                        entry("local-legacy", "linux", "3.8", "a", emulated_on="Linux 6.8.0", source="x.json"),
                        entry("freebsd", "freebsd", "14.4", "vm", source="y.json")]) == \
        ["local", "local-legacy", "freebsd"]


def test_a_name_in_several_files_is_named_by_system_whatever_the_hosts_and_the_order():
    nightly = [entry("local", "linux", "6.8.0", "fv-az101", source="results/results-linux/results.json"),
               entry("local", "darwin", "15.6.1", "Mac-1732", "arm64", source="results/results-macos-15/results.json"),
               entry("local", "freebsd", "14.4", "freebsd", source="results/results-freebsd-14.4/results.json")]
    expected = {"local@linux-6.8", "local@macos-15", "local@freebsd-14.4"}
    assert set(column_keys(nightly)) == expected
    tomorrow = [(s, {**t, "identity": {**t["identity"], "hostname": t["identity"]["hostname"] + "-next"}})
                for s, t in nightly]
    for order in itertools.permutations(range(3)):
        shuffled = [tomorrow[i] for i in order]
        assert dict(zip((s for s, _ in shuffled), column_keys(shuffled))) == \
            dict(zip((s for s, _ in nightly), column_keys(nightly)))


def test_collisions_are_told_apart_by_machine_then_kernel_under_emulation_then_file_path():
    runs = [entry("local", "darwin", "15.6.1", "h1", "x86_64", source="results/results-macos-15-intel/results.json"),
            entry("local", "darwin", "15.7", "h2", "arm64", source="results/results-macos-15/results.json"),
            entry("local-legacy", "linux", "3.8", "h3", emulated_on="Linux 6.11.0-1018-azure",
                  source="results/results-linux/results.json"),
            entry("local-legacy", "linux", "3.8", "h4", emulated_on="Linux 6.8.0-1017-azure",
                  source="results/results-linux-arm/results.json"),
            entry("local", "freebsd", "14.4", "h5", source="b/results.json"),
            entry("local", "freebsd", "14.4", "h6", source="a/results.json")]
    expected = ["local@macos-15-x86_64", "local@macos-15-arm64", "local-legacy@linux-3.8-on-linux-6.11",
                "local-legacy@linux-3.8-on-linux-6.8", "local@freebsd-14.4#2", "local@freebsd-14.4"]
    for order in itertools.permutations(range(len(runs))):
        shuffled = [runs[i] for i in order]
        keys = column_keys(shuffled)
        assert len(set(keys)) == len(keys)
        assert [keys[order.index(i)] for i in range(len(runs))] == expected


def test_a_target_that_did_not_run_is_named_by_its_declared_system_else_its_folder():
    ran = entry("local", "linux", "6.8.0", "h", source="results/results-linux/results.json")
    declared = ("results/results-vm/results.json", {"name": "local", "identity": None,
                                                    "declared": {"family": "freebsd", "version": "14.0"}})
    unknown = ("results/results-macos-26/results.json", {"name": "local", "identity": None})
    assert column_keys([ran, declared, unknown]) == ["local@linux-6.8", "local@freebsd-14.0",
                                                     "local@results-macos-26"]


# --- `harness report` with three hosts' files ----------------------------------------------------

HOSTS = {  # folder: (family, version, release, machine)
    "results-linux": ("linux", "6.8.0", "6.8.0-1017-azure", "x86_64"),
    "results-macos-15": ("darwin", "15.6.1", "24.6.0", "arm64"),
    "results-freebsd-14.4": ("freebsd", "14.4", "14.4-RELEASE", "amd64"),
}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("run")
    proc = harness("run", str(SEED), "--targets", "local", "--tags", "bind", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((out / "results.json").read_text())


def three_hosts(doc: dict, folder: Path, night: int) -> list[str]:
    """The run as three hosts' results files, each with that night's host name."""
    paths = []
    for name, (family, version, release, machine) in HOSTS.items():
        copy = json.loads(json.dumps(doc))
        ident = copy["targets"][0]["identity"]
        ident.update(family=family, version=version, release=release, machine=machine,
                     hostname=f"runner-{night}-{abs(hash((name, night))) % 10 ** 6}")
        path = folder / name / "results.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(copy))
        paths.append(str(path))
    return paths


def suite_names(out: Path) -> list[str]:
    return [s.get("name") for s in ET.parse(out / "junit.xml").getroot().iter("testsuite")]


@needs_root
def test_harness_report_names_three_hosts_local_runs_by_system_on_every_invocation(real_run, tmp_path):
    seen = set()
    for night, order in enumerate([(0, 1, 2), (2, 0, 1), (1, 2, 0)]):
        paths = three_hosts(real_run, tmp_path / f"night{night}", night)
        out = tmp_path / f"merged{night}"
        proc = harness("report", *(paths[i] for i in order), "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        seen.add(frozenset(suite_names(out)))
        assert not any("runner-" in name for name in suite_names(out))
    assert seen == {frozenset({"local@linux-6.8", "local@macos-15", "local@freebsd-14.4"})}
