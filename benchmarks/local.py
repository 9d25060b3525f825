"""Benchmark: what a run on `local` costs, from start-up to the marginal cost of one more scenario.

Not a test: it prints figures, each the median (min-max) of several whole-process runs. Run as
root after scripts/setup.sh: `.venv/bin/python benchmarks/local.py`.

  start-up          `harness --version`, `harness validate scenarios/reuseport.yaml`
  one scenario      `harness run` of a one-scenario file on local, end to end
  per scenario      (run of 200 trivial scenarios - run of 1) / 199, with scenarios one at a time
                    (--scenario-jobs 1) and side by side (0: one per CPU, each in its own namespace)
  where it goes     inside one process: loading a scenario, and the agent's parts of one scenario
                    (a fork, a fork that unshares a network namespace, and brings up lo, a whole
                    trivial scenario with and without its namespace)

Comparing with packetdrill (not installed by this project): build it from its repository, write a
script making the same calls as ONE_SCENARIO below (socket, setsockopt SO_REUSEPORT, bind, listen,
socket, setsockopt, bind, listen: eight calls), and time `packetdrill --local_ip=127.0.0.1 FILE` and
this benchmark's one-scenario command alternately with hyperfine or `/usr/bin/time -v`, medians of
ten runs each. Measured that way on this machine kind: packetdrill about 150 ms per script.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = [str(ROOT / ".venv" / "bin" / "harness")]
RUNS = 7
ONE_SCENARIO = """suite: one
scenarios:
  - name: two-listeners
    steps:
      - {op: socket, sock: a, type: tcp}
      - {op: setsockopt, sock: a, opt: SO_REUSEPORT}
      - {op: bind, sock: a, addr: loopback, port: P}
      - {op: listen, sock: a}
      - {op: socket, sock: b, type: tcp}
      - {op: setsockopt, sock: b, opt: SO_REUSEPORT}
      - {op: bind, sock: b, addr: loopback, port: P}
      - {op: listen, sock: b}
"""


def trivial(count: int, folder: Path) -> Path:
    lines = ["suite: trivial", "scenarios:"]
    for i in range(count):
        lines += [f"  - name: s{i}", "    steps: [{op: socket, sock: a, type: tcp}]"]
    path = folder / f"trivial-{count}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr[-500:]}")
    return elapsed


def per_call(func, count: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(count):
        func()
    return (time.perf_counter() - start) / count


def in_child(func):
    """func run in a forked child, waited for: what each scenario's supervisor costs the agent."""
    def run() -> None:
        pid = os.fork()
        if pid == 0:
            func()
            os._exit(0)
        os.waitpid(pid, 0)
    return run


def breakdown(large: Path) -> None:
    """Where one scenario's time goes, part by part, measured in this process (median of 5)."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "harness"))
    from harness.scenario.loader import load_files
    import agent  # the agent as it runs on a target: one file, imported by path
    count = len(load_files([str(large)])[0].scenarios)
    figure("  loading, per scenario", [per_call(lambda: load_files([str(large)]), 5) / count for _ in range(5)])
    lib = agent.libc()
    parts = [("a fork (the scenario's supervisor)", lambda: None),
             ("... that unshares a network namespace", lambda: lib.unshare(agent.CLONE_NEWNET)),
             ("... and brings up its lo", lambda: (lib.unshare(agent.CLONE_NEWNET), agent.bring_up_lo()))]
    for label, func in parts:
        figure(f"  {label}", [per_call(in_child(func)) for _ in range(5)])
    agent.emit = lambda obj: None
    scenario = {"id": "t/s", "actors": {"main": {}},
                "steps": [{"op": "socket", "sock": "a", "type": "tcp", "family": "inet", "actor": "main"}]}
    for netns in (True, False):
        options = {"netns": netns, "step_timeout_ms": 2000, "scenario_timeout_ms": 30000}
        figure(f"  a trivial scenario in the agent, {'in' if netns else 'without'} its own namespace",
               [per_call(lambda: agent.run_scenario(scenario, options)) for _ in range(5)])


def figure(label: str, samples: list[float], unit: float = 1000, suffix: str = "ms") -> None:
    values = [s * unit for s in samples]
    print(f"{label}: median {statistics.median(values):.2f} {suffix} "
          f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)")


def run_on(target: str, folder: Path) -> Path:
    """`harness run` of one scenario (8 calls) and the marginal cost per scenario on `target`, printed;
    the file of 200 trivial scenarios (for a breakdown)."""
    one = folder / "one.yaml"
    one.write_text(ONE_SCENARIO)
    run = HARNESS + ["run", "--targets", target, "--out", str(folder / "out")]
    figure(f"one scenario (8 calls) on {target}, end to end", [timed(run + [str(one)]) for _ in range(RUNS)])
    small, large = trivial(1, folder), trivial(200, folder)
    for jobs, how in (("1", "one at a time"), ("0", f"side by side, one per CPU ({os.cpu_count()})")):
        marginal = []
        for _ in range(5):
            base = timed(run + ["--scenario-jobs", jobs, str(small)])
            full = timed(run + ["--scenario-jobs", jobs, str(large)])
            marginal.append((full - base) / 199)
        figure(f"per scenario over 200 on {target}, {how}", marginal)
    return large


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        timed(HARNESS + ["--version"])  # warm the page cache
        figure("start-up: harness --version", [timed(HARNESS + ["--version"]) for _ in range(RUNS)])
        seed = str(ROOT / "scenarios" / "reuseport.yaml")
        figure("start-up: harness validate scenarios/reuseport.yaml",
               [timed(HARNESS + ["validate", seed]) for _ in range(RUNS)])
        large = run_on("local", folder)
        print("where one scenario's time goes:")
        breakdown(large)


if __name__ == "__main__":
    main()
