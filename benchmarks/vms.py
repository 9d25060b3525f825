"""Benchmark: VM cold start to first result, a warm run with --keep, and targets in parallel.

Not a test: it prints figures. Needs root, scripts/setup.sh, and the libvirt
daemons (`bash vagrant/host-daemons.sh start`). Only the locally built Debian 12
box exists here, so the parallel figure runs two machines from it: linux-modern
and, as a stand-in, the linux-legacy slot pointed at the same box (said so in
the output; its kernel is 6.1, not 3.2). Every machine is destroyed at the end.
Run: `.venv/bin/python benchmarks/vms.py`.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HARNESS_ISOLATED_ONLY"] = "1"  # only the isolated box built here may boot on this machine

from harness.scenario.loader import load_files  # noqa: E402
from harness.model import Identity, ScenarioVerdict  # noqa: E402
from harness.run.protocol import RunOptions  # noqa: E402
from harness.run.runner import Listener, Runner  # noqa: E402
from harness.targets.base import Target  # noqa: E402
from harness.targets.vagrant import VagrantTarget, load_machines  # noqa: E402
from harness.targets.vagrant_commands import Lifecycle  # noqa: E402

SCENARIOS = [sc for suite in load_files([str(ROOT / "scenarios" / "reuseport.yaml")]) for sc in suite.scenarios]


class Clock(Listener):
    """When each target started, got its agent's hello, and delivered its first and last verdict."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.ready: dict[str, float] = {}
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.verdicts: list[ScenarioVerdict] = []

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        self.ready[target.name] = time.perf_counter() - self.t0
        if reason:
            print(f"  {target.name}: {reason}")

    def verdict(self, verdict: ScenarioVerdict) -> None:
        now = time.perf_counter() - self.t0
        self.first.setdefault(verdict.target, now)
        self.last[verdict.target] = now
        self.verdicts.append(verdict)


def machine(name: str, **changes) -> VagrantTarget:
    return dataclasses.replace(next(m for m in load_machines() if m.name == name), **changes)


def run(targets: list[VagrantTarget]) -> Clock:
    clock = Clock()
    Runner(SCENARIOS, RunOptions(jobs=len(targets)), [clock]).run(targets)
    bad = [v for v in clock.verdicts if v.verdict != "pass"]
    if bad:
        print(f"  note: {len(bad)} verdicts not pass, e.g. {bad[0].target} {bad[0].scenario.id}: {bad[0].reason}")
    return clock


def report(label: str, clock: Clock) -> None:
    for name in clock.first:
        print(f"{label} {name}: first result after {clock.first[name]:.1f} s, all {len(SCENARIOS)} scenarios "
              f"after {clock.last[name]:.1f} s")


def main() -> None:
    modern = machine("linux-modern")
    stand_in = machine("linux-legacy", box="harness/debian12", local_box="harness/debian12", python="python3",
                       description="stand-in: linux-legacy slot on the Debian 12 box (kernel 6.1)")
    assert VagrantTarget(stand_in).network == "isolated"  # the local box: QEMU user networking on 127.0.0.1

    report("cold start (vagrant up + ssh + agent):", run([VagrantTarget(modern)]))

    keep = Lifecycle(keep=True)
    run([VagrantTarget(modern, keep)])  # leaves it running
    report("warm run with --keep (machine reused, reached without Vagrant):", run([VagrantTarget(modern, keep)]))
    VagrantTarget(modern).destroy()

    print("two machines in parallel (linux-modern and the stand-in):")
    report("  parallel cold start:", run([VagrantTarget(modern), VagrantTarget(stand_in)]))


if __name__ == "__main__":
    main()
