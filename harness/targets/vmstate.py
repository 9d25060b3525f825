"""What the harness remembers of a machine between runs, and saving it to disk and back.

The record (one JSON file per machine) holds the SSH endpoint, the box, the
machine's state as the harness left it (running or saved) and a fingerprint of
everything the machine was built from: the box (name, and size and time of its
files), the Vagrantfile, vagrant/targets.yaml and the environment variables the
Vagrantfile reads. A record whose fingerprint no longer matches means the
machine is rebuilt, never reused.

Saving keeps the guest's memory on disk and stops its process: libvirt's
managed save (`virsh managedsave`; `virsh start` restores it; the same state
vagrant-libvirt's `suspend_mode = "managedsave"` uses, so `vagrant up`
resumes it too), VirtualBox's savestate (`vagrant suspend` / `vagrant resume`).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..files import atomic_write
from ..resources import shown, vagrant_file
from .vagrantcli import VagrantCommandError, virsh

if TYPE_CHECKING:
    from .vagrantcli import TimedVagrant

RUNNING, SAVED = "running", "saved"
# What the Vagrantfile reads besides each target's HARNESS_<KIND>_<TARGET> (those are in the machine's
# own environment): a change to any of them makes a different machine.
VAGRANTFILE_ENV = ("HARNESS_MEMORY", "HARNESS_CPUS", "HARNESS_LIBVIRT_DRIVER", "HARNESS_QEMU_TB_SIZE",
                   "HARNESS_SSH_INSERT_KEY", "HARNESS_VAGRANT_PROVIDER", "HARNESS_VAGRANT_PREFIX")


@dataclass
class MachineRecord:
    fingerprint: str
    box: str
    state: str  # running or saved
    host: str
    port: int
    user: str
    key_file: str
    details: dict[str, Any] = field(default_factory=dict)  # for the reports: box version, source
    compiled: str = ""  # SHA-256 of the agent's bytecode installed on the guest (guest.py checks it)
    keeper: int = 0  # pid of the keeper that saves the running machine after an idle time (keeper.py)
    keeper_daemons: bool = False  # that keeper also stops the libvirt daemons (a run had started them)

    @classmethod
    def read(cls, path: Path) -> Optional["MachineRecord"]:
        """The record, or None when there is none or it cannot be read (then it is no record)."""
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        atomic_write(path, json.dumps(asdict(self)).encode())


def box_files(vagrant_home: Path, box: str) -> list[Path]:
    """The files of every version and provider of `box` in Vagrant's box store."""
    folder = vagrant_home / "boxes" / box.replace("/", "-VAGRANTSLASH-")
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def fingerprint(box: str, network: str, sources: list[Path], box_store: list[Path], env: dict[str, str]) -> str:
    """A digest of what the machine is made of; any change gives another."""
    digest = hashlib.sha256(f"{box}\n{network}\n".encode())
    for path in sources:
        digest.update(path.read_bytes())
    for path in box_store:  # a rebuilt or re-added box: new files, new sizes and times
        st = path.stat()
        digest.update(f"{path.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    for name in sorted(env):
        digest.update(f"{name}={env[name]}\n".encode())
    return digest.hexdigest()


def machine_env(env: dict[str, str], target_suffix: str) -> dict[str, str]:
    """The environment variables of `env` the Vagrantfile reads for this machine."""
    return {k: v for k, v in env.items()
            if k in VAGRANTFILE_ENV or (k.startswith("HARNESS_") and k.endswith(f"_{target_suffix}"))}


class Saver:
    """Saves a machine to disk and resumes it; one per provider."""

    def state(self) -> str:
        """running, saved, off, or absent."""
        raise NotImplementedError

    def save(self) -> None:
        raise NotImplementedError

    def resume(self) -> bool:
        """Resume the saved machine; False when there was no saved state to resume."""
        raise NotImplementedError


def domain_state(dominfo: str) -> str:
    """running, saved or off, from `virsh dominfo`'s `State:` and `Managed save:` lines."""
    facts = dict(line.split(":", 1) for line in dominfo.splitlines() if ":" in line)
    state, saved = facts.get("State", "").strip(), facts.get("Managed save", "").strip()
    if state.startswith(("running", "paused", "in shutdown", "blocked")):
        return RUNNING
    return SAVED if saved == "yes" else "off"


class LibvirtSaver(Saver):
    """libvirt's managed save, through virsh (no Ruby start-up)."""

    def __init__(self, domain: str, log: Callable[[str], None]) -> None:
        self.domain, self.log = domain, log

    def _virsh(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        self.log(f"$ virsh {' '.join(args)} (timeout {timeout:.0f} s)")
        try:
            proc = virsh(*args, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise VagrantCommandError(f"`virsh {args[0]}` took more than {timeout:.0f} s") from None
        except FileNotFoundError:
            raise VagrantCommandError(f"virsh is not installed (on Debian, {shown(vagrant_file('setup-host.sh'))} "
                                      "installs it)") from None
        for line in proc.stderr.splitlines():
            self.log(f"virsh stderr: {line}")
        return proc

    def state(self) -> str:
        """From `virsh dominfo`: its `Managed save` line says whether a saved state exists. (`domstate
        --reason` says `shut off (saved)` only to the libvirtd that saved it: one started later, as
        every run that starts the daemons does, says `shut off (unknown)` of the same saved machine.)"""
        proc = self._virsh("dominfo", self.domain, timeout=30)
        if proc.returncode != 0:
            return "absent"
        return domain_state(proc.stdout)

    def save(self) -> None:
        proc = self._virsh("managedsave", self.domain, timeout=300)
        if proc.returncode != 0:
            raise VagrantCommandError(f"`virsh managedsave {self.domain}` failed", proc.stderr)

    def resume(self) -> bool:
        if self.state() != SAVED:
            return False
        proc = self._virsh("start", self.domain, timeout=120)
        if proc.returncode != 0:
            raise VagrantCommandError(f"`virsh start {self.domain}` (restoring its saved state) failed", proc.stderr)
        return True


class VagrantSaver(Saver):
    """Through Vagrant: VirtualBox's savestate (`vagrant suspend`), resumed by `vagrant resume`."""

    def __init__(self, vagrant: "TimedVagrant", name: str) -> None:
        self.vagrant, self.name = vagrant, name

    def state(self) -> str:
        statuses = self.vagrant.bounded(60).status(self.name)
        state = statuses[0].state if statuses else "unknown"
        return {"running": RUNNING, "saved": SAVED, "not_created": "absent"}.get(state, "off")

    def save(self) -> None:
        self.vagrant.bounded(300).suspend(vm_name=self.name)

    def resume(self) -> bool:
        if self.state() != SAVED:
            return False
        self.vagrant.bounded(300).resume(vm_name=self.name)
        return True


def saver_for(provider: str, domain: str, vagrant: "TimedVagrant", name: str,
              log: Callable[[str], None]) -> Saver:
    return LibvirtSaver(domain, log) if provider == "libvirt" else VagrantSaver(vagrant, name)

