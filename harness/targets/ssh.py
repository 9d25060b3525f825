"""Run the agent on a remote machine over SSH (paramiko): push, exec, read, kill.

One SSH exec per target per run. The agent is copied by SFTP into a fresh
private directory; the command line holds only our own paths, quoted, never
anything from a scenario (the plan travels on stdin). Stderr is drained by its
own thread so a chatty agent can never block the stdout we read. Old OpenSSH
servers (before 7.2) do not know the rsa-sha2 signatures paramiko prefers; the
server's banner is read first and those are switched off for them.
"""
from __future__ import annotations

import re
import secrets
import select
import shlex
import socket
import threading
from dataclasses import dataclass
from typing import Optional

import paramiko

from .base import AGENT_PATH, AgentError, AgentSession

CONNECT_TIMEOUT = 20.0
OLD_OPENSSH = re.compile(r"OpenSSH_(?:[0-6]\.\d+|7\.[01])(?!\d)")
RSA_SHA2 = {"pubkeys": ["rsa-sha2-512", "rsa-sha2-256"]}


@dataclass(frozen=True)
class SSHEndpoint:
    """Where and as whom to connect, e.g. from `vagrant ssh-config` (always 127.0.0.1 here)."""

    host: str
    port: int
    user: str
    key_file: str

    @classmethod
    def from_ssh_config(cls, text: str, host_alias: str) -> "SSHEndpoint":
        """Parse `vagrant ssh-config` output with paramiko's own SSHConfig parser."""
        config = paramiko.SSHConfig.from_text(text).lookup(host_alias)
        keys = config.get("identityfile") or []
        if not keys:
            raise AgentError(f"ssh-config for {host_alias} names no identity file")
        return cls(host=config.get("hostname", "127.0.0.1"), port=int(config.get("port", 22)),
                   user=config.get("user", "vagrant"), key_file=keys[0])


def server_banner(endpoint: SSHEndpoint, timeout: float) -> str:
    """The SSH identification line the server sends first, e.g. `SSH-2.0-OpenSSH_6.0p1 Debian-4`."""
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock:
        data = b""
        while b"\n" not in data and len(data) < 1024:
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
    for line in data.decode("ascii", "replace").splitlines():
        if line.startswith("SSH-"):
            return line.strip()
    raise AgentError(f"{endpoint.host}:{endpoint.port} sent no SSH banner")


def connect(endpoint: SSHEndpoint, timeout: float = CONNECT_TIMEOUT) -> paramiko.SSHClient:
    """Key-only login; ~/.ssh/config and agents are never consulted."""
    try:
        banner = server_banner(endpoint, timeout)
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a fresh VM on 127.0.0.1 each time
        client.connect(
            endpoint.host, port=endpoint.port, username=endpoint.user, key_filename=endpoint.key_file,
            timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, allow_agent=False,
            look_for_keys=False, disabled_algorithms=RSA_SHA2 if OLD_OPENSSH.search(banner) else None,
        )
    except (OSError, paramiko.SSHException) as exc:
        raise AgentError(f"ssh to {endpoint.user}@{endpoint.host}:{endpoint.port} failed: {exc}") from None
    return client


def push_agent(client: paramiko.SSHClient) -> str:
    """Copy the agent into a new 0700 directory under /tmp; returns that directory."""
    folder = f"/tmp/harness-{secrets.token_hex(8)}"
    try:
        with client.open_sftp() as sftp:
            sftp.mkdir(folder, 0o700)
            sftp.put(str(AGENT_PATH), f"{folder}/agent.py")
    except (OSError, paramiko.SSHException) as exc:
        raise AgentError(f"cannot copy the agent to the target: {exc}") from None
    return folder


def agent_command(python: str, folder: str, sudo: bool) -> str:
    """`sh -c '...'` for any login shell (tcsh too); it first prints its pid so we can kill it."""
    agent = shlex.quote(f"{folder}/agent.py")
    run = f"{'sudo -n ' if sudo else ''}{shlex.quote(python)} {agent}"
    script = f'echo "harness-pid $$"; exec {run}'
    return f"sh -c {shlex.quote(script)}"


class SSHSession(AgentSession):
    """The remote agent behind one exec channel."""

    def __init__(self, endpoint: SSHEndpoint, python: str, sudo: bool) -> None:
        self.endpoint, self.sudo = endpoint, sudo
        self.client = connect(endpoint)
        self.folder = push_agent(self.client)
        self._stderr = bytearray()
        super().__init__()
        try:
            self.channel = self.client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
            self.channel.exec_command(agent_command(python, self.folder, sudo))
        except (OSError, paramiko.SSHException) as exc:
            self.client.close()
            raise AgentError(f"cannot start the agent over ssh: {exc}") from None
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        self.remote_pid = self._read_pid()

    def _drain_stderr(self) -> None:
        while True:
            try:
                chunk = self.channel.recv_stderr(65536)
            except (OSError, paramiko.SSHException):
                return
            if not chunk:
                return
            self._stderr += chunk
            del self._stderr[:-65536]  # keep the tail

    def _read_pid(self) -> Optional[int]:
        line = self.read_line(CONNECT_TIMEOUT)
        if not line or not line.startswith("harness-pid "):
            raise AgentError(f"remote shell did not start the agent: {line!r}; stderr: {self.stderr_tail()}")
        return int(line.split()[1])

    def _read_chunk(self, wait: float) -> Optional[bytes]:
        if not self.channel.recv_ready():
            select.select([self.channel], [], [], min(wait, 1.0))
            if not self.channel.recv_ready() and not self.channel.closed and not self.channel.eof_received:
                return None
        try:
            chunk = self.channel.recv(65536)
        except (OSError, paramiko.SSHException) as exc:
            raise AgentError(f"ssh connection lost: {exc}") from None
        if not chunk:
            self._drain.join(timeout=2)  # stderr complete too, for the error message
        return chunk

    def send(self, data: bytes) -> None:
        try:
            self.channel.sendall(data)
            self.channel.shutdown_write()
        except (OSError, paramiko.SSHException) as exc:
            raise AgentError(f"cannot send the plan over ssh: {exc}") from None

    def kill(self) -> None:
        """TERM the agent (it takes its scenario's processes down), then KILL its process group.

        A fresh exec channel does it, since the agent's own channel may be stuck.
        """
        if self.remote_pid is None:
            return
        pid = self.remote_pid
        sudo = "sudo -n " if self.sudo else ""
        script = f"{sudo}kill -TERM {pid} 2>/dev/null; sleep 1; {sudo}kill -KILL -{pid} {pid} 2>/dev/null; true"
        try:
            _, out, _ = self.client.exec_command(f"sh -c {shlex.quote(script)}", timeout=10)
            out.channel.recv_exit_status()
        except (OSError, paramiko.SSHException):
            pass  # the connection itself is gone: so is the session, and sshd hangs the agent up

    def close(self) -> int:
        status = -1
        if not (self._lines.eof and self.channel.status_event.wait(5)):
            self.kill()
        if self.channel.status_event.wait(5):
            status = self.channel.recv_exit_status()
        self._drain.join(timeout=2)
        try:
            self.client.exec_command(f"rm -rf {shlex.quote(self.folder)}", timeout=10)[1].channel.recv_exit_status()
        except (OSError, paramiko.SSHException):
            pass
        self.client.close()
        return status

    def stderr_tail(self, limit: int = 2000) -> str:
        return bytes(self._stderr[-limit:]).decode("utf-8", "replace").strip()
