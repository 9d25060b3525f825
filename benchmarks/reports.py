"""Benchmark: JUnit + HTML generation for a synthetic 10 targets x 1000 scenarios results file.

Not a test: it prints figures (generation time, HTML size) and, when Debian's
chromium and Playwright are installed, how long the page takes to load and to
apply a filter in a real headless browser, as a check that it stays usable.
Run: `.venv/bin/python benchmarks/reports.py`.
"""
from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.report import html as htmlreport  # noqa: E402
from harness.report import junit, matrix  # noqa: E402

TARGETS, SCENARIOS = 10, 1000
OUTCOMES = ["ok", "ok", "ok", "EADDRINUSE", "ENOPROTOOPT", "EINVAL"]


def synthetic_doc(seed: int = 1) -> dict:
    rnd = random.Random(seed)
    targets = [{"name": f"t{i}", "provider": "vagrant", "description": f"target {i}", "emulated": i == 1,
                "ran": True, "reason": None, "details": {"box": f"box/{i}"},
                "identity": {"system": "Linux", "release": f"{3 + i}.0.0", "version": f"{3 + i}.0", "family": "linux",
                             "hostname": f"h{i}", "emulated_on": None}} for i in range(TARGETS)]
    results = []
    for s in range(SCENARIOS):
        for t in range(TARGETS):
            steps = []
            for i in range(1, 8):
                out = rnd.choice(OUTCOMES)
                steps.append({"index": i, "op": "bind", "text": f"bind s{i} loopback:P", "line": 10 + i,
                              "note": "a note explaining why this differs" if i == 3 else None,
                              "expect": [{"selector": "linux<3.9", "outcome": "EADDRINUSE"},
                                         {"selector": "default", "outcome": "ok"}],
                              "expected": "ok", "selector": "default", "observed": {"outcome": out, "ms": 0.1},
                              "match": out == "ok"})
            hist = {f"s{k}": rnd.randint(0, 10) for k in range(4)}
            steps.append({"index": 8, "op": "distribute", "text": "distribute 32x tcp to loopback:P over s0,s1,s2,s3",
                          "line": 20, "note": None, "expect": [{"selector": "default", "outcome": "spread"}],
                          "expected": "spread", "selector": "default",
                          "observed": {"outcome": "ok", "ms": 2.0, "histogram": hist, "lost": 0}, "match": True})
            verdict = "pass" if all(st["match"] for st in steps) else "fail"
            results.append({"target": f"t{t}", "suite": "bench", "scenario": f"scenario-{s}", "id": f"bench/scenario-{s}",
                            "file": "bench.yaml", "line": s, "description": "synthetic", "tags": [],
                            "verdict": verdict, "reason": None, "ms": 5.0, "ports": {}, "steps": steps})
    return {"schema": "harness-results/1", "complete": True, "targets": targets, "results": results}


def browser_figures(html: Path) -> str:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "browser: playwright not installed"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(html.as_uri(), wait_until="load")
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        page.check("#f-fail")
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        filtered = time.perf_counter() - start
        start = time.perf_counter()
        page.locator("button.tg").first.click()
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        expanded = time.perf_counter() - start
        browser.close()
    return (f"headless chromium: page load {loaded:.2f} s, 'only failures' filter {filtered * 1000:.0f} ms, "
            f"expanding a row {expanded * 1000:.0f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        path.write_text(json.dumps(synthetic_doc()))
        print(f"synthetic results: {TARGETS} targets x {SCENARIOS} scenarios x 8 steps, "
              f"{path.stat().st_size / 1e6:.1f} MB of JSON")
        start = time.perf_counter()
        m = matrix.build([(str(path), matrix.load_results(str(path)))])
        t_matrix = time.perf_counter() - start
        start = time.perf_counter()
        junit.write(m, Path(tmp) / "junit.xml")
        t_junit = time.perf_counter() - start
        start = time.perf_counter()
        html = Path(tmp) / "report.html"
        htmlreport.write(m, html)
        t_html = time.perf_counter() - start
        total = t_matrix + t_junit + t_html
        print(f"load+merge {t_matrix:.2f} s, JUnit {t_junit:.2f} s, HTML {t_html:.2f} s: total {total:.2f} s")
        print(f"junit.xml {(Path(tmp) / 'junit.xml').stat().st_size / 1e6:.2f} MB, "
              f"report.html {html.stat().st_size / 1e6:.2f} MB")
        print(browser_figures(html))


if __name__ == "__main__":
    main()
