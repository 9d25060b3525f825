"""Vagrant targets: machines from vagrant/targets.yaml, reached over SSH on 127.0.0.1.

The lifecycle per run: prepare (the box: present, downloadable, or built here
from Debian packages; otherwise the target is unavailable), launch (`vagrant up`
unless the machine already runs, checked live, then the agent over SSH),
release (destroy what this run created, per --keep/--destroy). Every Vagrant
call has a timeout; its stderr goes to the run's log and into errors.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional

import yaml

from ..files import atomic_write
from .base import AgentError, AgentSession, Availability, Target, TargetInfo
from .registry import TargetSettings, TargetURL
from .vagrant_commands import Lifecycle
from .vagrantcli import (
    PROJECT_ROOT,
    VAGRANT_DIR,
    TimedVagrant,
    VagrantCommandError,
    domain_prefix,
    state_dir,
    vagrant_env,
    vagrant_installed,
    virsh,
)

if TYPE_CHECKING:
    from .ssh import SSHEndpoint

TARGETS_FILE = VAGRANT_DIR / "targets.yaml"
NETWORK_MODES = ("isolated", "provider")
# Set where no VM may reach beyond 127.0.0.1 (this project's own CI): a machine in provider
# networking is then refused before it boots.
ISOLATED_ONLY = "HARNESS_ISOLATED_ONLY"
BUILD_BOX = VAGRANT_DIR / "build-box.sh"
HOST_DAEMONS = VAGRANT_DIR / "host-daemons.sh"


@dataclass(frozen=True)
class Machine:
    """One entry of vagrant/targets.yaml."""

    name: str
    box: Optional[str]
    description: str
    python: str
    ssh_port: int
    provider: str
    boot_timeout: float
    system: str  # the system it stands for, e.g. `freebsd 14`
    box_version: Optional[str] = None
    local_box: Optional[str] = None
    opt_in: bool = False
    box_env: Optional[str] = None
    network: str = "provider"  # for `box`; a local_box is always isolated
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def env_suffix(self) -> str:
        return self.name.upper().replace("-", "_")

    def chosen_box(self) -> Optional[str]:
        return os.environ.get(self.box_env) if self.box_env else self.box

    def network_mode(self, box: Optional[str]) -> str:
        """isolated or provider for the machine with this box, as the Vagrantfile decides it."""
        mode = (os.environ.get(f"HARNESS_NETWORK_{self.env_suffix}") or os.environ.get("HARNESS_VAGRANT_NETWORK")
                or ("isolated" if box and box == self.local_box else self.network))
        if mode not in NETWORK_MODES:
            raise ValueError(f"{self.name}: network must be one of {', '.join(NETWORK_MODES)}, not {mode!r}")
        return mode


def load_machines() -> list[Machine]:
    doc = yaml.safe_load(TARGETS_FILE.read_text())
    defaults = doc.get("defaults") or {}
    provider = os.environ.get("HARNESS_VAGRANT_PROVIDER") or defaults.get("provider", "libvirt")
    boot = float(os.environ.get("HARNESS_BOOT_TIMEOUT") or defaults.get("boot_timeout", 600))
    known = {"box", "description", "python", "ssh_port", "box_version", "local_box", "opt_in", "box_env", "system",
             "network"}
    return [
        Machine(name=name, box=spec.get("box"), description=spec.get("description", name),
                python=spec.get("python", "python3"), ssh_port=int(spec["ssh_port"]), provider=provider,
                boot_timeout=boot, system=spec["system"], box_version=spec.get("box_version"),
                local_box=spec.get("local_box"), opt_in=bool(spec.get("opt_in")), box_env=spec.get("box_env"),
                network=spec.get("network", "provider"), extra={k: v for k, v in spec.items() if k not in known})
        for name, spec in (doc.get("targets") or {}).items()
    ]


def libvirt_reachable(timeout: float = 10) -> Optional[str]:
    """None if libvirtd answers, else why not."""
    try:
        proc = virsh("version", timeout=timeout)
    except FileNotFoundError:
        return "libvirt is not installed (scripts/setup.sh installs it)"
    except subprocess.TimeoutExpired:
        return f"libvirtd did not answer within {timeout:.0f} s"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"libvirtd is not running (start it with vagrant/host-daemons.sh start): {last}"
    return None


class LibvirtDaemons:
    """libvirtd and virtlogd where nothing runs them (no systemd): started by the first VM target
    that needs them (vagrant/host-daemons.sh), stopped again after the last one is done, if this
    run started them and no machine is left running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._started = False
        self._machines_left = False

    @staticmethod
    def can_start() -> bool:
        return os.geteuid() == 0 and HOST_DAEMONS.exists() and shutil.which("libvirtd") is not None

    def acquire(self, log: Callable[[str], None]) -> Optional[str]:
        """None when libvirtd answers (started now if need be), else why not."""
        with self._lock:
            self._users += 1
            if libvirt_reachable() is None:
                return None
            log(f"starting libvirtd and virtlogd with {HOST_DAEMONS}")
            try:
                proc = subprocess.run(["bash", str(HOST_DAEMONS), "start"], capture_output=True, text=True,
                                      timeout=120)
            except subprocess.TimeoutExpired:
                return "libvirtd did not start within 120 s"
            for line in (proc.stdout + proc.stderr).splitlines():
                log(line)
            self._started = proc.returncode == 0 or self._started
            return libvirt_reachable() if proc.returncode == 0 else (
                f"could not start libvirtd: {(proc.stderr or proc.stdout).strip()[-300:]}")

    def release(self, machines_left: bool, log: Callable[[str], None]) -> None:
        with self._lock:
            self._users -= 1
            self._machines_left = self._machines_left or machines_left
            if self._users == 0 and self._started and not self._machines_left:
                log(f"stopping the libvirt daemons this run started ({HOST_DAEMONS} stop)")
                subprocess.run(["bash", str(HOST_DAEMONS), "stop"], capture_output=True, timeout=120)
                self._started = False


DAEMONS = LibvirtDaemons()


class VagrantTarget(Target):
    """A Vagrant machine; one instance per run and target."""

    def __init__(self, machine: Machine, lifecycle: Lifecycle = Lifecycle(),
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.machine = machine
        self.lifecycle = lifecycle
        self.log = log
        self.box: Optional[str] = machine.chosen_box()
        self.created = False
        self.info = TargetInfo(name=machine.name, provider=f"vagrant/{machine.provider}",
                               description=machine.description,
                               details={"box": self.box or "", "network": machine.network_mode(self.box)},
                               system=machine.system)
        self._vagrant: Optional[TimedVagrant] = None
        self._holds_daemons = False

    @property
    def network(self) -> str:
        """The networking the machine gets with the box chosen so far (isolated or provider)."""
        return self.machine.network_mode(self.box)

    @property
    def vagrant(self) -> TimedVagrant:
        if self._vagrant is None:
            extra = {f"HARNESS_SSH_PORT_{self.machine.env_suffix}": str(self.machine.ssh_port),
                     f"HARNESS_PYTHON_{self.machine.env_suffix}": self.machine.python}
            if self.box:
                extra[f"HARNESS_BOX_{self.machine.env_suffix}"] = self.box
            if self.machine.box_env and self.box:
                extra[self.machine.box_env] = self.box
            extra[f"HARNESS_NETWORK_{self.machine.env_suffix}"] = self.network
            self._vagrant = TimedVagrant(self.name, vagrant_env(self.name, extra), self.log)
        return self._vagrant

    # -- availability and the box ---------------------------------------------------------------

    def availability(self) -> Availability:
        if self.machine.opt_in and not self.box:
            return Availability(False, f"opt-in: set {self.machine.box_env} to a box name "
                                       "(macOS guests are licensed only on Apple hardware)")
        if not vagrant_installed():
            return Availability(False, "vagrant is not installed (scripts/setup.sh installs it)")
        if self.machine.provider == "libvirt" and not DAEMONS.can_start():
            why = libvirt_reachable()  # not ours to start (not root, no libvirt here): say why
            if why:
                return Availability(False, why)
        return Availability(True)

    def present_boxes(self) -> dict[str, str]:
        """Box name -> version, for this provider."""
        boxes = self.vagrant.bounded(60).box_list()
        return {b.name: b.version or "" for b in boxes if b.provider in (None, self.machine.provider)}

    def prepare(self) -> Availability:
        """libvirtd answering (started if need be), and a box: present, else downloaded, else built
        locally; otherwise unavailable, with the reason."""
        if self.machine.provider == "libvirt":
            self.phase("checking libvirtd")
            self._holds_daemons = True
            why = DAEMONS.acquire(self.log)
            if why:
                return Availability(False, why)
        kept = self._kept_box()
        if kept:  # a machine left running with this box: no box to look for
            return self._use_box(kept, self.info.details.get("box_version", ""),
                                 built_here="box_source" in self.info.details)
        self.phase("checking the box")
        try:
            present = self.present_boxes()
        except VagrantCommandError as exc:
            return Availability(False, f"cannot list Vagrant boxes: {exc}")
        local = self.machine.local_box if self.machine.provider == "libvirt" else None
        if self.box in present:
            return self._use_box(self.box, present[self.box])
        if local and local in present:
            return self._use_box(local, present[local], built_here=True)
        self.phase(f"downloading box {self.box}")
        try:
            self.vagrant.bounded(300).box_add(self.box, self.machine.provider, self.machine.box_version)
            return self._use_box(self.box, self.present_boxes().get(self.box, ""))
        except VagrantCommandError as exc:
            download_error = str(exc)
        if local:
            built = self._build_local_box(local)
            if built is None:
                return self._use_box(local, self.present_boxes().get(local, ""), built_here=True)
            return Availability(False, f"box {self.box} is not present and cannot be downloaded, and building "
                                       f"{local} failed: {built}")
        return Availability(False, f"box {self.box} is not present and cannot be downloaded ({download_error})")

    def _use_box(self, box: str, version: str = "", built_here: bool = False) -> Availability:
        if box != self.box:
            self.box = box
            self._vagrant = None  # its environment names the box
        self.info.details["box"] = box
        self.info.details["network"] = self.network
        self.info.details["box_version"] = version or "unversioned"
        if built_here:
            self.info.details["box_source"] = "built on this machine from Debian packages (vagrant/build-box.sh)"
        return Availability(True)

    def _build_local_box(self, box: str) -> Optional[str]:
        """Run vagrant/build-box.sh; None on success, else the reason."""
        self.log(f"[{self.name}] building box {box} with {BUILD_BOX}")
        self.phase(f"building box {box} from Debian packages (a few minutes, once)")
        try:
            proc = subprocess.run(["bash", str(BUILD_BOX)], env=self.vagrant.env, capture_output=True, text=True,
                                  timeout=1800)
        except subprocess.TimeoutExpired:
            return "vagrant/build-box.sh took more than 30 minutes"
        for line in (proc.stdout + proc.stderr).splitlines():
            self.log(f"[{self.name}] build-box: {line}")
        return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-1000:]

    def describe(self) -> dict[str, str]:
        """Box, whether it is present, and the machine's live state, for `harness targets` (when available)."""
        facts = {"box": self.box or "(none)", "network": self.network, "box present": "?", "state": "?"}
        try:
            present = self.present_boxes()
            facts["box present"] = "yes" if self.box in present else (
                f"no (local {self.machine.local_box}: yes)" if self.machine.local_box in present else "no")
            facts["state"] = self.state()
        except VagrantCommandError as exc:
            facts["state"] = f"unknown: {exc}"
        return facts

    # -- machine lifecycle ----------------------------------------------------------------------

    def state(self) -> str:
        """Live `vagrant status` of this machine (running, shutoff, not_created...)."""
        statuses = self.vagrant.bounded(60).status(self.name)
        return statuses[0].state if statuses else "unknown"

    def up(self) -> None:
        """Bring the machine up unless it already runs (then it is reused, not ours to destroy)."""
        if self.network == "provider" and os.environ.get(ISOLATED_ONLY) == "1":
            raise AgentError(f"{self.name}: box {self.box} would get provider networking (beyond 127.0.0.1), "
                             f"which {ISOLATED_ONLY}=1 forbids here")
        if self.state() == "running":
            self.log(f"[{self.name}] already running: reused")
            return
        self.created = True
        self.known_hosts.unlink(missing_ok=True)  # a new machine, a new host key: trusted on first use
        self._forget()
        self.phase("vagrant up (a minute or so under software emulation)")
        timeout = self.lifecycle.boot_timeout or self.machine.boot_timeout
        self.vagrant.bounded(timeout).up(vm_name=self.name, provider=self.machine.provider)

    def destroy(self) -> None:
        """`vagrant destroy`; then, with libvirt, any domain of this machine Vagrant did not know of
        (an `up` killed before Vagrant recorded the machine leaves one)."""
        self.vagrant.aborted = False
        self.vagrant.bounded(180).destroy(vm_name=self.name)
        if self.machine.provider == "libvirt" and f"{domain_prefix()}{self.name}" in leftover_domains():
            self.log(f"[{self.name}] removing libvirt domain {domain_prefix()}{self.name} unknown to Vagrant")
            remove_domain(f"{domain_prefix()}{self.name}")
        self.known_hosts.unlink(missing_ok=True)
        self._forget()

    @property
    def known_hosts(self):
        """The machine's host key, recorded at the first connection after it was created: any other
        key later (a process that took the forwarded port first, posing as the VM) is refused."""
        return state_dir(self.name) / "known_hosts"

    def endpoint(self) -> "SSHEndpoint":
        from .ssh import SSHEndpoint  # paramiko: loaded only when a VM is reached

        found = SSHEndpoint.from_ssh_config(self.vagrant.bounded(60).ssh_config(vm_name=self.name), self.name)
        self._remember(found)
        return replace(found, host_keys="accept-new", known_hosts=(str(self.known_hosts),))

    def launch(self, needs_root: bool = False) -> AgentSession:
        from .ssh import SSHSession, connect

        try:
            self.phase("checking the machine")
            conn = self._still_running()
            if conn is None:
                self.up()
                conn = connect(self.endpoint())
            self.phase("starting the agent over ssh")
            return SSHSession(conn, python=self.machine.python, sudo=needs_root)
        except VagrantCommandError as exc:
            raise AgentError(f"{self.name}: {exc}") from None

    # -- the warm path: a machine left running, reached without starting Vagrant (Ruby) at all ---

    @property
    def endpoint_cache(self):
        return state_dir(self.name) / "endpoint.json"

    def _fingerprint(self) -> str:
        """What the cached endpoint depends on: a changed box, Vagrantfile or targets.yaml voids it."""
        digest = hashlib.sha256(f"{self.box}\n{self.network}\n".encode())
        for path in (PROJECT_ROOT / "Vagrantfile", TARGETS_FILE):
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def _remember(self, endpoint: "SSHEndpoint") -> None:
        record = {"fingerprint": self._fingerprint(), "box": self.box, "details": self.info.details,
                  "host": endpoint.host, "port": endpoint.port, "user": endpoint.user, "key_file": endpoint.key_file}
        atomic_write(self.endpoint_cache, json.dumps(record).encode())

    def _kept_box(self) -> Optional[str]:
        """With --keep, the box of the machine an earlier run left running, as it recorded it
        (with its version and source, for the reports)."""
        if not self.lifecycle.keep or not self.endpoint_cache.exists():
            return None
        try:
            record = json.loads(self.endpoint_cache.read_text())
        except (OSError, ValueError):
            return None
        self.info.details.update(record.get("details") or {})
        return record.get("box")

    def _forget(self) -> None:
        self.endpoint_cache.unlink(missing_ok=True)

    def _still_running(self):
        """With --keep, a machine an earlier run left running is reached straight over SSH (its host
        key checked against the one recorded when it was created); None sends launch the slow way
        (`vagrant status`, `vagrant ssh-config`), which also forgets a stale record."""
        from .ssh import SSHEndpoint, connect

        if not self.lifecycle.keep or not self.endpoint_cache.exists():
            return None
        try:
            record = json.loads(self.endpoint_cache.read_text())
            record.pop("box", None)
            record.pop("details", None)
            if record.pop("fingerprint") != self._fingerprint():
                raise ValueError("the box, the Vagrantfile or targets.yaml changed")
            endpoint = SSHEndpoint(**record, host_keys="strict", known_hosts=(str(self.known_hosts),))
            conn = connect(endpoint)
        except (OSError, ValueError, TypeError, AgentError) as exc:
            self.log(f"[{self.name}] not reused without Vagrant: {exc}")
            self._forget()
            return None
        self.log(f"[{self.name}] running, reached over ssh without Vagrant: reused")
        return conn

    def release(self, ok: bool, interrupted: bool = False) -> None:
        if self.lifecycle.should_destroy(self.created, ok, interrupted):
            try:
                self.destroy()
                self.created = False
            except VagrantCommandError as exc:
                self.log(f"[{self.name}] destroy failed: {exc}")
        if self._holds_daemons:
            self._holds_daemons = False
            DAEMONS.release(machines_left=self.created or self.lifecycle.keep, log=self.log)

    def abort(self) -> None:
        if self._vagrant is not None:
            self._vagrant.abort()

    @property
    def opt_in(self) -> bool:
        return self.machine.opt_in


def catalogue(settings: TargetSettings) -> list[Target]:
    """The provider's named targets: one per machine of vagrant/targets.yaml."""
    lifecycle = settings.options.get("vagrant") or Lifecycle()
    return [VagrantTarget(m, lifecycle, settings.log) for m in load_machines()]


def from_url(url: TargetURL, settings: TargetSettings) -> Target:
    """`vagrant://NAME` is the machine NAME of vagrant/targets.yaml."""
    url.only()
    machines = {t.name: t for t in catalogue(settings)}
    if url.host not in machines or url.user or url.port or url.path not in ("", "/"):
        raise ValueError(f"{url.text}: expected vagrant://NAME, NAME one of {', '.join(machines)}")
    return machines[url.host]


def leftover_domains(timeout: float = 30) -> list[str]:
    """libvirt domains of this checkout (by name prefix), whatever Vagrant remembers of them."""
    try:
        proc = virsh("list", "--all", "--name", timeout=timeout)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    prefix = domain_prefix()
    return [name for name in proc.stdout.split() if name.startswith(prefix)]


def remove_domain(name: str, timeout: float = 60) -> None:
    """Stop and undefine a libvirt domain a crashed run left behind, with its storage."""
    for args in (["destroy", name], ["undefine", name, "--remove-all-storage"]):
        virsh(*args, timeout=timeout)
