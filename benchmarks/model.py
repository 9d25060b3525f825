"""Benchmark: how long the model takes to predict a scenario (harness/predict, docs/model.md).

Not a test: it prints figures, each the median (min-max) of several passes over the same scenarios,
in microseconds per scenario, for the shipped library (187 scenarios) and for generated sequences.
Run: `.venv/bin/python benchmarks/model.py`. Pure computation: no kernel, no root.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.predict import System, predict  # noqa: E402
from harness.predict.generate import sequences, suite_text  # noqa: E402
from harness.scenario.loader import load_files  # noqa: E402

PASSES = 7
SYSTEMS = ("linux-6.18", "linux-3.8", "freebsd-14", "macos-14", "openbsd-7.6", "netbsd-7.99")


def per_scenario(scenarios, system: System) -> list[float]:
    out = []
    for _ in range(PASSES):
        start = time.perf_counter()
        for sc in scenarios:
            predict(sc, system)
        out.append((time.perf_counter() - start) / len(scenarios) * 1e6)
    return out


def line(what: str, samples: list[float]) -> str:
    return f"{what:<44} {statistics.median(samples):8.0f} us/scenario  ({min(samples):.0f}-{max(samples):.0f})"


def main() -> None:
    library = [sc for suite in load_files([str(ROOT / "scenarios")]) for sc in suite.scenarios]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.yaml"
        path.write_text(suite_text(sequences(1, 500)))
        generated = [sc for suite in load_files([str(path)]) for sc in suite.scenarios]
    steps = sum(len(sc.steps) for sc in library) / len(library)
    print(f"library: {len(library)} scenarios, {steps:.1f} steps each on average; generated: {len(generated)}")
    for name in SYSTEMS:
        print(line(f"library, {name}", per_scenario(library, System.parse(name))))
    print(line("generated sequences, linux-6.18", per_scenario(generated, System.parse("linux-6.18"))))


if __name__ == "__main__":
    main()
