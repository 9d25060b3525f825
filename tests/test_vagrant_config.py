"""Vagrant provider pieces that need no VM: the machine list, lifecycle policy, error texts, networking."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest
from conftest import ROOT, SEED, default_signals, harness

from harness.targets import select_targets
from harness.targets.base import AgentError
from harness.targets.vagrant import VagrantTarget, load_machines
from harness.targets.lifecycle import Lifecycle
from harness.targets.vagrant_commands import settings
from harness.targets.vagrantcli import domain_prefix, machine_readable_error, vagrant_env
from harness.targets.vmstate import SAVED, domain_state, fingerprint, machine_env


def test_targets_yaml_defines_the_four_families():
    machines = {m.name: m for m in load_machines()}
    assert set(machines) == {"linux-legacy", "linux-modern", "freebsd", "macos"}
    assert machines["linux-modern"].local_box == "harness/debian12"
    assert machines["freebsd"].python == "/usr/local/bin/python3"
    assert machines["macos"].opt_in and machines["macos"].box_env == "HARNESS_MACOS_BOX"
    assert len({m.ssh_port for m in machines.values()}) == 4  # one forwarded port each


def test_all_leaves_out_opt_in_targets():
    names = [t.name for t in select_targets("all")]
    assert names[:2] == ["local", "local-legacy"] and "macos" not in names and "freebsd" in names


def test_macos_without_a_box_is_unavailable_with_the_reason(monkeypatch):
    monkeypatch.delenv("HARNESS_MACOS_BOX", raising=False)
    macos = next(t for t in select_targets("macos"))
    avail = macos.availability()
    assert not avail.available and "HARNESS_MACOS_BOX" in avail.reason


@pytest.mark.parametrize("after, policy, owned, ok, interrupted, expected", [
    ("destroy", "always", True, False, False, True),
    ("destroy", "always", False, True, False, False),   # reused: not ours to destroy
    ("keep", "always", True, True, False, False),       # --keep
    ("save", "always", True, True, False, False),       # --save
    ("destroy", "on-success", True, False, False, False),  # a failing machine is kept to look at
    ("destroy", "on-success", True, True, False, True),
    ("destroy", "on-success", True, False, True, True),   # Ctrl-C destroys what the run created
    ("destroy", "never", True, True, True, False),
])
def test_destroy_policy(after, policy, owned, ok, interrupted, expected):
    assert Lifecycle(after=after, destroy=policy).should_destroy(owned, ok, interrupted) is expected


@pytest.mark.parametrize("after, owned, reached, healthy, ok, interrupted, expected", [
    ("save", True, True, True, True, False, "save"),
    ("save", True, True, True, False, False, "save"),      # scenarios failed, the machine worked
    ("save", True, True, False, False, False, "destroy"),  # the agent broke: a machine in doubt
    ("save", False, True, False, False, False, "leave"),   # broke, but not ours (reused running)
    ("save", True, False, False, False, True, "destroy"),  # Ctrl-C during boot
    ("save", True, True, False, False, True, "save"),      # Ctrl-C during resume or the run
    ("save", True, False, False, False, False, "destroy"), # a resumed machine that never answered
    ("keep", True, True, False, False, True, "leave"),
    ("destroy", True, True, True, True, False, "destroy"),
    ("destroy", False, True, True, True, False, "leave"),
])
def test_what_becomes_of_a_machine_after_a_run(after, owned, reached, healthy, ok, interrupted, expected):
    assert Lifecycle(after=after).decide(owned, reached, healthy, ok, interrupted) == expected


def test_save_is_the_default_and_the_choices_exclude_each_other(tmp_path):
    assert settings({"save": False, "keep": False, "destroy": None, "boot_timeout": None}).after == "save"
    assert settings({"save": False, "keep": False, "destroy": "never", "boot_timeout": None}) == Lifecycle(
        after="destroy", destroy="never")
    proc = harness("run", str(SEED), "--targets", "linux-modern", "--keep", "--save", "--out", str(tmp_path))
    assert proc.returncode == 2 and "choose one of --save, --keep and --destroy" in proc.stderr
    assert not (tmp_path / "results.json").exists()
    later = settings({"save": False, "keep": False, "destroy": None, "boot_timeout": None, "save_after": 90.0})
    assert (later.after, later.save_after) == ("save", 90.0)
    for choice in ("--keep", "--destroy=always"):
        proc = harness("run", str(SEED), "--targets", "linux-modern", choice, "--save-after", "60", "--out",
                       str(tmp_path))
        assert proc.returncode == 2 and f"--save-after saves the machines later: it does not go with {choice.split('=')[0]}" \
            in proc.stderr, proc.stderr
    proc = harness("run", str(SEED), "--targets", "linux-modern", "--save-after", "0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--save-after" in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_environment_is_kept_and_each_machine_has_its_own_state(monkeypatch):
    monkeypatch.setenv("SOME_USER_VAR", "kept")
    a, b = vagrant_env("linux-modern"), vagrant_env("freebsd")
    assert a["SOME_USER_VAR"] == "kept" and a["PATH"]  # python-vagrant's env= would replace it all
    assert a["VAGRANT_DOTFILE_PATH"] != b["VAGRANT_DOTFILE_PATH"]
    assert a["VAGRANT_CHECKPOINT_DISABLE"] == "1" and a["HARNESS_VAGRANT_PREFIX"] == domain_prefix()


def test_box_override_reaches_the_vagrantfile_environment():
    machine = next(m for m in load_machines() if m.name == "linux-modern")
    target = VagrantTarget(machine)
    target._use_box("harness/debian12", "0", built_here=True)
    assert target.vagrant.env["HARNESS_BOX_LINUX_MODERN"] == "harness/debian12"
    assert target.vagrant.env["HARNESS_SSH_PORT_LINUX_MODERN"] == str(machine.ssh_port)
    assert "built on this machine" in target.info.details["box_source"]


def test_machine_readable_errors_are_decoded():
    out = (b"1795294744,,ui,error,ignored\n"
           b"1795294744,,error-exit,Vagrant::Errors::NoEnvironmentError,A Vagrant environment%!(VAGRANT_COMMA)\\nsee\n")
    assert machine_readable_error(out) == "A Vagrant environment, see"


# --- networking, as Vagrant itself resolves the Vagrantfile (nothing is booted) ----------------
# Only read here: a machine in provider networking is never brought up on this machine
# (scripts/test.sh sets HARNESS_ISOLATED_ONLY=1, which the next test checks is enforced).

SHOW_CONFIG = ROOT / "vagrant" / "show-config.rb"
needs_vagrant = pytest.mark.skipif(not shutil.which("ruby") or not shutil.which("vagrant"),
                                   reason="needs Debian's vagrant (scripts/setup.sh installs it)")


def vagrant_view(provider: str = "libvirt", **env: str) -> dict:
    """Every machine as Vagrant resolves it for `provider`, with these HARNESS_* variables set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_BOX_", "HARNESS_NETWORK_"))}
    clean.pop("HARNESS_VAGRANT_NETWORK", None)
    proc = subprocess.run(["ruby", str(SHOW_CONFIG), provider], capture_output=True, text=True, timeout=120,
                          env={**clean, "VAGRANT_CHECKPOINT_DISABLE": "1", **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def qemu_netdevs(machine: dict) -> list[str]:
    return [a["value"] for a in machine["provider"]["qemu_args"] if a["value"].startswith("user,")]


def assert_isolated(machine: dict, port: int) -> None:
    lv = machine["provider"]
    assert lv["mgmt_attach"] is False and lv["qemu_use_agent"] is True
    assert qemu_netdevs(machine) == [f"user,id=harnessnet,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22"]
    (tunnel,) = [opts for kind, opts in machine["networks"] if kind == "private_network"]
    assert tunnel["libvirt__tunnel_type"] == "udp"
    assert tunnel["libvirt__tunnel_local_ip"] == tunnel["libvirt__tunnel_ip"] == "127.0.0.1"
    assert machine["ssh"]["host"] == "127.0.0.1" and machine["ssh"]["port"] == port


def assert_provider_networking(machine: dict) -> None:
    lv = machine["provider"]
    assert lv["mgmt_attach"] is True and lv["qemu_use_agent"] is False  # address from DHCP, no guest agent
    assert lv["management_network_mode"] == "nat" and lv["management_network_name"] == "vagrant-libvirt"
    assert qemu_netdevs(machine) == [] and not [n for n in machine["networks"] if n[0] == "private_network"]
    assert machine["ssh"]["host"] is None  # the address vagrant-libvirt learns, not 127.0.0.1


@needs_vagrant
def test_stock_boxes_get_provider_networking_and_the_local_box_stays_isolated():
    machines = {m.name: m for m in load_machines()}
    view = vagrant_view(HARNESS_BOX_LINUX_MODERN="harness/debian12")
    assert_isolated(view["linux-modern"], machines["linux-modern"].ssh_port)
    for name in ("linux-legacy", "freebsd"):
        assert_provider_networking(view[name])
    stock = vagrant_view()  # linux-modern with its stock box, debian/bookworm64
    assert stock["linux-modern"]["box"] == "debian/bookworm64"
    assert_provider_networking(stock["linux-modern"])


def setup_host_packages() -> set[str]:
    """The Debian packages vagrant/setup-host.sh installs (its `packages=( ... )` list)."""
    text = (ROOT / "vagrant" / "setup-host.sh").read_text()
    block = text[text.index("packages=(") + len("packages=("):]
    return set(block[:block.index(")")].split())


def test_setup_host_installs_what_libvirt_needs_to_start_the_management_network():
    """Provider networking (stock boxes, as on a CI runner) is a libvirt NAT network with DHCP: libvirt's
    network driver runs dnsmasq and sets NAT rules with iptables (libvirt 9.0). setup-host.sh installs
    libvirt-daemon without libvirt-daemon-system, which would have brought both; so it names them."""
    packages = setup_host_packages()
    assert {"dnsmasq-base", "iptables", "libvirt-daemon"} <= packages
    assert "dnsmasq" not in packages and "libvirt-daemon-system" not in packages  # no service, no default network
    for package in ("dnsmasq-base", "iptables"):
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
        assert status.stdout == "install ok installed", f"{package}: run scripts/setup.sh"
    for program in ("/usr/sbin/dnsmasq", "/usr/sbin/iptables"):
        assert os.access(program, os.X_OK), program
    drivers = subprocess.run(["dpkg", "-L", "libvirt-daemon"], capture_output=True, text=True).stdout
    assert "libvirt_driver_network.so" in drivers


@needs_vagrant
def test_the_networking_mode_can_be_overridden_per_machine_or_for_all():
    machines = {m.name: m for m in load_machines()}
    one = vagrant_view(HARNESS_NETWORK_FREEBSD="isolated")
    assert_isolated(one["freebsd"], machines["freebsd"].ssh_port)
    assert_provider_networking(one["linux-legacy"])
    every = vagrant_view(HARNESS_VAGRANT_NETWORK="provider", HARNESS_BOX_LINUX_MODERN="harness/debian12")
    assert_provider_networking(every["linux-modern"])


@needs_vagrant
def test_the_harness_decides_the_mode_as_the_vagrantfile_does(monkeypatch):
    for env in ({}, {"HARNESS_BOX_LINUX_MODERN": "harness/debian12"}, {"HARNESS_NETWORK_FREEBSD": "isolated"}):
        view = vagrant_view(**env)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for machine in load_machines():
            if machine.name not in view:  # an opt-in machine without its box is not defined
                continue
            isolated = bool(qemu_netdevs(view[machine.name]))
            assert machine.network_mode(view[machine.name]["box"]) == ("isolated" if isolated else "provider")
        for name in env:
            monkeypatch.delenv(name)


@needs_vagrant
def test_virtualbox_uses_its_nat_with_ssh_forwarded_on_loopback():
    for name, machine in vagrant_view("virtualbox").items():
        assert machine["provider"]["network_adapters"]["1"][0] == "nat"
        (ssh,) = [opts for kind, opts in machine["networks"] if kind == "forwarded_port" and opts["id"] == "ssh"]
        assert ssh["host_ip"] == "127.0.0.1" and ssh["guest"] == 22 and ssh["host"] == machine["ssh"]["port"]


@needs_vagrant
def test_vagrant_suspend_keeps_memory_on_disk_as_the_harness_does():
    assert {m["provider"]["suspend_mode"] for m in vagrant_view().values()} == {"managedsave"}


class RecordingVagrant:
    """Only at the command level: VirtualBox is not installed here, so `vagrant suspend`/`resume`
    for it are checked as the commands the harness issues, never run."""

    def __init__(self, states: list[str]) -> None:
        self.commands: list[list[str]] = []
        self.states = states

    def __call__(self, args) -> str:
        self.commands.append([a for a in args if a])
        if args[0] == "status":
            return f"1,virtualbox-machine,state,{self.states.pop(0)}\n"
        return ""


def test_virtualbox_machines_are_saved_with_vagrant_suspend_and_resumed_with_vagrant_resume(monkeypatch):
    monkeypatch.setenv("HARNESS_VAGRANT_PROVIDER", "virtualbox")
    target = VagrantTarget(next(m for m in load_machines() if m.name == "linux-modern"))
    fake = RecordingVagrant(["saved", "running"])
    monkeypatch.setattr(target.vagrant, "_run_bounded", fake)
    saver = target.saver
    assert type(saver).__name__ == "VagrantSaver"
    assert saver.resume() is True  # status says saved: `vagrant resume`
    saver.save()
    assert [c[0] for c in fake.commands] == ["status", "resume", "suspend"]
    assert fake.commands[1][-1] == fake.commands[2][-1] == "linux-modern"
    assert saver.resume() is False  # running: nothing to resume


DOMINFO = """Id:             {id}
Name:           harness-f2af6c09-linux-modern
UUID:           1af27d78-34db-4ea0-be8b-5347f5e88759
OS Type:        hvm
State:          {state}
CPU(s):         1
Max memory:     1048576 KiB
Used memory:    1048576 KiB
Persistent:     yes
Autostart:      disable
Managed save:   {saved}
Security model: none
Security DOI:   0
"""


@pytest.mark.parametrize("state, saved, expected", [
    ("shut off", "yes", SAVED),  # what a libvirtd started after the save says (domstate: `shut off (unknown)`)
    ("shut off", "no", "off"),
    ("running", "no", "running"),
    ("paused", "no", "running"),
])
def test_a_libvirt_machine_is_saved_when_dominfo_says_it_has_a_managed_save(state, saved, expected):
    assert domain_state(DOMINFO.format(id="-" if state == "shut off" else "3", state=state, saved=saved)) == expected


def test_the_fingerprint_follows_what_the_machine_is_made_of(tmp_path):
    vagrantfile, box = tmp_path / "Vagrantfile", tmp_path / "box.img"
    vagrantfile.write_text("one")
    box.write_bytes(b"image")
    first = fingerprint("harness/debian12", "isolated", [vagrantfile], [box], {"HARNESS_MEMORY": "1024"})
    assert first == fingerprint("harness/debian12", "isolated", [vagrantfile], [box], {"HARNESS_MEMORY": "1024"})
    os.utime(box, ns=(0, box.stat().st_mtime_ns + 1))  # a box rebuilt under the same name
    rebuilt = fingerprint("harness/debian12", "isolated", [vagrantfile], [box], {"HARNESS_MEMORY": "1024"})
    vagrantfile.write_text("two")
    edited = fingerprint("harness/debian12", "isolated", [vagrantfile], [box], {"HARNESS_MEMORY": "1024"})
    bigger = fingerprint("harness/debian12", "isolated", [vagrantfile], [box], {"HARNESS_MEMORY": "2048"})
    assert len({first, rebuilt, edited, bigger}) == 4
    assert machine_env({"HARNESS_MEMORY": "1", "HARNESS_BOX_LINUX_MODERN": "b", "HARNESS_BOX_FREEBSD": "c",
                        "HARNESS_ISOLATED_ONLY": "1", "PATH": "/bin"}, "LINUX_MODERN") == {
        "HARNESS_MEMORY": "1", "HARNESS_BOX_LINUX_MODERN": "b"}


@needs_vagrant
def test_freebsd_provisioning_bootstraps_pkg_and_python_without_a_prompt():
    inline = {p["name"]: p["inline"] for p in vagrant_view()["freebsd"]["provisioners"]}["target"]
    lines = [line.strip() for line in inline.splitlines()]
    assert lines.index("export ASSUME_ALWAYS_YES=yes") < lines.index("pkg bootstrap -f") < lines.index(
        "pkg install -y python3")
    assert "ifconfig lo0 alias 127.0.0.2/32 up || true" in lines


@needs_vagrant
def test_every_machine_names_its_guest_so_vagrant_does_not_probe_for_it():
    # Unnamed, `vagrant up` runs some twenty SSH commands to guess the guest (~12 s under TCG).
    view = vagrant_view(HARNESS_MACOS_BOX="some/macos")
    assert {name: m["guest"] for name, m in view.items()} == {
        "linux-legacy": "debian", "linux-modern": "debian", "freebsd": "freebsd", "macos": "darwin"}
    # 127.0.0.2 on Linux's lo is the Vagrantfile's own check at every `up`: no first-boot copy of it.
    assert [p["name"] for p in view["linux-modern"]["provisioners"]] == ["loopback"]


def test_a_provider_networked_machine_is_refused_where_only_isolated_ones_may_boot(monkeypatch):
    monkeypatch.setenv("HARNESS_ISOLATED_ONLY", "1")
    freebsd = next(t for t in select_targets("freebsd"))
    assert freebsd.network == "provider"
    with pytest.raises(AgentError, match="HARNESS_ISOLATED_ONLY=1 forbids"):
        freebsd.up()  # refused before any vagrant command runs
    assert not freebsd.created


def test_suite_runs_with_only_isolated_machines_allowed():
    assert os.environ.get("HARNESS_ISOLATED_ONLY") == "1" or os.environ.get("HARNESS_SKIP_VM_TESTS") == "1", \
        "run the tests through scripts/test.sh, which sets HARNESS_ISOLATED_ONLY=1"


def test_the_vagrantfile_is_told_the_networking_the_harness_chose(monkeypatch):
    monkeypatch.delenv("HARNESS_VAGRANT_NETWORK", raising=False)
    machines = {m.name: m for m in load_machines()}
    assert VagrantTarget(machines["freebsd"]).vagrant.env["HARNESS_NETWORK_FREEBSD"] == "provider"
    modern = VagrantTarget(machines["linux-modern"])
    modern._use_box("harness/debian12")
    assert modern.vagrant.env["HARNESS_NETWORK_LINUX_MODERN"] == "isolated"
    assert modern.info.details["network"] == "isolated"


@needs_vagrant
def test_the_harness_starts_libvirtd_itself_and_stops_what_it_started(tmp_path):
    daemons = ["bash", str(ROOT / "vagrant" / "host-daemons.sh"), "status"]
    if os.geteuid() != 0 or subprocess.run(daemons, capture_output=True).returncode != 3:
        pytest.skip("needs root and the libvirt daemons stopped (another test or user runs them)")
    proc = subprocess.run([sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / "reuseport.yaml"),
                           "--targets", "freebsd", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # a named target that cannot run
    reason = json.loads((tmp_path / "results.json").read_text())["targets"][0]["reason"]
    assert "box generic/freebsd14 is not present" in reason  # libvirtd answered: the box is the reason now
    log = (tmp_path / "run.log").read_text()
    assert "starting libvirtd and virtlogd" in log and "stopping the libvirt daemons this run started" in log
    assert subprocess.run(daemons, capture_output=True).returncode == 3  # stopped again


def test_the_daemons_reaper_reaps_their_orphans_at_once_and_goes_with_the_last(tmp_path):
    # libvirtd double-forks QEMU, whose orphan init may reap seconds late (libvirt waits for it to vanish
    # at every save): under vagrant/reaper.py an orphan's parent is the reaper, which reaps it at once.
    told = tmp_path / "ppid"
    orphan = (f"import os, time; time.sleep(0.5); open({str(told)!r}, 'w').write(str(os.getppid()))")
    start = time.monotonic()
    reaper = subprocess.Popen([sys.executable, str(ROOT / "vagrant" / "reaper.py"), "sh", "-c",
                               f"{shlex.quote(sys.executable)} -c {shlex.quote(orphan)} & exit 3"],
                              preexec_fn=default_signals)
    assert reaper.wait(timeout=30) == 3  # the command's own status, once its orphan is gone too
    assert time.monotonic() - start >= 0.5  # it stayed for the orphan
    assert told.read_text() == str(reaper.pid)  # whose parent, once the shell had exited, was the reaper
