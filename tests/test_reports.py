"""JUnit XML and HTML reports: schema validity, merging, contrast marks, escaping."""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from conftest import IS_ROOT, ROOT, SEED, harness

from harness.judge.verdict import skipped
from harness.model import Identity
from harness.report import html as htmlreport
from harness.report import junit, matrix
from harness.run.results import verdict_dict
from harness.scenario.loader import load_suite

XSD = ROOT / ".venv" / "share" / "junit-10.xsd"
HOSTILE = "<script>alert(1)</script>"
SEED_SCENARIOS = len(load_suite(str(SEED)).scenarios)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Real runs of the seed file: both targets together, and one run per target."""
    if not IS_ROOT:
        pytest.skip("local targets need root for network namespaces")
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for name, targets in (("both", "local,local-legacy"), ("local", "local"), ("legacy", "local-legacy")):
        proc = harness("run", str(SEED), "--targets", targets, "--out", str(base / name))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[name] = base / name
    # freebsd cannot run here (no FreeBSD box can be fetched): a named target that cannot run exits 3.
    proc = harness("run", str(SEED), "--targets", "local,local-legacy,freebsd", "--reference", REFERENCES,
                   "--out", str(base / "contrast"), timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    out["contrast"] = base / "contrast"
    return out


REFERENCES = "macos-14,openbsd-7.6,netbsd-10"


def doc_with(results: list[dict], targets: list[dict]) -> dict:
    return {"schema": "harness-results/1", "complete": True, "targets": targets, "results": results}


def target(name: str, family="linux", version="6.1", ran=True, emulated=False, reason=None, host="h") -> dict:
    ident = {"system": family, "release": version, "version": version, "family": family, "hostname": host,
             "emulated_on": "Linux 6.1" if emulated else None} if ran else None
    return {"name": name, "provider": "local", "description": name, "emulated": emulated, "ran": ran,
            "reason": reason, "identity": ident, "details": {}}


def step(observed: str | None, expected="ok", match=True, index=1) -> dict:
    return {"index": index, "op": "bind", "text": "bind a loopback:P", "line": 9, "note": "why",
            "expect": [{"selector": "linux<3.9", "outcome": "EADDRINUSE"}, {"selector": "default", "outcome": "ok"}],
            "expected": expected if observed else None, "selector": "default" if observed else None,
            "observed": {"outcome": observed, "ms": 0.1} if observed else None,
            "match": match if observed else None}


def result(tgt: str, verdict: str, steps: list[dict], scenario="s1", reason=None) -> dict:
    return {"target": tgt, "suite": "suite", "scenario": scenario, "id": f"suite/{scenario}", "file": "f.yaml",
            "line": 3, "description": "d", "tags": [], "verdict": verdict, "reason": reason, "ms": 1.5, "steps": steps}


# --- JUnit -------------------------------------------------------------------------------------

def validate_for_jenkins(xml: bytes) -> None:
    """Against Jenkins' junit-10.xsd, less testcase file/line: the one extension, which GitLab and the
    GitHub JUnit actions read for annotations and Jenkins ignores."""
    root = ET.fromstring(xml)
    cases = list(root.iter("testcase"))
    assert cases and all(c.get("file") and c.get("line") and c.get("time") for c in cases)
    for case in cases:
        case.attrib.pop("file")
        case.attrib.pop("line")
    xmlschema.XMLSchema(str(XSD)).validate(ET.tostring(root).decode())


def test_junit_from_a_real_run_validates_against_the_jenkins_schema(runs):
    assert XSD.exists(), "scripts/setup.sh fetches junit-10.xsd; run it"
    validate_for_jenkins((runs["both"] / "junit.xml").read_bytes())
    root = ET.parse(runs["both"] / "junit.xml").getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"local", "local-legacy"}
    props = {p.get("name"): p.get("value") for p in suites["local-legacy"].iter("property")}
    assert props["emulated"] == "true" and props["os.family"] == "linux" and props["os.version"] == "3.8"
    assert props["provider"] == "local" and props["os.release"] == "3.8 (emulated)"
    cases = list(suites["local"].iter("testcase"))
    assert len(cases) == SEED_SCENARIOS and {c.get("classname") for c in cases} == {"reuseport"}
    # The same test identity on every target: dashboards track one test across OSes and nights.
    legacy = [(c.get("classname"), c.get("name")) for c in suites["local-legacy"].iter("testcase")]
    assert legacy == [(c.get("classname"), c.get("name")) for c in cases]
    assert all(c.get("file").endswith("scenarios/reuseport.yaml") and int(c.get("line")) > 0 for c in cases)


def test_junit_failure_error_and_skipped_are_kept_apart(tmp_path):
    doc = doc_with(
        [result("a", "fail", [step("EACCES", expected="ok", match=False)], scenario="f"),
         result("a", "error", [step(None)], scenario="e", reason="agent died: SIGKILL"),
         result("a", "skipped", [step(None)], scenario="s", reason="only for bsd"),
         result("b", "skipped", [step(None)], scenario="f", reason="target unavailable: no box")],
        [target("a"), target("b", ran=False, reason="no box")],
    )
    m = matrix.build([("r.json", doc)])
    xml = junit.render(m)
    validate_for_jenkins(xml)
    root = ET.fromstring(xml)
    cases = {(suite.get("name"), c.get("name")): c for suite in root.iter("testsuite") for c in suite.iter("testcase")}
    failure = cases[("a", "f")].find("failure")
    assert failure is not None and "step 1 (bind a loopback:P) at line 9: expected ok [default], observed EACCES" in failure.get("message")
    assert cases[("a", "e")].find("failure") is None
    assert cases[("a", "e")].find("error").get("message") == "agent died: SIGKILL"
    assert cases[("a", "s")].find("skipped").get("message") == "only for bsd"
    assert cases[("b", "f")].find("skipped").get("message") == "target unavailable: no box"
    assert all(float(c.get("time")) >= 0 for c in cases.values())  # every case has a time, run or not
    suite_a = next(s for s in root.iter("testsuite") if s.get("name") == "a")
    assert (suite_a.get("failures"), suite_a.get("errors"), suite_a.get("skipped")) == ("1", "1", "1")
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>")


# --- merging -----------------------------------------------------------------------------------

def test_report_merges_runs_from_separate_machines(runs, tmp_path):
    proc = harness("report", str(runs["local"] / "results.json"), str(runs["legacy"] / "results.json"),
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert [s.get("name") for s in root.iter("testsuite")] == ["local", "local-legacy"]
    html = (tmp_path / "report.html").read_text()
    assert 'data-target="local"' in html and 'data-target="local-legacy"' in html


def test_same_target_name_from_two_machines_gets_two_columns():
    a = doc_with([result("local", "pass", [step("ok")])], [target("local", host="linuxbox")])
    b = doc_with([result("local", "pass", [step("EADDRINUSE", expected="EADDRINUSE")])],
                 [target("local", family="darwin", version="14.1", host="mac")])
    m = matrix.build([("linux.json", a), ("mac.json", b)])
    assert [c.key for c in m.columns] == ["local@linux-6.1", "local@macos-14"]  # by system, not host
    assert m.rows[0].steps[0].differs and not m.rows[0].steps[0].mismatch


def test_contrast_and_mismatch_are_marked_separately():
    doc = doc_with(
        [result("new", "pass", [step("ok")]), result("old", "fail", [step("ok", expected="EADDRINUSE", match=False)])],
        [target("new"), target("old", version="3.8", emulated=True)],
    )
    row = matrix.build([("r.json", doc)]).rows[0]
    assert not row.steps[0].differs  # both observed ok
    assert row.steps[0].mismatch  # but one target expected otherwise
    assert row.failing


def test_a_cell_summary_shows_its_failing_step_first():
    """haproxy's replay: steps 1-3 differ across targets, but `local` failed at step 5; its cell shows #5 first,
    and a step that never ran reads so, never as the agent's EBADF."""
    def steps(failing: bool, differ: str) -> list[dict]:
        out = [step(differ if i <= 3 else "ok", index=i) for i in range(1, 7)]
        if failing:
            out[4] = step("ECONNABORTED", expected="ECONNREFUSED", match=False, index=5)
            out[5] = {**step(None, index=6), "not_run": "c was never made (step 5, accept l as c: observed timeout)"}
        return out
    doc = doc_with([result("local", "fail", steps(True, "ok")), result("old", "pass", steps(False, "EADDRINUSE"))],
                   [target("local"), target("old", version="3.8")])
    m = matrix.build([("r.json", doc)])
    row = m.rows[0]
    local, old = row.cells
    assert [i + 1 for i, _ in row.key_steps()] == [1, 5]  # steps 1-3 share one pattern: shown once
    assert [i + 1 for i, _ in row.key_steps(cell=local)] == [5, 1]
    assert [i + 1 for i, _ in row.key_steps(cell=old)] == [1, 5]
    assert local.steps[5].not_run and local.steps[5].observed is None
    drawn = htmlreport.row_details(row)  # what the page's script draws the cells from: key steps per cell
    assert drawn["k"] == [[4, 0], [0, 4]]
    assert drawn["c"][0][5] == [None, None, None, None, None,
                                "c was never made (step 5, accept l as c: observed timeout)"]  # drawn "never ran"


def test_unobserved_cells_show_the_expectation_the_verdict_applied():
    """Reports read the rule the verdict recorded for a target that did not run the scenario."""
    sc = load_suite(str(SEED)).scenarios[0]  # setsockopt-exists: {linux<3.9: ENOPROTOOPT, default: ok}
    legacy = Identity(system="Linux", release="3.8", version="3.8", family="linux")
    old, gone = verdict_dict(skipped(sc, "old", "only for bsd", legacy)), verdict_dict(skipped(sc, "gone", "no box"))
    doc = doc_with([old, gone], [target("old", version="3.8"), target("gone", ran=False, reason="no box")])
    row = matrix.build([("r.json", doc)]).rows[0]
    old_cell, gone_cell = (c.steps[1] for c in row.cells)  # step 2: the setsockopt
    assert old["steps"][1]["rule"] == 0
    assert old_cell.shown_as_expected and (old_cell.expected, old_cell.selector, old_cell.rule) == (
        "ENOPROTOOPT", "linux<3.9", 0)
    assert gone_cell.shown_as_expected and gone_cell.rule is None
    assert gone_cell.expected == "linux<3.9: ENOPROTOOPT; default: ok"  # no system known: every rule, as written


def test_out_of_reach_kernels_show_what_their_system_is_expected_to_do(runs):
    doc = json.loads((runs["contrast"] / "results.json").read_text())
    targets = {t["name"]: t for t in doc["targets"]}
    assert not targets["freebsd"]["ran"] and targets["freebsd"]["declared"]["label"] == "freebsd 14.0, not measured"
    assert targets["ref:macos-14"]["reference"] and targets["ref:macos-14"]["declared"]["family"] == "darwin"
    assert targets["local"]["declared"] is None and targets["local"]["identity"]["family"] == "linux"
    seed000 = {r["target"]: r["steps"][-1] for r in doc["results"] if r["scenario"] == "distribute-tcp-four-listeners[inet]"}
    assert seed000["freebsd"]["observed"] is None and seed000["freebsd"]["expected"] == "single:s3"
    assert seed000["ref:macos-14"]["expected"] == "single:s3" and seed000["ref:netbsd-10"]["expected"] == "single"
    m = matrix.build([("r.json", doc)])
    row = next(r for r in m.rows if r.scenario == "distribute-tcp-four-listeners[inet]")
    cells = {c.key: cell.steps[-1] for c, cell in zip(m.columns, row.cells)}
    assert cells["freebsd"].shown_as_expected and cells["freebsd"].comparable == "single:s3"
    assert row.steps[-1].contrast and row.steps[-1] in [s for _, s in row.key_steps()]
    drawn = htmlreport.row_details(row)  # what the page's script draws the cells from
    col = [c.key for c in m.columns].index("freebsd")
    last = len(row.steps) - 1
    assert last in drawn["k"][col] and drawn["c"][col][last][0] is None  # a key step, not observed there ...
    rule = drawn["c"][col][last][2]
    assert drawn["s"][last][5][rule] == {"selector": "freebsd", "outcome": "single:s3"}  # ... its own rule, not the map
    root = ET.fromstring(junit.render(m))
    assert [s.get("name") for s in root.iter("testsuite")] == ["local", "local-legacy", "freebsd"]  # no references
    props = {p.get("name"): p.get("value") for s in root.iter("testsuite") if s.get("name") == "freebsd"
             for p in s.iter("property")}
    assert props["declared"] == "freebsd 14.0" and props["unavailable"]
    local_props = {p.get("name") for s in root.iter("testsuite") if s.get("name") == "local" for p in s.iter("property")}
    assert {"env.net.ipv6.bindv6only", "env.net.ipv4.ip_local_port_range"} <= local_props


@pytest.mark.skipif(not IS_ROOT, reason="local targets need root for network namespaces")
def test_reference_columns_never_fail_a_run(tmp_path):
    proc = harness("run", str(SEED), "--targets", "local", "--tags", "bind", "--reference", "macos-14,freebsd-14",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = harness("run", str(SEED), "--targets", "local", "--reference", "plan9-4", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "plan9-4" in bad.stderr


def test_not_a_results_file_is_bad_input(tmp_path):
    bogus = tmp_path / "x.json"
    bogus.write_text("[1, 2]")
    proc = harness("report", str(bogus), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "not a harness results document" in proc.stderr
    assert not (tmp_path / "out").exists()


# --- HTML --------------------------------------------------------------------------------------

def hostile_doc() -> dict:
    bad = result("a", "fail", [step("ok", expected="EACCES", match=False)], scenario=HOSTILE, reason=HOSTILE)
    bad["description"] = HOSTILE
    bad["steps"][0]["note"] = HOSTILE
    bad["steps"][0]["text"] = HOSTILE
    tgt = target("a")
    tgt["identity"]["release"] = HOSTILE
    return doc_with([bad], [tgt])


def test_html_escapes_strings_from_scenarios_and_targets():
    html = htmlreport.render(matrix.build([("r.json", hostile_doc())]))
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # in the server-rendered matrix
    assert "\\u003cscript\\u003e" in html  # and escaped inside the JSON island
    assert html.count("</script>") == 2  # only the page's own two scripts close
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # no CDN


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium"
    assert os.path.exists(chromium), "scripts/setup.sh installs Debian's chromium"
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    return page, dialogs, requests


def test_browser_renders_matrix_highlights_contrast_and_filters(browser, runs, tmp_path):
    # A copy of the run with one expectation made wrong, so "only failures" has something to show.
    doc = json.loads((runs["both"] / "results.json").read_text())
    wrong = next(r for r in doc["results"] if r["target"] == "local" and r["scenario"] == "distribute-tcp-one-listener[inet]")
    wrong["verdict"], wrong["steps"][-1]["match"] = "fail", False
    path = tmp_path / "report.html"
    htmlreport.write(matrix.build([("r.json", doc)]), path)
    page, dialogs, requests = open_page(browser, path)

    assert page.locator("tr.sc").count() == SEED_SCENARIOS
    heads = page.locator("th.col").all_inner_texts()
    assert any("local-legacy" in h and "emulated" in h for h in heads)
    row = page.locator("tr.sc", has_text="reuseport/setsockopt-exists[inet]")
    assert row.locator(".v.pass").count() == 2
    # The differing step is highlighted in the matrix cell: ok on local, ENOPROTOOPT on legacy.
    marks = row.locator(".k .o").all_inner_texts()
    assert "ok" in marks and "ENOPROTOOPT" in marks
    color = row.locator(".k .o").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(255, 224, 130)"
    # distribute draws a bar per socket: several filled on local (spread), one on legacy (all to s0)
    charts = page.locator("tr.sc", has_text="distribute-tcp-four-listeners[inet]").locator("svg.h")
    assert charts.count() == 2
    filled = [c.locator("path").first.get_attribute("d").count("M") for c in charts.all()]
    stubs = [c.locator("path.z").get_attribute("d").count("M") for c in charts.all()]
    assert filled[0] >= 2 and filled[1] == 1 and [f + z for f, z in zip(filled, stubs)] == [4, 4]

    # Expanding a row shows every step with the note beside it.
    details = page.locator("tr.det").nth(0)
    assert not details.is_visible()
    row.locator("button.tg").click()
    assert details.is_visible() and "Linux added SO_REUSEPORT in 3.9" in details.inner_text()

    # Filter: only failures hides passing rows, keeps the failing one.
    page.check("#f-fail")
    visible = [r for r in page.locator("tr.sc").all() if r.is_visible()]
    assert [r.locator(".id").inner_text() for r in visible] == ["reuseport/distribute-tcp-one-listener[inet]"]
    page.uncheck("#f-fail")
    page.check("#f-diff")
    visible_ids = [r.locator(".id").inner_text() for r in page.locator("tr.sc").all() if r.is_visible()]
    assert "reuseport/setsockopt-exists[inet]" in visible_ids and "reuseport/distribute-tcp-one-listener[inet]" not in visible_ids
    assert not dialogs
    assert all(u.startswith("file://") for u in requests), requests


def test_browser_with_six_columns_overlaps_no_text_and_opens_the_full_reason(browser, runs, tmp_path):
    path = tmp_path / "contrast.html"
    htmlreport.write(matrix.build([("r.json", json.loads((runs["contrast"] / "results.json").read_text()))]), path)
    page, dialogs, requests = open_page(browser, path)
    assert page.locator("th.col").count() == 6
    overflowing = page.evaluate("""() => [...document.querySelectorAll('#matrix th, #matrix td')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60))""")
    assert overflowing == []
    head = page.locator("th.col", has_text="freebsd").first
    assert "not measured" in head.inner_text()
    reason = head.locator("details pre")
    assert not reason.is_visible()
    head.locator("details summary").click()
    assert reason.is_visible() and reason.inner_text().strip() == json.loads(
        (runs["contrast"] / "results.json").read_text())["targets"][2]["reason"].strip()
    # OpenBSD has no inet6-mapped variant: its cell, and each step once expanded, say so, with the reason
    row = page.locator("tr.sc", has_text="distribute-tcp-four-listeners[inet6-mapped]")
    cells = row.locator("td").all()[1:]
    openbsd = cells[[c.get_attribute("data-target") for c in page.locator("th.col").all()].index("ref:openbsd-7.6")]
    assert "not applicable" in openbsd.inner_text() and "expected" not in openbsd.inner_text()
    assert "no IPv4-mapped" in openbsd.get_attribute("title")
    row.locator("button.tg").click()
    details = page.locator("tr.det:visible")
    assert details.locator("small", has_text="not applicable").count() == 17  # every step
    assert "no IPv4-mapped" in details.locator("small", has_text="not applicable").first.get_attribute("title")
    overflowing = page.evaluate("""() => [...document.querySelectorAll('#matrix th, #matrix td')]
        .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent.slice(0, 60))""")
    assert overflowing == []
    assert not dialogs and all(u.startswith("file://") for u in requests)


def test_browser_shows_a_hostile_scenario_name_as_text(browser, tmp_path):
    path = tmp_path / "hostile.html"
    htmlreport.write(matrix.build([("r.json", hostile_doc())]), path)
    page, dialogs, _ = open_page(browser, path)
    assert page.locator("tr.sc .id").inner_text() == f"suite/{HOSTILE}"
    page.locator("button.tg").click()
    assert HOSTILE in page.locator("tr.det").inner_text()
    page.wait_for_timeout(200)
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('script').length") == 2  # only the page's own
