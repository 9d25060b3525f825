"""Benchmark: JUnit + HTML generation for a synthetic 10 targets x 1000 scenarios results file, and
`harness report` streaming a results file of a million results.

Not a test: it prints figures (generation time, HTML size) and, when Debian's
chromium and Playwright are installed, how long the page takes to load and to
apply a filter in a real headless browser, as a check that it stays usable.
Then `harness report` on 10 targets x 100,000 scenarios of one step each (10^6
results, written as a run writes them): wall time and the command's peak
resident memory (issue 27: under 30 s and 1 GB).
Run: `.venv/bin/python benchmarks/reports.py [--large N] [--skip-large]`.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.report import html as htmlreport  # noqa: E402
from harness.report import junit, matrix  # noqa: E402
from harness.run.results import pieces  # noqa: E402

TARGETS, SCENARIOS = 10, 1000
OUTCOMES = ["ok", "ok", "ok", "EADDRINUSE", "ENOPROTOOPT", "EINVAL"]


def synthetic_doc(seed: int = 1, scenarios: int = SCENARIOS) -> dict:
    rnd = random.Random(seed)
    targets = [{"name": f"t{i}", "provider": "vagrant", "description": f"target {i}", "emulated": i == 1,
                "ran": True, "reason": None, "details": {"box": f"box/{i}"},
                "identity": {"system": "Linux", "release": f"{3 + i}.0.0", "version": f"{3 + i}.0", "family": "linux",
                             "hostname": f"h{i}", "emulated_on": None}} for i in range(TARGETS)]
    results = []
    for s in range(scenarios):
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


def large_results(path: Path, count: int, targets: int = TARGETS, seed: int = 1) -> None:
    """`count` results (count // targets scenarios on `targets` targets, one step each), written by the
    results writer's own pieces(), never held in memory."""
    rnd = random.Random(seed)

    def results():
        for s in range(count // targets):
            for t in range(targets):
                out = rnd.choice(OUTCOMES)
                step = {"index": 1, "op": "bind", "actor": "main", "args": {"sock": "a", "addr": "loopback", "port": "P"},
                        "text": "bind a loopback:P", "line": 12, "note": None,
                        "expect": [{"selector": "linux<3.9", "outcome": "EADDRINUSE"},
                                   {"selector": "default", "outcome": "ok"}],
                        "rule": 1, "expected": "ok", "selector": "default", "observed": {"outcome": out, "ms": 0.1},
                        "match": out == "ok"}
                yield {"target": f"t{t}", "suite": "bench", "scenario": f"scenario-{s}", "id": f"bench/scenario-{s}",
                       "file": "bench.yaml", "line": s, "description": "synthetic", "tags": [],
                       "verdict": "pass" if out == "ok" else "fail", "reason": None, "ms": 5.0, "ports": {"P": 40000},
                       "steps": [step]}

    doc = synthetic_doc()
    doc["targets"] = doc["targets"][:targets]
    doc["results"] = results()
    with open(path, "w", encoding="utf-8") as handle:
        for piece in pieces(doc):
            handle.write(piece)


def large_figures(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        start = time.perf_counter()
        large_results(path, count)
        print(f"{count} results ({count // TARGETS} scenarios x {TARGETS} targets, one step each): "
              f"{path.stat().st_size / 1e6:.0f} MB of JSON, written in {time.perf_counter() - start:.1f} s")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness", "report", str(path), "--out", str(Path(tmp) / "out")],
                              cwd=ROOT, capture_output=True, text=True)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        peak = after.ru_maxrss / 1024  # the largest of the command and its children (report writers)
        if proc.returncode != 0:
            print(f"harness report failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
            return
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in sorted((Path(tmp) / "out").glob("*.*")))
        print(f"harness report: {took:.1f} s ({cpu:.1f} s of CPU, load average {load:.1f} on {os.cpu_count()} CPUs), "
              f"peak resident memory {peak:.0f} MB ({sizes})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=1_000_000, help="results in the streaming figure")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    small_figures()
    if not args.skip_large:
        large_figures(args.large)


def small_figures() -> None:
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
