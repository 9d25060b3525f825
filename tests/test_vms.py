"""End to end on a real VM: the locally built Debian 12 box, libvirt + QEMU (TCG), python-vagrant, SSH.

These boot real machines (about a minute each under software emulation) and
run in .ci/run. They need root, Debian's vagrant/libvirt/qemu (scripts/setup.sh)
and the libvirt daemons, which the fixture starts (and stops again if it did).
Set HARNESS_SKIP_VM_TESTS=1 to skip them, e.g. on a laptop without libvirt.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import paramiko
import pytest
from conftest import ROOT, SEED, harness_in_background, results
from conftest import harness as run_harness

from harness.scenario.loader import load_suite
from harness.targets.vagrant import leftover_domains
from harness.targets.vagrantcli import domain_prefix
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("HARNESS_SKIP_VM_TESTS") == "1", reason="HARNESS_SKIP_VM_TESTS=1"),
]
SLOW = """suite: slow
scenarios:
  - name: hold
    steps: [{op: sleep, ms: 40000}]
"""


def harness(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return run_harness(*args, timeout=timeout)


def qemu_pids() -> list[int]:
    """QEMU processes of this checkout's VMs (their command line names the libvirt domain)."""
    out = subprocess.run(["pgrep", "-f", f"qemu-system.*guest={domain_prefix()}"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture(scope="module", autouse=True)
def libvirt_daemons():
    """libvirtd and virtlogd for these tests; stopped afterwards if this fixture started them."""
    assert os.geteuid() == 0, "the VM tests need root (set HARNESS_SKIP_VM_TESTS=1 to skip them)"
    started = subprocess.run(["bash", str(ROOT / "vagrant" / "host-daemons.sh"), "start"], capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    yield
    down = harness("down", "linux-modern", timeout=600)
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftover_domains() == [] and qemu_pids() == [], "a VM was left behind"
    if "already running" not in started.stdout:
        subprocess.run(["bash", str(ROOT / "vagrant" / "host-daemons.sh"), "stop"], timeout=120)


def run_in_background(out: Path, scenario_file: Path, *extra: str) -> subprocess.Popen:
    return harness_in_background("run", str(scenario_file), "--targets", "linux-modern", "--out", str(out), *extra)


def wait_until_agent_runs(out: Path, proc: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if any(t["name"] == "linux-modern" and t["ran"] for t in results(out)["targets"]):
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    pytest.fail("the agent never started on linux-modern")


def guest(out: Path) -> paramiko.SSHClient:
    """An SSH session into the running guest, as the harness reaches it."""
    from harness.targets.ssh import connect
    from harness.targets.vagrant import VagrantTarget, load_machines
    machine = next(m for m in load_machines() if m.name == "linux-modern")
    target = VagrantTarget(machine)
    target._use_box(results(out)["targets"][0]["details"]["box"])
    return connect(target.endpoint()).client


def test_seed_file_runs_on_the_vm_next_to_local(tmp_path):
    proc = harness("run", str(SEED), "--targets", "local,local-legacy,linux-modern", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = results(tmp_path)
    vm = next(t for t in doc["targets"] if t["name"] == "linux-modern")
    local = next(t for t in doc["targets"] if t["name"] == "local")
    assert vm["provider"] == "vagrant/libvirt" and vm["details"]["box"]
    assert vm["identity"]["release"] != local["identity"]["release"]  # the guest's kernel, not the host's
    assert vm["identity"]["release"].endswith("-amd64") and vm["identity"]["family"] == "linux"
    vm_results = [r for r in doc["results"] if r["target"] == "linux-modern"]
    assert len(vm_results) == len(load_suite(str(SEED)).scenarios) and {r["verdict"] for r in vm_results} == {"pass"}
    spread = next(r for r in vm_results if r["scenario"] == "distribute-tcp-four-listeners[inet]")["steps"][-1]["observed"]
    assert sum(1 for n in spread["histogram"].values() if n) >= 2
    assert leftover_domains() == [] and qemu_pids() == []  # destroyed after the run (--destroy always)

    # The VM's answers go into a baseline of their own system, and the same run compares as unchanged.
    folder = tmp_path / "baselines"
    recorded = harness("baseline", "update", str(tmp_path / "results.json"), "--out", str(folder))
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert (folder / "linux-modern@linux-6.1.txt").exists()
    same = harness("report", str(tmp_path / "results.json"), "--baseline", str(folder), "--out", str(tmp_path / "r"))
    assert same.returncode == 0 and "CHANGED" not in same.stdout, same.stdout + same.stderr


def test_keep_reuses_the_machine_and_faults_are_errors(tmp_path):
    first = harness("run", str(SEED), "--targets", "linux-modern", "--keep", "--tags", "bind", "--out",
                    str(tmp_path / "first"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(leftover_domains()) == 1  # kept running

    again = harness("run", str(SEED), "--targets", "linux-modern", "--keep", "--tags", "bind", "--out",
                    str(tmp_path / "again"))
    assert again.returncode == 0, again.stdout + again.stderr
    warm_log = (tmp_path / "again" / "run.log").read_text()
    assert "running, reached over ssh without Vagrant: reused" in warm_log
    assert "$ " not in warm_log, warm_log  # not one Vagrant command (no Ruby start-up) on the warm path

    # Its host key was recorded when the machine was created: another key on that port is refused.
    from harness.targets.vagrantcli import state_dir
    known = state_dir("linux-modern") / "known_hosts"
    recorded = known.read_text()
    assert recorded.startswith("[127.0.0.1]:")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    impostor = (tmp_path / "impostor.pub").read_text().split()[:2]
    known.write_text(recorded.split()[0] + " " + " ".join(impostor) + "\n")
    refused = harness("run", str(SEED), "--targets", "linux-modern", "--keep", "--tags", "bind", "--out",
                      str(tmp_path / "impostor-run"))
    known.write_text(recorded)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "CHANGED" in results(tmp_path / "impostor-run")["results"][0]["reason"]

    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW)

    # The agent dies on the guest: that target's scenarios are errors, never behaviour.
    out = tmp_path / "agent-killed"
    proc = run_in_background(out, slow, "--keep")
    wait_until_agent_runs(out, proc)
    client = guest(out)
    _, stdout, _ = client.exec_command("pgrep -f 'harness[.][A-Za-z0-9]+/agent.py'")
    pids = stdout.read().decode().split()
    assert pids, "agent not found on the guest"
    client.exec_command(f"sudo -n kill -KILL {' '.join(pids)}")[1].channel.recv_exit_status()
    client.close()
    stdout_text, stderr_text = proc.communicate(timeout=300)
    assert proc.returncode == 3, stdout_text + stderr_text
    verdict = results(out)["results"][0]
    assert verdict["verdict"] == "error" and "agent exited" in verdict["reason"]

    # The VM's QEMU is killed mid-run: the SSH connection drops, errors again, and nothing hangs.
    out = tmp_path / "qemu-killed"
    proc = run_in_background(out, slow, "--keep")
    wait_until_agent_runs(out, proc)
    for pid in qemu_pids():
        os.kill(pid, signal.SIGKILL)
    stdout_text, stderr_text = proc.communicate(timeout=300)
    assert proc.returncode == 3, stdout_text + stderr_text
    verdict = results(out)["results"][0]
    assert verdict["verdict"] == "error", verdict
    assert results(out)["summary"]["fail"] == 0


def test_ctrl_c_while_booting_destroys_the_machine_it_created(tmp_path):
    assert qemu_pids() == [], "a VM of an earlier test is still running: this test needs to see a new one start"
    proc = run_in_background(tmp_path, SEED)
    deadline = time.monotonic() + 300
    while not qemu_pids() and time.monotonic() < deadline:  # vagrant up has started the domain
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout_text, stderr_text = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout_text + stderr_text
    assert results(tmp_path)["interrupted"]
    assert leftover_domains() == [] and qemu_pids() == []


def test_boot_timeout_is_an_error_and_leaves_no_vm(tmp_path):
    proc = harness("run", str(SEED), "--targets", "linux-modern", "--boot-timeout", "1", "--out", str(tmp_path))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = results(tmp_path)
    assert {r["verdict"] for r in doc["results"]} == {"error"}
    assert "took more than 1 s" in doc["results"][0]["reason"]
    assert leftover_domains() == [] and qemu_pids() == []


def test_a_box_that_cannot_be_fetched_makes_the_target_unavailable_quickly(tmp_path):
    start = time.monotonic()
    proc = harness("run", str(SEED), "--targets", "freebsd", "--out", str(tmp_path), timeout=300)
    elapsed = time.monotonic() - start
    assert proc.returncode == 3, proc.stdout + proc.stderr  # an explicitly named target could not run
    assert "Traceback" not in proc.stderr
    doc = results(tmp_path)
    assert {r["verdict"] for r in doc["results"]} == {"skipped"}
    assert "box generic/freebsd14 is not present and cannot be downloaded" in doc["results"][0]["reason"]
    print(f"freebsd reported unavailable after {elapsed:.1f} s")
