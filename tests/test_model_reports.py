"""Predictions are shown as predicted, never as observations or written expectations, in every output.

A model column (model://SYSTEM) predicts every step; a reference column (and an unavailable target)
shows the written expectation where there is one and the model's prediction where only `any` was
written. Checked per output: the console, results.json (and its reader), JUnit, the HTML page
(also in a browser), baselines. No kernel is needed except where `local` is named.
"""
from __future__ import annotations

import json

import pytest
from conftest import ROOT, harness, needs_root, page_data, results
from test_reports import browser, open_page  # noqa: F401  (the module's browser fixture)

from harness.report.schema import ResultsFileError, read

DATA = ROOT / "tests" / "data" / "model" / "predicted.yaml"
NGINX = ROOT / "docs" / "examples" / "nginx.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("predicted")
    proc = harness("run", str(DATA), "--targets", "model://freebsd-14", "--reference", "macos-14", "--out", str(out))
    return proc, out


def steps_of(doc: dict, target: str) -> list[dict]:
    return next(r for r in doc["results"] if r["target"] == target)["steps"]


def test_console_labels_the_model_column_and_counts_nothing_as_passed(run):
    proc, _ = run
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a model never fails a run
    assert "predicted ≠" in proc.stdout and "(model)" in proc.stdout
    assert ("MODEL model:freebsd-14 predicted/shared-port: step 5 (bind b loopback:P) at line 11: written ok "
            "[freebsd], predicted EADDRINUSE") in proc.stdout
    assert "0 passed, 0 failed, 2 skipped, 0 errors" in proc.stdout


def test_results_hold_predictions_apart_from_observations_and_written_expectations(run):
    _, out = run
    doc = results(out)
    read(str(out / "results.json"))  # the documented shape, checked by the reader `harness report` uses
    model = next(t for t in doc["targets"] if t["name"] == "model:freebsd-14")
    assert (model["model"], model["reference"], model["ran"], model["provider"]) == (True, True, False, "model")
    steps = steps_of(doc, "model:freebsd-14")
    assert all(s["observed"] is None and s["match"] is None and s["expected_from"] == "model" for s in steps)
    bind = steps[4]
    assert (bind["expected"], bind["agrees"], bind["selector"]) == ("EADDRINUSE", "disagree", None)
    assert bind["expect"] == [{"selector": "freebsd", "outcome": "ok"}, {"selector": "default", "outcome": "any"}]
    rule = next(r for r in bind["predicted"]["rules"] if r["id"] == "F-10")
    assert "in_pcbbind_setup" in rule["sources"][0] and rule["confidence"] == "high"
    ref = steps_of(doc, "ref:macos-14")
    assert ref[2]["expected_from"] == "written" and "predicted" not in ref[2]  # a written `ok` stays written
    assert ref[4]["expected_from"] == "model" and ref[4]["expected"] == "EADDRINUSE"  # `any` written: predicted
    assert [r["id"] for r in ref[4]["predicted"]["rules"]][:1] == ["X-7"]
    assert next(r for r in doc["results"] if r["target"] == "ref:macos-14")["verdict"] == "skipped"


def test_the_results_reader_refuses_a_prediction_passed_off_as_an_observation(run, tmp_path):
    _, out = run
    doc = results(out)
    step = steps_of(doc, "model:freebsd-14")[4]
    step["observed"] = {"outcome": "EADDRINUSE", "ms": 0}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ResultsFileError, match="a prediction is shown only where nothing was observed"):
        read(str(bad))
    step["observed"], step["expected_from"] = None, "guess"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ResultsFileError, match="expected_from: 'guess' is not one of written, model"):
        read(str(bad))


def test_junit_has_no_test_for_a_prediction(run):
    _, out = run
    xml = (out / "junit.xml").read_text()
    assert "model:" not in xml and "ref:" not in xml and "EADDRINUSE" not in xml and "<testcase" not in xml


def test_html_draws_predictions_as_predicted_with_their_sources(run):
    _, out = run
    html = (out / "report.html").read_text()
    data = page_data(html)
    col = data["cols"].index("model:freebsd-14")
    cell = data["rows"][0]["c"][col][4]
    assert cell[0] is None and cell[1] is None and cell[5] is None  # nothing observed, nothing "never ran"
    assert cell[6]["p"] == "EADDRINUSE" and "F-10" in cell[6]["r"] and cell[6]["a"] == "disagree"
    assert "in_pcbbind_setup" in data["rules"]["F-10"]
    assert 'class="mdl"' in html and "predicted …" in html


def test_html_predicted_outcome_opens_its_rules_in_a_browser(browser, run):  # noqa: F811
    _, out = run
    page, dialogs, requests = open_page(browser, out / "report.html")
    page.locator("tr.sc button.tg").first.click()
    pred = page.locator("tr.det u.pred", has_text="predicted EADDRINUSE").first
    source = pred.locator("xpath=following-sibling::span[contains(@class,'src')]").first
    assert pred.is_visible() and not source.is_visible()
    pred.click()
    assert source.is_visible() and "in_pcbbind_setup" in source.inner_text() and "F-10" in source.inner_text()
    assert not dialogs and all(r.startswith("file:") for r in requests)


def test_baselines_record_no_prediction(run, tmp_path):
    _, out = run
    proc = harness("baseline", "update", str(out / "results.json"), "--out", str(tmp_path / "b"))
    assert proc.returncode == 0 and "baseline: 0 file(s)" in proc.stdout
    assert not list((tmp_path / "b").glob("*.txt"))


@needs_root
def test_baselines_beside_a_kernel_hold_only_its_observations(tmp_path):
    out = tmp_path / "out"
    proc = harness("run", str(DATA), "--targets", "local,model://linux-6", "--reference", "freebsd-14", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert harness("baseline", "update", str(out / "results.json"), "--out", str(tmp_path / "b")).returncode == 0
    files = sorted(p.name for p in (tmp_path / "b").glob("*.txt"))
    assert files == ["local@linux-" + files[0].split("@linux-")[1]] and len(files) == 1
    lines = [ln for ln in (tmp_path / "b" / files[0]).read_text().splitlines() if not ln.startswith("#")]
    observed = [s for s in steps_of(results(out), "local") if s["observed"] is not None]
    assert len(lines) == len(observed) == 6


def test_a_recorded_program_gets_sourced_predictions_for_the_bsds(tmp_path):
    """docs/examples/nginx.yaml says `default: any` for every other system; replayed with reference columns its
    setsockopt, bind, listen and distribute steps show the model's predictions, each with its rule's source."""
    out = tmp_path / "nginx"
    proc = harness("run", str(NGINX), "--targets", "ref://freebsd-14,ref://macos-14", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = results(out)
    for target in ("ref:freebsd-14", "ref:macos-14"):
        steps = [s for s in steps_of(doc, target) if s["op"] in ("setsockopt", "bind", "listen")]
        assert len(steps) == 11
        for s in steps:
            assert s["expected_from"] == "model" and s["expected"] not in ("any", "unknown"), (target, s["text"])
            assert s["predicted"]["rules"] and all(r["sources"] for r in s["predicted"]["rules"])
        distribute = next(s for s in steps_of(doc, target) if s["op"] == "distribute")
        assert distribute["expected"] == "single:tcp-P.2"  # the last-bound listener gets everything (F-22, X-14)
        accept = next(s for s in steps_of(doc, target) if s["op"] == "accept")
        assert accept["expected"] == "ok" and "A10" in [r["id"] for r in accept["predicted"]["rules"]]


def test_a_model_target_for_an_unknown_system_is_bad_input(tmp_path):
    proc = harness("run", str(DATA), "--targets", "model://plan9-4", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "model://plan9-4" in proc.stderr and not (tmp_path / "o").exists()
    assert "model://SYSTEM" in harness("targets").stdout
