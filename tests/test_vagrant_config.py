"""Vagrant provider pieces that need no VM: the machine list, lifecycle policy, error texts."""
from __future__ import annotations

import pytest

from harness.targets import select_targets
from harness.targets.vagrant import VagrantTarget, load_machines
from harness.targets.vagrant_commands import Lifecycle
from harness.targets.vagrantcli import domain_prefix, machine_readable_error, vagrant_env


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


@pytest.mark.parametrize("keep, policy, created, ok, interrupted, expected", [
    (False, "always", True, False, False, True),
    (False, "always", False, True, False, False),   # reused: not ours to destroy
    (True, "always", True, True, False, False),     # --keep
    (False, "on-success", True, False, False, False),  # a failing machine is kept to look at
    (False, "on-success", True, True, False, True),
    (False, "on-success", True, False, True, True),   # Ctrl-C destroys what the run created
    (False, "never", True, True, True, False),
])
def test_destroy_policy(keep, policy, created, ok, interrupted, expected):
    assert Lifecycle(keep=keep, destroy=policy).should_destroy(created, ok, interrupted) is expected


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
