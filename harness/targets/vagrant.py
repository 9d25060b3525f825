"""Vagrant targets: machines from vagrant/targets.yaml, reached over SSH on 127.0.0.1.

The lifecycle per run: prepare (the box: present, downloadable, or built here
from Debian packages; otherwise the target is unavailable), launch (the machine
an earlier run left running or saved, from its record, with no Vagrant command:
resumed if saved, rebuilt if its box or Vagrantfile changed; else `vagrant up`;
then one SSH connection: the guest prepared (guest.py), the agent started),
release (save, leave or destroy, per --save/--keep/--destroy). Every Vagrant or
virsh call has a timeout; its stderr goes to the run's log and into errors.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import yaml

from ..resources import shown, vagrant_file, vagrantfile
from . import keeper
from .base import AgentError, AgentSession, Availability, Target, TargetInfo
from .lifecycle import Lifecycle
from .registry import TargetSettings, TargetURL
from .vagrantcli import (
    TimedVagrant,
    VagrantCommandError,
    domain_prefix,
    host_daemons,
    state_dir,
    vagrant_env,
    vagrant_installed,
    virsh,
)
from .vmstate import RUNNING, SAVED, MachineRecord, Saver, box_files, fingerprint, machine_env, saver_for

if TYPE_CHECKING:
    from fabric import Connection

    from .ssh import SSHEndpoint

NETWORK_MODES = ("isolated", "provider")
# Set where no VM may reach beyond 127.0.0.1 (this project's own CI): a machine in provider
# networking is then refused before it boots.
ISOLATED_ONLY = "HARNESS_ISOLATED_ONLY"
BUILD_BOX = vagrant_file("build-box.sh")
HOST_DAEMONS = vagrant_file("host-daemons.sh")
SETUP_HOST = vagrant_file("setup-host.sh")


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
    doc = yaml.safe_load(vagrant_file("targets.yaml").read_text())
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
        return f"libvirt is not installed (on Debian, {shown(SETUP_HOST)} installs it)"
    except subprocess.TimeoutExpired:
        return f"libvirtd did not answer within {timeout:.0f} s"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"libvirtd is not running (start it with {shown(HOST_DAEMONS)} start): {last}"
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
        return (os.geteuid() == 0 and HOST_DAEMONS.exists() and shutil.which("libvirtd") is not None
                and shutil.which("bash") is not None)

    def acquire(self, log: Callable[[str], None]) -> Optional[str]:
        """None when libvirtd answers (started now if need be), else why not."""
        with self._lock:
            self._users += 1
            return self._answering(log)

    def ensure(self, log: Callable[[str], None]) -> Optional[str]:
        """As acquire, for a user that holds them already: a keeper may have stopped them meanwhile."""
        with self._lock:
            return self._answering(log)

    def _answering(self, log: Callable[[str], None]) -> Optional[str]:
        """None when libvirtd answers, started now if it did not and may be; else why not."""
        why = libvirt_reachable()
        if why is None or not self.can_start():
            return why
        log(f"starting libvirtd and virtlogd with {HOST_DAEMONS}")
        try:
            proc = host_daemons("start", log)
        except subprocess.TimeoutExpired:
            return "libvirtd did not start within 120 s"
        self._started = proc.returncode == 0 or self._started
        return libvirt_reachable() if proc.returncode == 0 else (
            f"could not start libvirtd: {(proc.stderr or proc.stdout).strip()[-300:]}")

    def adopt(self) -> None:
        """The daemons a keeper was to stop (a run had started them) are now this run's to stop."""
        with self._lock:
            self._started = True

    @property
    def started_here(self) -> bool:
        return self._started

    def release(self, machines_left: bool, log: Callable[[str], None]) -> None:
        with self._lock:
            self._users -= 1
            self._machines_left = self._machines_left or machines_left
            if self._users == 0 and self._started and not self._machines_left:
                log(f"stopping the libvirt daemons this run started ({HOST_DAEMONS} stop)")
                host_daemons("stop", log)
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
        self.created = False  # by this run's `vagrant up`
        self.resumed = False  # from its saved state by this run
        self.reached = False  # up in this run: resumed, or answered over SSH
        self.healthy = False  # the agent ran to its end in this run
        self.adopted = False  # left running by an earlier run (--save-after), taken over from its keeper
        self._stopped = threading.Event()
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
            return Availability(False, f"vagrant is not installed (on Debian, {shown(SETUP_HOST)} installs it)")
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
        kept = self._recorded_box()
        if kept:  # a machine left running or saved with this box: no box to look for
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
            record = MachineRecord.read(self.record_path)
            if facts["state"] != "running" and record and record.state == SAVED and self.saver.state() == SAVED:
                facts["state"] = "saved (the next run resumes it)"
            elif record and record.keeper and keeper.is_keeper(record.keeper, self.record_path):
                facts["state"] += f" (left by --save-after: keeper pid {record.keeper} saves it unless a run comes)"
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
        self.forget()
        self.phase("vagrant up (a minute or so under software emulation)")
        timeout = self.lifecycle.boot_timeout or self.machine.boot_timeout
        self.vagrant.bounded(timeout).up(vm_name=self.name, provider=self.machine.provider)

    def destroy(self) -> None:
        """`vagrant destroy` (which drops a saved state too); then, with libvirt, any domain of this
        machine Vagrant did not know of (an `up` killed before Vagrant recorded the machine leaves one)."""
        self.vagrant.aborted = False
        self._take_over()  # a keeper must not save what is being destroyed
        self.vagrant.bounded(180).destroy(vm_name=self.name)
        if self.machine.provider == "libvirt" and self.domain in leftover_domains():
            self.log(f"[{self.name}] removing libvirt domain {self.domain} unknown to Vagrant")
            remove_domain(self.domain)
        self.known_hosts.unlink(missing_ok=True)
        self.forget()

    @property
    def domain(self) -> str:
        """The libvirt domain's name (vagrant-libvirt's default_prefix + the machine's name)."""
        return f"{domain_prefix()}{self.name}"

    @property
    def saver(self) -> Saver:
        return saver_for(self.machine.provider, self.domain, self.vagrant, self.name,
                         lambda line: self.log(f"[{self.name}] {line}"))

    def save(self) -> None:
        """Save the machine to disk (memory included) if it runs; recorded as saved for the next run."""
        record = MachineRecord.read(self.record_path)
        state = self.saver.state()
        if state == RUNNING:
            self.phase("saving the machine to disk")
            self.saver.save()
            state = self.saver.state()
        if state != SAVED or record is None:
            raise VagrantCommandError(f"{self.name}: not saved (the machine is {state}"
                                      f"{', and the harness has no record of it' if record is None else ''})")
        record.state = SAVED
        record.write(self.record_path)
        self.log(f"[{self.name}] saved to disk; the next run resumes it")

    @property
    def known_hosts(self):
        """The machine's host key, recorded at the first connection after it was created: any other
        key later (a process that took the forwarded port first, posing as the VM) is refused."""
        return state_dir(self.name) / "known_hosts"

    def endpoint(self) -> "SSHEndpoint":
        """Where `vagrant ssh-config` says the machine is; recorded for the next runs."""
        from .ssh import SSHEndpoint  # paramiko: loaded only when a VM is reached

        found = SSHEndpoint.from_ssh_config(self.vagrant.bounded(60).ssh_config(vm_name=self.name), self.name)
        MachineRecord(fingerprint=self._fingerprint(), box=self.box or "", state=RUNNING, host=found.host,
                      port=found.port or 22, user=found.user or "vagrant", key_file=found.key_file or "",
                      details=self.info.details).write(self.record_path)
        return replace(found, host_keys="accept-new", known_hosts=(str(self.known_hosts),))

    def ready(self) -> "Connection":
        """An SSH connection to the machine, up by whichever way is quickest: the recorded one
        (running, or resumed from disk), else `vagrant up`. The only connection of the run."""
        from .ssh import connect

        self.phase("checking the machine")
        self._take_over()
        self._daemons_answer()
        conn = self._recorded_machine()
        if conn is None:
            self.up()
            self._check_stopped()
            conn = connect(self.endpoint())
        self.reached = True
        return conn

    def launch(self, needs_root: bool = False) -> AgentSession:
        """The guest prepared and the agent started there, in one SSH exec when it is installed (guest.py)."""
        from . import guest
        from .ssh import close_connection

        try:
            conn = self.ready()
            if self._stopped.is_set():
                close_connection(conn)
                self._check_stopped()
            self.phase("preparing the guest, starting the agent")
            report, session = guest.start(conn, self.machine.python, clean=self._clean, compiled=self._compiled(),
                                          on_close=self._agent_ended)
            self._note(report)
            if self._stopped.is_set():  # Ctrl-C came while it started: the runner never sees this agent
                session.close()
                self._check_stopped()
            return session
        except VagrantCommandError as exc:
            raise AgentError(f"{self.name}: {exc}") from None

    def bring_up(self) -> None:
        """`harness up`: the machine up (resumed, reused or booted), its guest prepared, ready for runs."""
        from . import guest
        from .ssh import close_connection

        conn = self.ready()
        try:
            self._check_stopped()
            self.phase("preparing the guest")
            self._note(guest.prepare(conn, self.machine.python, clean=self._clean, compiled=self._compiled()))
        finally:
            close_connection(conn)
        self.healthy = True

    @property
    def _clean(self) -> bool:
        """Whether leftovers of earlier runs are removed: on a machine one of them may have left something in."""
        return self.resumed or self.adopted

    def _take_over(self) -> None:
        """A machine an earlier run left running for a while (--save-after) becomes this run's: its keeper
        is stopped, and the libvirt daemons it would have stopped are this run's to stop."""
        if self.machine.provider != "libvirt":
            return
        try:
            taken = keeper.take_over(self.record_path, lambda line: self.log(f"[{self.name}] {line}"))
        except TimeoutError as exc:
            raise AgentError(f"{self.name}: {exc}") from None
        if taken is None:
            return
        self.adopted = True
        if taken.daemons:
            DAEMONS.adopt()

    def _daemons_answer(self) -> None:
        """libvirtd answering still: a keeper that saved the machine before this run took it over may
        have stopped the daemons it had started."""
        why = DAEMONS.ensure(self.log) if self.machine.provider == "libvirt" and self._holds_daemons else None
        if why:
            raise AgentError(f"{self.name}: {why}")

    def _compiled(self) -> str:
        """The SHA-256 of the agent's bytecode on the guest, as its install reported it."""
        record = MachineRecord.read(self.record_path)
        return record.compiled if record else ""

    def _note(self, report) -> None:
        """What the preparation did, in the log, the reports' details and (a new bytecode) the record."""
        if report.compiled:
            record = MachineRecord.read(self.record_path)
            if record is not None:
                record.compiled = report.compiled
                record.write(self.record_path)
        self.info.details["clock"] = report.clock_note()
        self.info.details["started"] = "resumed from disk" if self.resumed else (
            "booted" if self.created else "reused, left running by an earlier run" if self.adopted
            else "reused running")
        self.log(f"[{self.name}] guest: clock {report.clock_note()}; agent {report.agent}"
                 + (f"; {report.leftovers} leftovers of earlier runs removed" if report.leftovers else ""))

    def _agent_ended(self, status: int) -> None:
        self.healthy = status == 0

    def netns(self) -> bool:
        """Per-scenario network namespaces on Linux guests, as on `local` (the agent runs as root)."""
        return self.machine.system.split()[0] == "linux"

    def _check_stopped(self) -> None:
        if self._stopped.is_set():
            raise AgentError(f"{self.name}: stopped")

    # -- the fast paths: a machine left running or saved, reached without Vagrant (Ruby) at all ---

    @property
    def record_path(self) -> Path:
        return state_dir(self.name) / "machine.json"

    def _fingerprint(self) -> str:
        """What the machine is made of: a changed box, Vagrantfile, targets.yaml or setting voids it."""
        env = self.vagrant.env
        return fingerprint(self.box or "", self.network, [vagrantfile(), vagrant_file("targets.yaml")],
                           box_files(Path(env["VAGRANT_HOME"]), self.box or ""),
                           machine_env(env, self.machine.env_suffix))

    def _recorded_box(self) -> Optional[str]:
        """The box of the machine an earlier run left running or saved, as it recorded it (with
        its version and source, for the reports)."""
        record = MachineRecord.read(self.record_path)
        local = self.machine.local_box if self.machine.provider == "libvirt" else None
        if record is None or record.box not in (self.box, local):
            return None  # another box was chosen: its fingerprint differs, the machine is rebuilt
        if not box_files(Path(self.vagrant.env["VAGRANT_HOME"]), record.box):
            return None  # the box is gone: look for it (and rebuild the machine) as for a new one
        self.info.details.update(record.details)
        return record.box

    def forget(self) -> None:
        self.record_path.unlink(missing_ok=True)

    def _recorded_machine(self) -> Optional["Connection"]:
        """The machine an earlier run left, reached straight over SSH (its host key checked against
        the one recorded when it was created), resumed first if it was saved; rebuilt (destroyed
        here, None) if what it is made of changed. None also sends launch the slow way (`vagrant
        status`, `vagrant ssh-config`) where the record is stale."""
        from .ssh import SSHEndpoint, connect

        record = MachineRecord.read(self.record_path)
        if record is None:
            return None
        if record.fingerprint != self._fingerprint():
            self.log(f"[{self.name}] the box, the Vagrantfile, targets.yaml or a setting changed since the "
                     f"machine was made: rebuilding it")
            self.phase("destroying the machine: its box or Vagrantfile changed")
            self.destroy()
            return None
        if record.state == SAVED:
            self.phase("resuming the saved machine")
            start = time.monotonic()
            self.resumed = self.saver.resume()  # True: from here on this run owns a running machine
            if not self.resumed:
                self.log(f"[{self.name}] recorded as saved, but there is no saved state: the slow way")
                self.forget()
                return None
            self.reached = True  # a whole machine again, whatever comes next: saved again if interrupted
            self.log(f"[{self.name}] resumed from disk in {time.monotonic() - start:.1f} s")
            record.state = RUNNING
            record.write(self.record_path)
        endpoint = SSHEndpoint(host=record.host, port=record.port, user=record.user, key_file=record.key_file,
                               host_keys="strict", known_hosts=(str(self.known_hosts),))
        try:
            conn = self._connect_retrying(connect, endpoint, 30 if self.resumed else 0)
        except AgentError as exc:
            if self.resumed:
                raise  # a resumed machine that does not answer: an error, and release destroys it
            self.log(f"[{self.name}] not reused without Vagrant: {exc}")
            self.forget()
            return None
        if not self.resumed:
            self.log(f"[{self.name}] running, reached over ssh without Vagrant: reused")
        return conn

    def _connect_retrying(self, connect, endpoint: "SSHEndpoint", patience: float) -> "Connection":
        """A just-resumed guest may take a moment to answer: retry refused connections for `patience` s."""
        deadline = time.monotonic() + patience
        while True:
            try:
                return connect(endpoint)
            except AgentError as exc:
                if time.monotonic() >= deadline or "CHANGED" in str(exc) or self._stopped.is_set():
                    raise
                self.log(f"[{self.name}] not answering yet: {exc}")
                time.sleep(0.5)

    def release(self, ok: bool, interrupted: bool = False) -> None:
        action = self.lifecycle.decide(owned=self.created or self.resumed or self.adopted, reached=self.reached,
                                       healthy=self.healthy, ok=ok, interrupted=interrupted)
        self.vagrant.aborted = False
        if action == "save" and self.lifecycle.save_after and not interrupted and self.machine.provider == "libvirt":
            action = self._save_later()
        if action == "save":
            try:
                self.save()
            except VagrantCommandError as exc:
                self.log(f"[{self.name}] {exc}; destroying it instead")
                action = "destroy"
        if action == "destroy":
            try:
                self.destroy()
            except VagrantCommandError as exc:
                self.log(f"[{self.name}] destroy failed: {exc}")
        if self._holds_daemons:  # a saved machine needs no daemon; a running one does
            self._holds_daemons = False
            running = action in ("leave", "kept") and (self.reached or self.created or self.lifecycle.keep)
            DAEMONS.release(machines_left=running, log=self.log)

    def _save_later(self) -> str:
        """Leave the machine running for --save-after seconds, a keeper to save it then: `kept`; `save`
        (at once) where it cannot be."""
        try:
            pid = keeper.spawn(self.record_path, self.domain, self.lifecycle.save_after, DAEMONS.started_here)
        except (OSError, RuntimeError, TimeoutError) as exc:
            self.log(f"[{self.name}] cannot leave it running for later: {exc}; saving it now")
            return "save"
        self.log(f"[{self.name}] left running; keeper pid {pid} saves it in {self.lifecycle.save_after:g} s "
                 f"unless a run takes it over")
        return "kept"

    def abort(self) -> None:
        self._stopped.set()
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
    """Stop and undefine a libvirt domain a crashed run left behind, with its storage and saved state."""
    for args in (["destroy", name], ["undefine", name, "--managed-save", "--remove-all-storage"]):
        virsh(*args, timeout=timeout)
