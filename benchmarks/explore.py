"""Benchmark: how many generated sequences `harness explore` runs per second, on local and on rump.

Not a test: it prints figures. Run as root after scripts/setup.sh (rump with HARNESS_RUMP_LIB, as
scripts/test.sh sets it): `.venv/bin/python benchmarks/explore.py [--sequences N]`.

  drawing          generating a sequence, and loading it as a scenario (the loader validates it), per sequence
  a batch          N sequences of seed 1 run through explore's Bench (the Runner, every target side by side,
                   sequences side by side at --scenario-jobs), on: local alone, local twice (the pair the
                   issue's "against itself" runs), local-legacy, rump alone, local and rump. Sequences per
                   second of wall time, each sequence counted once however many targets ran it; and the
                   processor time (user + system, this process and its agents) per sequence and target
  jobs             the same on local at several --scenario-jobs: most of a sequence is waiting (timeouts of
                   100-500 ms, a 2.5 s sleep in one of ~40), so more at once than CPUs pays
Every figure is the median of RUNS runs (min-max); the machine's load average is printed with them,
since the 2 CPUs here are shared.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.explore.bench import Bench, kept  # noqa: E402
from harness.explore.generate import generate  # noqa: E402
from harness.explore.sequence import Loader  # noqa: E402
from harness.run.protocol import RunOptions  # noqa: E402
from harness.targets.registry import select_targets  # noqa: E402

RUNS = 3


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def drawing(count: int) -> None:
    loader = Loader()
    start = time.perf_counter()
    seqs = [generate(1, i) for i in range(count)]
    drawn = time.perf_counter()
    loader.load(seqs)
    loaded = time.perf_counter()
    loader.close()
    print(f"drawing: {(drawn - start) / count * 1000:.2f} ms per sequence generated, "
          f"{(loaded - drawn) / count * 1000:.2f} ms loaded")


def batch(spec: str, count: int, jobs: int) -> None:
    targets = kept([t for item in spec.split(",") for t in select_targets(item)])
    bench = Bench(targets, RunOptions(jobs=len(targets), scenario_jobs=jobs, step_timeout_ms=5000,
                                      scenario_timeout_ms=30000))
    loader = Loader()
    scenarios = loader.load([generate(1, i) for i in range(count)])
    rates, costs = [], []
    for _ in range(RUNS):
        began, spent = time.perf_counter(), cpu()
        results = bench.run(scenarios)
        wall, used = time.perf_counter() - began, cpu() - spent
        ran = sum(1 for r in results.values() for v in r.values() if v.verdict in ("pass", "fail"))
        if ran != count * len(targets):
            sys.exit(f"{spec}: {count * len(targets) - ran} runs did not run through: is every target available?")
        rates.append(count / wall)
        costs.append(used / (count * len(targets)) * 1000)
    loader.close()
    print(f"{spec:>12} at --scenario-jobs {jobs:>2}: {statistics.median(rates):6.1f} sequences/s "
          f"({min(rates):.1f}-{max(rates):.1f}), {statistics.median(costs):5.1f} ms of CPU per sequence and target; "
          f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sequences", type=int, default=400)
    count = parser.parse_args().sequences
    drawing(count)
    for spec in ("local", "local,local", "local-legacy", "rump", "local,rump"):
        if "rump" in spec and not os.environ.get("HARNESS_RUMP_LIB"):
            print(f"{spec:>12}: skipped (no HARNESS_RUMP_LIB)")
            continue
        batch(spec, count, 24)
    for jobs in (2, 8, 48):
        batch("local", count, jobs)


if __name__ == "__main__":
    main()
