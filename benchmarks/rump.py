"""Benchmark: what the `rump` target costs, from a NetBSD kernel's start to the marginal cost per scenario.

Not a test: it prints figures, each the median (min-max) of several runs. Run after scripts/setup.sh, with
the libraries the target uses (HARNESS_RUMP_LIB, as scripts/test.sh sets it):
`HARNESS_RUMP_LIB=.venv/share/rump/netbsd-7.99-rump-net-x86_64/lib .venv/bin/python benchmarks/rump.py`.

  kernel start      in a child forked from a process that loaded the libraries (as each scenario's
                    supervisor is): rump_init alone; the agent's whole boot (rump_init, 127.0.0.2, the
                    multicast route, the base process); and the child from fork to reaped, its kernel's
                    threads included
  a scenario        a trivial scenario inside the agent (fork, boot, the step, exit, reap)
  CPU per scenario  the processor time (user + system, the agent's and its children's) one more trivial
                    scenario costs the agent: (200 scenarios - 1) / 199; on an idle machine with N CPUs,
                    side by side cannot cost less than this / N of wall time, whatever the load here
  one scenario      `harness run` of the 8-call scenario of benchmarks/local.py on rump, end to end
  per scenario      (run of 200 trivial scenarios - run of 1) / 199, one at a time (--scenario-jobs 1) and
                    side by side (0: one per CPU; each scenario has a kernel of its own), as local.py does
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "harness"))

import agent  # noqa: E402 (the agent as it runs on a target: one file, imported by path)
from local import figure, per_call, run_on  # noqa: E402

SAMPLES = 30


def in_child(work) -> tuple[float, float]:
    """(seconds `work` took inside a forked child, seconds from the fork to the child reaped)."""
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        begin = time.perf_counter()
        work()
        os.write(write_fd, json.dumps(time.perf_counter() - begin).encode())
        os._exit(0)
    os.close(write_fd)
    inside = json.loads(os.read(read_fd, 100))
    os.close(read_fd)
    os.waitpid(pid, 0)
    return inside, time.perf_counter() - start


def kernel_start(lib: "agent.RumpLibrary") -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(devnull, 2)  # librumpuser's one-line warning at every boot
    try:
        bare = [in_child(lambda: (os.environ.setdefault("RUMP_NCPU", "1"), lib.calls["init"]()))
                for _ in range(SAMPLES)]  # with the agent's one virtual CPU unless RUMP_NCPU says otherwise
        booted = [in_child(lib.boot) for _ in range(SAMPLES)]
    finally:
        os.dup2(saved, 2)
    figure("kernel start: rump_init", [inside for inside, _ in bare])
    figure("kernel start: the agent's boot (rump_init, loopback, base process)", [inside for inside, _ in booted])
    figure("kernel start: fork, boot, exit, reaped", [whole for _, whole in booted])


def scenario_in_agent() -> None:
    agent.emit = lambda obj: None
    scenario = {"id": "t/s", "actors": {"main": {}},
                "steps": [{"op": "socket", "sock": "a", "type": "tcp", "family": "inet", "actor": "main"}]}
    options = {"step_timeout_ms": 2000, "scenario_timeout_ms": 30000}
    figure("a trivial scenario in the agent (fork, boot, step, exit, reap)",
           [per_call(lambda: agent.run_scenario(scenario, options), 10) for _ in range(5)])


def cpu_per_scenario(folder: str) -> None:
    """Processor time of `agent.py --rump` for 200 trivial scenarios minus 1, per scenario."""
    def cpu(count: int) -> float:
        scenarios = [{"id": f"t/s{i}", "actors": {"main": {"user": None}},
                      "steps": [{"op": "socket", "actor": "main", "sock": "a", "type": "tcp", "family": "inet",
                                 "v6only": None}]} for i in range(count)]
        doc = json.dumps({"protocol": agent.PROTOCOL, "options": {"netns": False, "parallel": 1},
                          "scenarios": scenarios}).encode()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-S", str(ROOT / "harness" / "agent.py"), "--rump", folder],
                              input=doc, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        assert proc.stdout.count(b'"status": "ran"') == count, proc.stderr[-500:]
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    figure("CPU per scenario (agent and children, user + system)",
           [(cpu(200) - cpu(1)) / 199 for _ in range(5)])


def main() -> None:
    folder = os.environ.get("HARNESS_RUMP_LIB")
    if not folder:
        sys.exit("set HARNESS_RUMP_LIB to a folder of rump kernel libraries (docs/rump.md)")
    lib = agent.load_rump(folder)
    print(f"NetBSD {lib.facts['kern.osrelease']} from {folder}; RUMP_NCPU={os.environ.get('RUMP_NCPU', '1')}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    kernel_start(lib)
    scenario_in_agent()
    cpu_per_scenario(folder)
    with tempfile.TemporaryDirectory() as tmp:
        run_on("rump", Path(tmp))


if __name__ == "__main__":
    main()
