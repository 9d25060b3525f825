"""python-vagrant with what it lacks: timeouts, captured stderr, a kept environment.

python-vagrant runs every command through `_call_vagrant_command` /
`_run_vagrant_command` with no timeout, hides stderr, and its `env=` replaces
the whole environment. This subclass routes both through one bounded runner:
the full environment plus ours, the command in its own process group (killed
on timeout or abort), stderr kept for the run's log and for error messages.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Callable, Optional

# python-vagrant warns on stderr, at import, where no vagrant is on PATH (macOS, FreeBSD, containers);
# the targets' availability says so in its place, once per target.
logging.getLogger("vagrant").addHandler(logging.NullHandler())
import vagrant  # noqa: E402

from .. import statedir
from ..files import cache_dir
from ..resources import data_root, vagrant_file
from .base import AgentError
from .process import kill_group


def state_dir(target: str) -> Path:
    """Each machine's own Vagrant dotfile folder: its own lock, so parallel `up`s do not collide.
    In the project's `.harness/`, else the user's state folder (harness/statedir.py)."""
    return statedir.state_dir() / "vagrant" / target


def domain_prefix() -> str:
    """libvirt domain name prefix, unique per project (two clones never share a VM)."""
    digest = hashlib.sha256(str(statedir.owner()).encode()).hexdigest()[:8]  # as the Vagrantfile's default
    return os.environ.get("HARNESS_VAGRANT_PREFIX") or f"harness-{digest}-"


def vagrant_env(target: str, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VAGRANT_HOME", str(cache_dir() / "vagrant.d"))
    env.update({
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
        "VAGRANT_DOTFILE_PATH": str(state_dir(target) / ".vagrant"),
        "VAGRANT_CWD": str(data_root()),  # where the Vagrantfile is: the checkout, or the installed copy
        "HARNESS_VAGRANT_PREFIX": domain_prefix(),
    })
    env.update(extra or {})
    return env


class VagrantCommandError(AgentError):
    """A vagrant command failed or timed out; the message carries its stderr tail."""

    def __init__(self, message: str, stderr: str = "") -> None:
        tail = stderr.strip()[-1500:]
        super().__init__(f"{message}{': ' + tail if tail else ''}")
        self.stderr = stderr


def vagrant_installed() -> bool:
    return shutil.which("vagrant") is not None


def machine_readable_error(out: bytes) -> str:
    """With --machine-readable Vagrant reports errors on stdout as `ts,,error-exit,Class,message`."""
    for line in out.decode("utf-8", "replace").splitlines():
        parts = line.split(",", 4)
        if len(parts) == 5 and parts[2] == "error-exit":
            return parts[4].replace("\\n", " ").replace("%!(VAGRANT_COMMA)", ",")
    return ""


class TimedVagrant(vagrant.Vagrant):
    """One machine's Vagrant, every call bounded by `timeout` seconds."""

    def __init__(self, target: str, env: dict[str, str], log: Callable[[str], None]) -> None:
        super().__init__(root=str(data_root()), env=env)
        self.target = target
        self.log = log
        self.timeout = 120.0
        self._proc: Optional[subprocess.Popen] = None
        self._lock = threading.Lock()
        self.aborted = False

    def bounded(self, timeout: float) -> "TimedVagrant":
        """`v.bounded(30).status(name)`: the next calls get this timeout."""
        self.timeout = timeout
        return self

    def _call_vagrant_command(self, args) -> None:  # python-vagrant's hook
        self._run_bounded(args)

    def _run_vagrant_command(self, args) -> str:  # python-vagrant's hook
        return self._run_bounded(args)

    def _run_bounded(self, args) -> str:
        if self.aborted:
            raise VagrantCommandError(f"{self.target}: stopped")
        command = self._make_vagrant_command(args)
        self.log(f"[{self.target}] $ {' '.join(command)} (timeout {self.timeout:.0f} s)")
        with self._lock:
            self._proc = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
        proc = self._proc
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            out, err = proc.communicate()
            self._log_stderr(err)
            raise VagrantCommandError(f"`vagrant {' '.join(map(str, args[:2]))}` took more than {self.timeout:.0f} s",
                                      err.decode("utf-8", "replace")) from None
        finally:
            with self._lock:
                self._proc = None
        self._log_stderr(err)
        if proc.returncode != 0:
            what = "stopped" if self.aborted else f"failed (exit {proc.returncode})"
            raise VagrantCommandError(f"`vagrant {' '.join(str(a) for a in args if a)}` {what}",
                                      err.decode("utf-8", "replace") or machine_readable_error(out))
        return out.decode("utf-8", "replace")

    def _log_stderr(self, err: bytes) -> None:
        for line in err.decode("utf-8", "replace").splitlines():
            self.log(f"[{self.target}] stderr: {line}")

    def abort(self) -> None:
        """Kill the command in flight (from any thread) and refuse new ones."""
        self.aborted = True
        with self._lock:
            if self._proc is not None:
                kill_group(self._proc.pid)

    def box_add(self, name: str, provider: str, version: Optional[str] = None) -> None:
        """`vagrant box add NAME` from the catalogue (python-vagrant's wants a URL)."""
        self._run_bounded(["box", "add", name, "--provider", provider]
                          + (["--box-version", version] if version else []))


def virsh(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """`virsh -c qemu:///system ARGS`; FileNotFoundError or TimeoutExpired for the caller to judge.

    In a session of its own, so that a Ctrl-C meant for the harness never cuts a save or restore
    short: the harness itself decides what becomes of the machine."""
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def host_daemons(action: str, log: Callable[[str], None], timeout: float = 120) -> subprocess.CompletedProcess:
    """`vagrant/host-daemons.sh ACTION` (start or stop), each line it prints logged; TimeoutExpired
    for the caller to judge."""
    proc = subprocess.run(["bash", str(vagrant_file("host-daemons.sh")), action], capture_output=True, text=True,
                          timeout=timeout)
    for line in (proc.stdout + proc.stderr).splitlines():
        log(line)
    return proc
