"""What the tests share: where things are, running the `harness` command, reading its results.

Test modules import these names (`from conftest import harness, ...`); pytest puts
this folder on sys.path.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from harness.targets.ssh import SSHEndpoint

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "scenarios" / "reuseport.yaml"
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="local targets need root for network namespaces")
SSHD = "/usr/sbin/sshd"


def default_signals() -> None:
    """For a child a test may signal (preexec_fn): the signals at their default dispositions. A suite
    started with SIGINT ignored (`bash -c 'bash scripts/test.sh &'`, nohup, some CI runners) hands the
    ignored disposition down, and a child that inherited it never sees the test's Ctrl-C."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)


def harness(*args: str, env: Optional[dict] = None, cwd: Path = ROOT, timeout: float = 120
            ) -> subprocess.CompletedProcess:
    """`harness ARGS` in a fresh interpreter, as a user runs it; output captured as text."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})},
                          preexec_fn=default_signals)


def harness_in_background(*args: str) -> subprocess.Popen:
    """`harness ARGS` started, for a test that signals it (default dispositions: default_signals)."""
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)


def results(out: Path) -> dict:
    """The results document a run wrote into the folder `out`."""
    return json.loads((out / "results.json").read_text())


def page_data(html: str) -> dict:
    """The JSON island of a report page: every step outcome its script draws."""
    start = html.index('<script type="application/json" id="data">') + len('<script type="application/json" id="data">')
    return json.loads(html[start:html.index("</script>", start)])


def grid_rows(text: str) -> dict[str, list[str]]:
    """A table as a command prints it into a pipe (plain columns, two spaces or more apart): its cells,
    by the first."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if "  " in line.strip()]
    return {cells[0]: cells for cells in rows}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A private sshd on 127.0.0.1 that lets root (and users a test makes) in with a throw-away key."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder
        for name in ("host", "client", "stranger"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        shutil.copy(folder / "client.pub", folder / "authorized_keys")
        self.port = free_port()
        (folder / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.port}\nHostKey {folder / 'host'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'} .ssh/authorized_keys\nPidFile {folder / 'sshd.pid'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n")
        host_key = (folder / "host.pub").read_text().split()[:2]
        self.known_hosts = folder / "known_hosts"
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {' '.join(host_key)}\n")
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
        self.log = folder / "sshd.log"
        self.proc = subprocess.Popen([SSHD, "-D", "-f", str(folder / "sshd_config"), "-E", str(self.log)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)

    def endpoint(self, user: str = "root") -> SSHEndpoint:
        return SSHEndpoint(host="127.0.0.1", port=self.port, user=user, key_file=str(self.dir / "client"))

    def url(self, user: str = "root", **params: str) -> str:
        query = {"key": str(self.dir / "client"), "known_hosts": str(self.known_hosts), **params}
        return f"ssh://{user}@127.0.0.1:{self.port}?" + "&".join(f"{k}={v}" for k, v in query.items())

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """One test sshd for the whole session (tests that use it need root and openssh-server)."""
    if not (os.path.exists(SSHD) and IS_ROOT):
        pytest.skip("needs root and openssh-server (scripts/setup.sh installs it)")
    server = Server(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()
