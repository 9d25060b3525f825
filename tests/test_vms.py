"""End to end on a real VM: the locally built Debian 12 box, libvirt + QEMU (TCG), python-vagrant, SSH.

These boot real machines (about a minute each under software emulation) and
run in .ci/run. The tests run in this order and hand the machine on: the first
boots it and leaves it saved (the default), the next ones resume it; one
rebuild (a changed box) and one interrupted boot are the only other boots.
They need root, Debian's vagrant/libvirt/qemu (scripts/setup.sh) and the
libvirt daemons, which the fixture starts (and stops again if it did).
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
from conftest import SEED, harness_in_background, results
from conftest import harness as run_harness

from harness import observation
from harness.scenario.loader import load_suite
from harness.targets.vagrant import leftover_domains
from harness.targets.vagrantcli import cache_dir, domain_prefix, host_daemons, state_dir, virsh
pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("HARNESS_SKIP_VM_TESTS") == "1", reason="HARNESS_SKIP_VM_TESTS=1"),
]
FRESH_RUN: dict[str, Path] = {}  # handed from the first test to the next
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
    started = host_daemons("start", lambda line: None)
    assert started.returncode == 0, started.stdout + started.stderr
    clear = harness("down", "linux-modern", timeout=600)  # the first test boots a fresh machine
    assert clear.returncode == 0, clear.stdout + clear.stderr
    yield
    down = harness("down", "linux-modern", timeout=600)
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftover_domains() == [] and qemu_pids() == [], "a VM was left behind"
    if "already running" not in started.stdout:
        host_daemons("stop", lambda line: None)


def domain_state() -> str:
    """This checkout's linux-modern as `virsh dominfo` tells it: its state, `shut off (saved)` when a
    managed save exists (what any libvirtd says, not only the one that saved it)."""
    proc = virsh("dominfo", f"{domain_prefix()}linux-modern")
    if proc.returncode != 0:
        return "absent"
    info = proc.stdout
    state = info.split("State:", 1)[1].splitlines()[0].strip()
    return f"{state} (saved)" if "\nManaged save:   yes" in info else state


def restart_libvirt_daemons() -> None:
    """libvirtd and virtlogd stopped and started again, as between two runs that each start them."""
    for action in ("stop", "start"):
        proc = host_daemons(action, lambda line: None)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def record() -> dict:
    import json
    return json.loads((state_dir("linux-modern") / "machine.json").read_text())


def behaviour(out: Path, target: str = "linux-modern") -> dict:
    """Per scenario: verdict and each step's outcome, as two kernels behaving alike share them."""
    return {r["scenario"]: (r["verdict"], [observation.signature(s["op"], s.get("observed")) for s in r["steps"]])
            for r in results(out)["results"] if r["target"] == target}


def run_in_background(out: Path, scenario_file: Path, *extra: str) -> subprocess.Popen:
    return harness_in_background("run", str(scenario_file), "--targets", "linux-modern", "--out", str(out), *extra)


def interrupt_when_qemu_starts(out: Path, timeout: float) -> None:
    """A run of the seed file, Ctrl-C (SIGINT) as soon as the machine's QEMU process appears: exit 130."""
    proc = run_in_background(out, SEED)
    deadline = time.monotonic() + timeout
    while not qemu_pids() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout_text, stderr_text = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout_text + stderr_text


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


def guest() -> paramiko.SSHClient:
    """An SSH session into the running guest, where the harness recorded it (host key checked)."""
    from harness.targets.ssh import SSHEndpoint, connect
    r = record()
    return connect(SSHEndpoint(host=r["host"], port=r["port"], user=r["user"], key_file=r["key_file"],
                               host_keys="strict", known_hosts=(str(state_dir("linux-modern") / "known_hosts"),))
                   ).client


def on_guest(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, _ = client.exec_command(command)
    return stdout.read().decode()


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
    assert vm["details"]["started"] == "booted" and vm["identity"]["netns"] == "available"
    # Saved after a run whose agent finished (the default): memory on disk, no QEMU process left.
    assert domain_state() == "shut off (saved)" and qemu_pids() == [] and record()["state"] == "saved"
    FRESH_RUN["out"] = tmp_path

    # The VM's answers go into a baseline of their own system, and the same run compares as unchanged.
    folder = tmp_path / "baselines"
    recorded = harness("baseline", "update", str(tmp_path / "results.json"), "--out", str(folder))
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert (folder / "linux-modern@linux-6.1.txt").exists()
    same = harness("report", str(tmp_path / "results.json"), "--baseline", str(folder), "--out", str(tmp_path / "r"))
    assert same.returncode == 0 and "CHANGED" not in same.stdout, same.stdout + same.stderr


LEFTOVER = ("sudo -n sh -c 'mkdir -p /tmp/harness.leftover1 /tmp/harness.leftover2 && "
            "echo \"import time; time.sleep(3600)\" > /tmp/harness.leftover1/agent.py && "
            "(setsid python3 /tmp/harness.leftover1/agent.py </dev/null >/dev/null 2>&1 &)'")
LEFTOVER_PIDS = "pgrep -f '^python3 /tmp/harness[.]leftover1/agent[.]py' || true"


def test_a_resumed_machine_answers_as_a_fresh_one_and_is_as_clean(tmp_path):
    fresh = FRESH_RUN.get("out")  # the first test's run, on a freshly booted machine
    assert fresh, "runs after test_seed_file_runs_on_the_vm_next_to_local"
    # What an earlier run might have left behind, put into the saved machine: an agent still running
    # and folders. `harness up` resumes the machine, `harness up --save` saves it again.
    up = harness("up", "linux-modern")
    assert up.returncode == 0 and "linux-modern: running" in up.stdout, up.stdout + up.stderr
    client = guest()
    on_guest(client, LEFTOVER)
    assert on_guest(client, LEFTOVER_PIDS).split(), "the leftover process did not start"
    services = on_guest(client, "cat /run/sshd.pid; pidof systemd-journald qemu-ga")
    client.close()
    saved = harness("up", "linux-modern", "--save")
    assert saved.returncode == 0 and "linux-modern: saved" in saved.stdout, saved.stdout + saved.stderr
    assert domain_state() == "shut off (saved)" and qemu_pids() == []
    # A later run on a host whose daemons were stopped meanwhile (each run stops those it started): a new
    # libvirtd, which says `shut off (unknown)` to `domstate --reason`, must still resume the saved state.
    restart_libvirt_daemons()
    time.sleep(5)  # saved for a while: its clock is behind when it wakes

    out = tmp_path / "resumed"
    proc = harness("run", str(SEED), "--targets", "local,local-legacy,linux-modern", "--keep", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert behaviour(out) == behaviour(fresh)  # the same answers as the freshly booted machine
    vm = next(t for t in results(out)["targets"] if t["name"] == "linux-modern")
    assert vm["details"]["started"] == "resumed from disk", vm["details"]
    assert vm["details"]["clock"].startswith("stepped by +"), vm["details"]
    log = (out / "run.log").read_text()
    assert "resumed from disk in" in log and "/usr/bin/vagrant" not in log  # no Ruby start-up at all
    assert "leftovers of earlier runs removed" in log and "agent cached" in log

    client = guest()  # kept running (--keep): look inside
    assert on_guest(client, LEFTOVER_PIDS).split() == []
    # Only the leftovers went: the guest's own services run on (a `kill -KILL -PID` that procps-ng's
    # kill took for every process once took them all down with the agent).
    assert set(services.split()) <= set(on_guest(client, "cat /run/sshd.pid; pidof systemd-journald qemu-ga").split())
    assert on_guest(client, "ls -d /tmp/harness.* 2>/dev/null || true").strip() == ""
    guest_now, host_now = float(on_guest(client, "date +%s.%N")), time.time()
    assert abs(guest_now - host_now) < 2, (guest_now, host_now)
    agent = on_guest(client, "ls -ln /var/lib/harness/").split("\n")
    assert any(" 0 0 " in line and line.startswith("-rw-r--r--") for line in agent), agent
    client.close()


def keeper_pid() -> int:
    """The keeper the machine's record names, checked to be alive and this machine's (0: none)."""
    from harness.targets.keeper import is_keeper

    pid = record().get("keeper", 0)
    assert not pid or is_keeper(pid, state_dir("linux-modern") / "machine.json"), pid
    return pid


def test_a_machine_left_running_by_save_after_is_taken_over_clean_then_saved_by_its_keeper(tmp_path):
    # The previous test left the machine running (--keep). A run with --save-after leaves it running,
    # a keeper to save it later; the fixture started the libvirt daemons, so no keeper stops them.
    first = harness("run", str(SEED), "--targets", "linux-modern", "--tags", "bind", "--save-after", "120",
                    "--out", str(tmp_path / "first"))
    assert first.returncode == 0, first.stdout + first.stderr
    held = keeper_pid()
    assert held and domain_state() == "running" and record()["keeper_daemons"] is False
    assert f"left running; keeper pid {held} saves it in 120 s" in (tmp_path / "first" / "run.log").read_text()
    shown = harness("targets")
    assert f"left by --save-after: keeper pid {held} saves it unless a run comes" in shown.stdout, shown.stdout
    client = guest()  # what that run might have left behind
    on_guest(client, LEFTOVER)
    assert on_guest(client, LEFTOVER_PIDS).split()
    client.close()

    # The next run takes it over from the keeper, cleans it as it would a resumed one, and hands it on.
    out = tmp_path / "taken"
    again = harness("run", str(SEED), "--targets", "linux-modern", "--tags", "bind", "--save-after", "3",
                    "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    log = (out / "run.log").read_text()
    assert f"stopped keeper pid {held}" in log and "leftovers of earlier runs removed" in log
    assert "$ " not in log  # neither Vagrant nor virsh: no resume, no save
    assert results(out)["targets"][0]["details"]["started"] == "reused, left running by an earlier run"
    assert not Path(f"/proc/{held}").exists()
    handed = keeper_pid()
    assert handed and handed != held

    # Nobody comes within 3 s: the keeper saves the machine, as a run with --save would have.
    deadline = time.monotonic() + 120
    while Path(f"/proc/{handed}").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not Path(f"/proc/{handed}").exists(), "the keeper never finished"
    assert domain_state() == "shut off (saved)" and qemu_pids() == []
    assert record()["state"] == "saved" and record()["keeper"] == 0
    client_log = (state_dir("linux-modern") / "keeper.log").read_text()
    assert f"keeper {handed} " in client_log and "saved to disk; the next run resumes it" in client_log


def test_ctrl_c_while_resuming_leaves_the_machine_saved_or_destroyed(tmp_path):
    saved = harness("up", "linux-modern", "--save")
    assert saved.returncode == 0 and domain_state() == "shut off (saved)", saved.stdout + saved.stderr
    interrupt_when_qemu_starts(tmp_path / "interrupted", 60)  # virsh start is restoring the machine
    assert domain_state() in ("shut off (saved)", "absent") and qemu_pids() == []  # never half-resumed
    again = harness("run", str(SEED), "--targets", "linux-modern", "--tags", "bind", "--out", str(tmp_path / "next"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert domain_state() == "shut off (saved)"


def test_keep_reuses_the_machine_and_faults_are_errors(tmp_path):
    first = harness("run", str(SEED), "--targets", "linux-modern", "--keep", "--tags", "bind", "--out",
                    str(tmp_path / "first"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert len(leftover_domains()) == 1 and qemu_pids()  # resumed, and kept running

    again = harness("run", str(SEED), "--targets", "linux-modern", "--keep", "--tags", "bind", "--out",
                    str(tmp_path / "again"))
    assert again.returncode == 0, again.stdout + again.stderr
    warm_log = (tmp_path / "again" / "run.log").read_text()
    assert "running, reached over ssh without Vagrant: reused" in warm_log
    assert "$ " not in warm_log, warm_log  # not one Vagrant command (no Ruby start-up) on the warm path

    # Its host key was recorded when the machine was created: another key on that port is refused.
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
    client = guest()
    pids = on_guest(client, "pgrep -f 'harness/agent-[0-9a-f]+[.]py'").split()
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


def test_a_changed_box_rebuilds_the_machine(tmp_path):
    # The box is "rebuilt": its files change (here their time, which the fingerprint reads with their
    # size; a real rebuild changes both). The machine the harness recorded (the previous test killed its
    # QEMU; the check comes before any resume) must not be reused but made anew, then saved.
    assert record()["fingerprint"]
    metadata = next((cache_dir() / "vagrant.d" / "boxes" / "harness-VAGRANTSLASH-debian12").rglob("metadata.json"))
    stamp = metadata.stat().st_mtime_ns
    os.utime(metadata, ns=(stamp, stamp + 1_000_000_000))
    out = tmp_path / "rebuilt"
    proc = harness("run", str(SEED), "--targets", "linux-modern", "--tags", "bind", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (out / "run.log").read_text()
    assert "changed since the machine was made: rebuilding it" in log
    assert "vagrant destroy" in log and "vagrant up" in log and "resumed from disk" not in log
    assert results(out)["targets"][0]["details"]["started"] == "booted"
    assert domain_state() == "shut off (saved)"  # and saved again, with the new fingerprint


def test_down_clears_a_saved_machine_and_ctrl_c_while_booting_destroys_the_machine_it_created(tmp_path):
    saved_state = Path("/var/lib/libvirt/qemu/save") / f"{domain_prefix()}linux-modern.save"
    assert domain_state() == "shut off (saved)" and saved_state.exists()  # as the previous test left it
    down = harness("down", "linux-modern")
    assert down.returncode == 0 and "linux-modern: destroyed (was saved)" in down.stdout, down.stdout + down.stderr
    assert domain_state() == "absent" and not saved_state.exists()
    assert not (state_dir("linux-modern") / "machine.json").exists()

    assert qemu_pids() == [], "a VM of an earlier test is still running: this test needs to see a new one start"
    interrupt_when_qemu_starts(tmp_path, 300)  # vagrant up has started the domain
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
