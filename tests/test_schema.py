"""The JSON Schema for editors: generated from the op table, shipped, and right about the shipped files."""
from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from conftest import ROOT, harness

from harness.scenario.schema import json_schema

SHIPPED = ROOT / "docs" / "scenario.schema.json"
FILES = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "tests" / "data" / "good").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SHIPPED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_the_generated_one():
    proc = harness("schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == json.loads(SHIPPED.read_text()) == json_schema(), \
        "regenerate it: .venv/bin/harness schema > docs/scenario.schema.json"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_shipped_scenario_file_validates(validator, path):
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []
    if path.parent.name == "scenarios":
        assert path.read_text().startswith("# yaml-language-server: $schema=../docs/scenario.schema.json")


SLEEP = "{op: sleep, ms: 1}"


@pytest.mark.parametrize("scenario, step, why", [
    ("", "{op: bnd, sock: a}", "unknown op"),
    ("", "{op: socket, sock: a, type: 7}", "wrong type"),
    ("", "{op: socket, sock: a, type: tcp, colour: red}", "unknown field"),
    ("", "{op: socket, sock: a, type: tcp, expect: {linux<<3: ok}}", "bad selector"),
    ("", "{op: sleep, ms: 100000000000}", "out of range"),
    ("", "{op: bind, sock: a, addr: any, port: P, expect: spread}", "an outcome bind cannot have"),
    ("", "{op: listen, sock: a, expect: {value: 1}}", "{value} is for getsockopt"),
    ("", "{op: bind, sock: a, addr: any}", "a required field missing"),
    ("families: [inet7]", SLEEP, "unknown family"),
    ("families: [inet, inet]", SLEEP, "a family twice"),
    ("matrix: {family: [a]}", SLEEP, "family is bound by families:"),
    ("matrix: {state: []}", SLEEP, "a parameter without values"),
    ("matrix: {state: bound}", SLEEP, "values not in a list"),
])
def test_bad_scenarios_are_rejected(validator, scenario, step, why):
    doc = yaml.safe_load(f"suite: s\nscenarios:\n  - name: a\n    {scenario}\n    steps:\n      - {step}\n")
    assert list(validator.iter_errors(doc)), why
