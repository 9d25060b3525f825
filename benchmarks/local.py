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

  packetdrill       where packetdrill is installed (PACKETDRILL=PATH, or on PATH; this project neither
                    installs nor builds it), the same eight calls as a packetdrill script, the two
                    commands run alternately, and the ratio harness/packetdrill pair by pair (a drift
                    in the machine's speed hits both of a pair). packetdrill runs in a network
                    namespace of its own (unshare -n), where the tun device and addresses it makes
                    exist and die with it; the harness makes one per scenario too.
  load              the load average before and after, since figures on a busy machine are not quiet
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
HARNESS = [str(ROOT / ".venv" / "bin" / "harness")]
RUNS = 7
# The same calls as ONE_SCENARIO, as packetdrill's script language writes them.
PACKETDRILL_SCRIPT = """\
0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0  setsockopt(3, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0
+0  bind(3, ..., ...) = 0
+0  listen(3, 16) = 0
+0  socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0  setsockopt(4, SOL_SOCKET, SO_REUSEPORT, [1], 4) = 0
+0  bind(4, ..., ...) = 0
+0  listen(4, 16) = 0
"""
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


# What a user's machine does: Python keeps the bytecode of what it imports. An environment that
# forbids it (PYTHONDONTWRITEBYTECODE, set on some CI machines) compiles every module at every start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=ENV)
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


def packetdrill() -> Optional[str]:
    return os.environ.get("PACKETDRILL") or shutil.which("packetdrill")


def side_by_side(folder: Path, tool: str, pairs: int = 11) -> None:
    """harness's one scenario and packetdrill's one script, alternately, and the ratio of each pair."""
    script = folder / "two-listeners.pkt"
    script.write_text(PACKETDRILL_SCRIPT)
    (folder / "one.yaml").write_text(ONE_SCENARIO)
    ours = HARNESS + ["run", "--targets", "local", "--out", str(folder / "out"), str(folder / "one.yaml")]
    theirs = ["unshare", "-n", "sh", "-c", f'ip link set lo up && exec "{tool}" "{script}"']
    timed(ours), timed(theirs)  # warm both
    samples = [(timed(ours), timed(theirs)) for _ in range(pairs)]
    figure("  harness, one scenario of 8 calls (3 reports written)", [a for a, _ in samples])
    figure("  packetdrill, one script of the same 8 calls", [b for _, b in samples])
    figure("  ratio harness/packetdrill, pair by pair", [a / b for a, b in samples], unit=1, suffix="")


def main() -> None:
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tool = packetdrill()
        if tool:
            print(f"side by side with packetdrill ({tool}):")
            side_by_side(folder, tool)
        else:
            print("packetdrill: not installed (PACKETDRILL=PATH names it): no side-by-side figure")
        timed(HARNESS + ["--version"])  # warm the page cache
        figure("start-up: harness --version", [timed(HARNESS + ["--version"]) for _ in range(RUNS)])
        seed = str(ROOT / "scenarios" / "reuseport.yaml")
        figure("start-up: harness validate scenarios/reuseport.yaml",
               [timed(HARNESS + ["validate", seed]) for _ in range(RUNS)])
        large = run_on("local", folder)
        print("where one scenario's time goes:")
        breakdown(large)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
