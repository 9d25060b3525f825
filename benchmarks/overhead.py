"""Benchmark: the harness's own overhead per scenario on `local`, and the seed file's wall time.

Not a test: it prints figures. Run as root: `.venv/bin/python benchmarks/overhead.py`.
Overhead per scenario is measured with scenarios whose only step is creating a
socket, so nearly all the time is the harness's: agent fork, network namespace,
actor processes, port allocation, JSON, verdict.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.scenario.loader import load_files  # noqa: E402
from harness.run.protocol import RunOptions  # noqa: E402
from harness.run.runner import Listener, Runner  # noqa: E402
from harness.targets import select_targets  # noqa: E402


def run_in_process(files: list[str], targets: str) -> tuple[float, Runner]:
    start = time.perf_counter()
    scenarios = [sc for suite in load_files(files) for sc in suite.scenarios]
    runner = Runner(scenarios, RunOptions(), [Listener()])
    runner.run(select_targets(targets))
    return time.perf_counter() - start, runner


def trivial_suite(count: int, directory: str) -> str:
    lines = ["suite: trivial", "scenarios:"]
    for i in range(count):
        lines += [f"  - name: s{i}", "    steps: [{op: socket, sock: a, type: tcp}]"]
    path = Path(directory) / "trivial.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def main() -> None:
    count = 200
    with tempfile.TemporaryDirectory() as tmp:
        trivial = trivial_suite(count, tmp)
        run_in_process([trivial], "local")  # warm-up: page cache, imports
        samples = []
        for _ in range(3):
            wall, runner = run_in_process([trivial], "local")
            assert all(v.verdict == "pass" for v in runner.verdicts), "trivial scenarios must pass"
            samples.append(wall / count * 1000)
        agent_ms = statistics.mean(v.run.ms for v in runner.verdicts)
        print(f"overhead per scenario on local (1-step scenario, {count} per run, 3 runs): "
              f"median {statistics.median(samples):.2f} ms wall, of which {agent_ms:.2f} ms inside the agent "
              "(fork, netns, actors, ports)")

    seed = str(ROOT / "scenarios" / "reuseport.yaml")
    for targets in ("local", "local,local-legacy"):
        walls = []
        for _ in range(3):
            wall, runner = run_in_process([seed], targets)
            walls.append(wall)
        bad = [v for v in runner.verdicts if v.verdict != "pass"]
        print(f"scenarios/reuseport.yaml on {targets}: {len(runner.verdicts)} verdicts, "
              f"median {statistics.median(walls) * 1000:.0f} ms in process, {len(bad)} not passing")

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run([str(ROOT / ".venv/bin/harness"), "run", seed, "--targets", "local,local-legacy",
                               "--out", out], capture_output=True, text=True)
        wall = time.perf_counter() - start
    print(f"`harness run scenarios/reuseport.yaml --targets local,local-legacy`: {wall * 1000:.0f} ms "
          f"wall including interpreter start-up, exit {proc.returncode}")


if __name__ == "__main__":
    main()
