"""Benchmark: a VM target cold (no machine), resumed (saved machine) and warm (running machine).

Not a test: it prints figures, medians of several runs, each to the first result and
to all results of scenarios/reuseport.yaml, timed from the start of the run inside
one process (the runner; Python start-up is apart), plus the guest's cost on the
host: the QEMU process's resident memory while it runs, and the saved state's
size on disk while it is saved. Also the whole `harness run` command (start-up to exit) as a user meets it,
with where its time went: on a saved machine with the libvirt daemons stopped,
saving at once or with `--save-after` (a keeper saves it later), and on a
machine an earlier `--save-after` run left running. Needs root, scripts/setup.sh
and the libvirt daemons (`bash vagrant/host-daemons.sh start`). Only the locally
built Debian 12 box exists here; linux-modern uses it (isolated networking).
`--parallel` adds two machines booted at once (linux-modern and, as a stand-in,
the linux-legacy slot on the same box: its kernel is 6.1, not 3.2). Every machine
is destroyed at the end.
Run: `.venv/bin/python benchmarks/vms.py [--cold N] [--runs N] [--parallel]`.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["HARNESS_ISOLATED_ONLY"] = "1"  # only the isolated box built here may boot on this machine

from harness.model import Identity, ScenarioVerdict  # noqa: E402
from harness.run.protocol import RunOptions  # noqa: E402
from harness.run.runner import Listener, Runner  # noqa: E402
from harness.scenario.loader import load_files  # noqa: E402
from harness.targets.base import Target  # noqa: E402
from harness.targets.vagrant import Machine, VagrantTarget, load_machines  # noqa: E402
from harness.targets.vagrant_commands import Lifecycle  # noqa: E402
from harness.targets.vagrantcli import host_daemons  # noqa: E402

SEED = ROOT / "scenarios" / "reuseport.yaml"
SCENARIOS = [sc for suite in load_files([str(SEED)]) for sc in suite.scenarios]
SAVE_DIR = Path("/var/lib/libvirt/qemu/save")  # where libvirt keeps managed saves


class Clock(Listener):
    """When each target delivered its first and last verdict."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.verdicts: list[ScenarioVerdict] = []

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        if reason:
            print(f"  {target.name}: {reason}")

    def verdict(self, verdict: ScenarioVerdict) -> None:
        now = time.perf_counter() - self.t0
        self.first.setdefault(verdict.target, now)
        self.last[verdict.target] = now
        self.verdicts.append(verdict)


def machine(name: str, **changes) -> Machine:
    return dataclasses.replace(next(m for m in load_machines() if m.name == name), **changes)


def run(targets: list[VagrantTarget]) -> Clock:
    clock = Clock()
    Runner(SCENARIOS, RunOptions(jobs=len(targets)), [clock]).run(targets)
    bad = [v for v in clock.verdicts if v.verdict != "pass"]
    if bad:
        print(f"  note: {len(bad)} verdicts not pass, e.g. {bad[0].target} {bad[0].scenario.id}: {bad[0].reason}")
    return clock


def measure(label: str, count: int, make: callable) -> None:
    """`count` runs of the target `make()` gives; the median to the first and to the last result."""
    firsts, lasts = [], []
    for _ in range(count):
        target = make()
        clock = run([target])
        if target.name not in clock.last:
            print(f"{label}: no result")
            return
        firsts.append(clock.first[target.name])
        lasts.append(clock.last[target.name])
        print(f"  {label}: first result {firsts[-1]:.1f} s, all {len(SCENARIOS)} {lasts[-1]:.1f} s "
              f"({target.info.details.get('started', '?')})")
    print(f"{label}: median of {count}: first result {statistics.median(firsts):.1f} s, "
          f"all {len(SCENARIOS)} scenarios {statistics.median(lasts):.1f} s")


def qemu_rss_mib(domain: str) -> Optional[float]:
    """Resident memory of the domain's QEMU process (read from /proc), MiB."""
    pids = subprocess.run(["pgrep", "-f", f"qemu-system.*guest={domain}"], capture_output=True, text=True).stdout
    for pid in pids.split():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def daemons(action: str) -> None:
    host_daemons(action, lambda line: None)


def command(*extra: str) -> float:
    """One whole `harness run` of the seed file on linux-modern (start-up to exit), seconds; where its
    time went, from its run.log's timestamps, printed."""
    out = Path("/tmp/harness-bench-vms")
    shutil.rmtree(out, ignore_errors=True)  # its run.log is appended to: this command's lines only
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(SEED), "--targets", "linux-modern",
                           "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"  harness run exited {proc.returncode}: {proc.stderr[-300:]}")
    print(f"  {took:.1f} s: {phases(out / 'run.log')}")
    return took


MILESTONES = [("daemons started", "libvirtd answers"), ("resumed", "resumed from disk in"),
              ("taken over", "stopped keeper pid"), ("agent started", "guest: clock"),
              ("last result, keeper started", "left running; keeper"), ("saved", "saved to disk"),
              ("daemons stopped", "virtlogd stopped")]


def phases(log: Path) -> str:
    """Seconds from the log's first line to each milestone found in it."""
    from datetime import datetime

    stamps = []
    for line in log.read_text().splitlines():
        try:
            stamps.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), line[24:]))
        except ValueError:
            continue
    if not stamps:
        return "no log"
    found = [f"{name} {(next(t for t, text in stamps if key in text) - stamps[0][0]).total_seconds():.1f}"
             for name, key in MILESTONES if any(key in text for _, text in stamps)]
    return ", ".join(found)


def command_median(label: str, count: int, before: callable, *extra: str) -> None:
    """`count` whole commands, `before()` ahead of each (untimed)."""
    times = []
    for _ in range(count):
        before()
        times.append(command(*extra))
    print(f"{label}: median of {count}: {statistics.median(times):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=2, help="cold runs (about a minute each)")
    parser.add_argument("--runs", type=int, default=5, help="resume and warm runs each")
    parser.add_argument("--parallel", action="store_true", help="also two machines booted at once")
    args = parser.parse_args()
    modern = machine("linux-modern")
    probe = VagrantTarget(modern)
    print(f"load before: {load()}")
    probe.destroy()  # no machine: the cold runs boot one

    measure("cold (vagrant up, ssh, agent installed)", args.cold,
            lambda: VagrantTarget(modern, Lifecycle(after="destroy")))
    run([VagrantTarget(modern, Lifecycle(after="save"))])  # boots once more, leaves it saved
    saved = SAVE_DIR / f"{probe.domain}.save"
    print(f"saved machine: state on disk {saved.stat().st_size / 2**20:.0f} MiB ({saved}), no process")

    measure("resume (saved machine: virsh start, clock stepped, cleaned)", args.runs,
            lambda: VagrantTarget(modern, Lifecycle(after="save")))
    # As a user meets it: the machine saved, the libvirt daemons stopped (each run stops those it started).
    command_median("saved machine, whole `harness run` (daemons started, resumed, run, saved, daemons stopped)",
                   args.runs, lambda: daemons("stop"))
    command_median("saved machine, whole `harness run --save-after 60` (daemons started, resumed, run; "
                   "saved later by the keeper)", args.runs, lambda: (command("--save"), daemons("stop")),
                   "--save-after", "60")
    command_median("machine left running by --save-after, whole `harness run --save-after 60` (taken over, run)",
                   args.runs, lambda: None, "--save-after", "60")
    measure("taken over (left running by --save-after: no daemons, no resume)", args.runs,
            lambda: VagrantTarget(modern, Lifecycle(save_after=60)))
    daemons("start")

    run([VagrantTarget(modern, Lifecycle(after="keep"))])  # resumes it and leaves it running
    measure("warm (running machine, --keep: no Vagrant, no virsh)", args.runs,
            lambda: VagrantTarget(modern, Lifecycle(after="keep")))
    rss = qemu_rss_mib(probe.domain)
    print(f"running machine: QEMU resident memory {rss:.0f} MiB" if rss else "running machine: no QEMU found")
    probe.destroy()

    if args.parallel:
        stand_in = machine("linux-legacy", box="harness/debian12", local_box="harness/debian12", python="python3",
                           system="linux 6.1",
                           description="stand-in: linux-legacy slot on the Debian 12 box (kernel 6.1)")
        assert VagrantTarget(stand_in).network == "isolated"  # the local box: QEMU user networking on 127.0.0.1
        lifecycle = Lifecycle(after="destroy")
        clock = run([VagrantTarget(modern, lifecycle), VagrantTarget(stand_in, lifecycle)])
        for name in clock.first:
            print(f"parallel cold start {name}: first result {clock.first[name]:.1f} s, all {clock.last[name]:.1f} s")
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
