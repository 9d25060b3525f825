"""The shipped library by name (`harness run reuseport`, `harness suites`), where data and VM state are found."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, grid_rows, harness, needs_root, results

from harness import resources, statedir
from harness.scenario import library
from harness.scenario.loader import load_files
from harness.targets import vagrantcli


def test_every_shipped_file_is_named_for_its_suite():
    """`harness run NAME` loads scenarios/NAME.yaml: that file's `suite:` must be NAME."""
    files = library.shipped()
    assert set(files) == {p.stem for p in (ROOT / "scenarios").glob("*.yaml")} and "reuseport" in files
    for suite in load_files([str(p) for p in files.values()]):
        assert Path(suite.path).stem == suite.name


def test_names_resolve_to_the_library_and_paths_stay_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert library.resolve(["reuseport", "scenarios/connect.yaml"]) == ["scenarios/reuseport.yaml",
                                                                        "scenarios/connect.yaml"]
    assert library.resolve(["all"]) == [f"scenarios/{name}.yaml" for name in sorted(library.shipped())]
    monkeypatch.chdir(tmp_path)  # outside the checkout: the files by their full path
    assert library.resolve(["timewait"]) == [str(ROOT / "scenarios" / "timewait.yaml")]
    (tmp_path / "reuseport").mkdir()  # a folder of that name here: the path wins
    assert library.resolve(["reuseport", "missing.yaml", "./x", "a/b"]) == ["reuseport", "missing.yaml", "./x", "a/b"]
    with pytest.raises(library.UnknownSuite) as caught:
        library.resolve(["timewait", "reuseprot", "nope"])
    assert "reuseprot, nope" in str(caught.value) and "reuseport" in str(caught.value) and "all" in str(caught.value)


def test_an_unknown_suite_name_is_bad_input_listing_the_shipped_ones(tmp_path):
    proc = harness("run", "reuseprot", "--targets", "local", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and not (tmp_path / "out").exists()
    assert "harness: no such file or shipped suite: reuseprot (shipped suites: connect," in proc.stderr
    assert harness("validate", "reuseprot").returncode == 2


def test_suites_lists_each_shipped_suite_with_its_scenario_count():
    proc = harness("suites")
    assert proc.returncode == 0, proc.stderr
    counts = {suite.name: len(suite.scenarios) for suite in load_files([str(ROOT / "scenarios")])}
    rows = {name: cells[1] for name, cells in grid_rows(proc.stdout).items() if name in counts}
    assert rows == {name: str(n) for name, n in counts.items()}
    assert f"{sum(counts.values())} scenarios in all" in proc.stdout and "scenarios/" in proc.stdout


@needs_root
def test_a_suite_by_name_runs_as_its_file_does(tmp_path):
    """From the checkout, `harness run timewait` is `harness run scenarios/timewait.yaml`, files named alike."""
    by_name = harness("run", "timewait", "--targets", "local", "--out", str(tmp_path / "name"))
    by_path = harness("run", "scenarios/timewait.yaml", "--targets", "local", "--out", str(tmp_path / "path"))
    assert by_name.returncode == by_path.returncode == 0, by_name.stdout + by_name.stderr
    named, pathed = results(tmp_path / "name"), results(tmp_path / "path")
    assert named["files"] == pathed["files"] == ["scenarios/timewait.yaml"]
    assert named["command"][2] == "timewait"  # what was typed stays in the record
    assert [(r["id"], r["verdict"], r["file"]) for r in named["results"]] == [
        (r["id"], r["verdict"], r["file"]) for r in pathed["results"]]


def test_data_comes_from_the_checkout_it_runs_from():
    assert resources.checkout() == ROOT and resources.data_root() == ROOT
    assert resources.vagrant_file("targets.yaml") == ROOT / "vagrant" / "targets.yaml"
    assert resources.schema_file() == ROOT / "docs" / "scenario.schema.json"
    assert json.loads(resources.schema_file().read_text())["title"] == "harness scenario file"


def test_vm_state_lives_in_the_project_else_in_the_users_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_VAGRANT_PREFIX", raising=False)
    assert statedir.state_dir() == ROOT / ".harness"  # a checkout's own, wherever the command is typed
    assert vagrantcli.state_dir("freebsd") == ROOT / ".harness" / "vagrant" / "freebsd"
    checkout_prefix = vagrantcli.domain_prefix()

    monkeypatch.setattr(statedir, "checkout", lambda: None)  # as an installed package
    project, deep = tmp_path / "project", tmp_path / "project" / "a" / "b"
    (project / ".harness").mkdir(parents=True)
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert statedir.state_dir() == project / ".harness" and statedir.owner() == project

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert statedir.state_dir() == tmp_path / "xdg" / "harness"
    assert vagrantcli.state_dir("freebsd") == tmp_path / "xdg" / "harness" / "vagrant" / "freebsd"
    assert vagrantcli.domain_prefix() != checkout_prefix  # another owner, other machines
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert statedir.state_dir() == tmp_path / "home" / ".local" / "state" / "harness"

    monkeypatch.chdir(ROOT / "docs")  # inside a harness checkout, even one without .harness/ yet
    assert statedir.state_dir() == ROOT / ".harness" and vagrantcli.domain_prefix() == checkout_prefix
