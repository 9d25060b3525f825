"""Reach a machine over SSH (fabric + paramiko) and run the agent there: connect, push, exec, read, kill.

Connections are fabric's: `~/.ssh/config` (Host aliases, HostName, User, Port,
IdentityFile, ProxyJump), the SSH agent and the default keys work as they do
for `ssh`. Host keys are checked against known_hosts as OpenSSH does; fabric
alone would accept any key, so every hop gets our policy: an unknown key is
refused unless the caller opted in to `accept-new`, a changed key is always
refused. Vagrant machines, fresh on 127.0.0.1 at every boot, skip the check.

One SSH exec per target per run. The agent goes into a new private folder
(mktemp -d, umask 077) by the same exec channel that writes it, so no SFTP
server is needed; the command line holds only our own quoted paths, never
anything from a scenario (the plan travels on stdin). Stderr is drained by its
own thread so a chatty agent can never block the stdout we read. Old OpenSSH
servers (before 7.2) do not know the rsa-sha2 signatures paramiko prefers: a
refused login from one is retried once with those switched off.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import select
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import paramiko
from fabric import Config, Connection
from paramiko.ssh_exception import NoValidConnectionsError

from .base import AGENT_PATH, AgentError, AgentSession

CONNECT_TIMEOUT = 20.0
OLD_OPENSSH = re.compile(r"OpenSSH_(?:[0-6]\.\d+|7\.[01])(?!\d)")
RSA_SHA2 = {"pubkeys": ["rsa-sha2-512", "rsa-sha2-256"]}
# What paramiko raises when a connection breaks: EOFError too, from a transport whose reader
# thread saw the end (open_session on a dropped connection).
LOST = (OSError, EOFError, paramiko.SSHException)
_APPEND_LOCK = threading.Lock()
# paramiko's transport thread logs a refused handshake with a traceback; without a handler of its own that
# reaches stderr (logging's last resort) in the middle of the progress display. The same failure comes
# back as an exception, with its reason, where it is reported.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class SSHEndpoint:
    """Where and as whom to connect.

    `host` may be an alias of ~/.ssh/config when `ssh_config` is on; what is
    None comes from that file or from OpenSSH's defaults. `host_keys`:
    `strict` (known_hosts only), `accept-new` (unknown keys are added to the
    first known_hosts file; changed keys refused), `ignore` (fresh VMs).
    """

    host: str
    port: Optional[int] = None
    user: Optional[str] = None
    key_file: Optional[str] = None
    ssh_config: bool = False
    host_keys: str = "ignore"
    known_hosts: tuple[str, ...] = ()  # instead of the ssh_config/OpenSSH defaults

    @classmethod
    def from_ssh_config(cls, text: str, host_alias: str) -> "SSHEndpoint":
        """Parse `vagrant ssh-config` output with paramiko's own SSHConfig parser."""
        config = paramiko.SSHConfig.from_text(text).lookup(host_alias)
        keys = config.get("identityfile") or []
        if not keys:
            raise AgentError(f"ssh-config for {host_alias} names no identity file")
        return cls(host=config.get("hostname", "127.0.0.1"), port=int(config.get("port", 22)),
                   user=config.get("user", "vagrant"), key_file=keys[0])

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}" + (f":{self.port}" if self.port else "")


def fingerprint(key: paramiko.PKey) -> str:
    """`ssh-ed25519 SHA256:...`, as ssh-keygen -l shows it."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


class UnknownHostKey(AgentError):
    pass


@dataclass
class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Asked by paramiko only for hosts it has no key of; a changed key never gets here."""

    mode: str
    files: list[Path] = field(default_factory=list)

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        where = ", ".join(map(str, self.files)) or "known_hosts"
        if self.mode != "accept-new":
            raise UnknownHostKey(
                f"host key of {hostname} ({fingerprint(key)}) is not in {where}: check it and add it "
                f"(ssh-keyscan, or log in once with ssh), or opt in with ?host_key=accept-new")
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.files:
            append_known_host(self.files[0], hostname, key)


def append_known_host(path: Path, hostname: str, key: paramiko.PKey) -> None:
    """One line appended, as OpenSSH does: the rest of the file is kept as it is."""
    with _APPEND_LOCK:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "a", encoding="ascii") as out:
            out.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def known_hosts_files(endpoint: SSHEndpoint, ssh_config: paramiko.SSHConfigDict) -> list[Path]:
    """The user's known_hosts files: as given, else ssh_config's UserKnownHostsFile, else OpenSSH's default."""
    if endpoint.known_hosts:
        return [Path(p).expanduser() for p in endpoint.known_hosts]
    named = ssh_config.get("userknownhostsfile")
    if named:
        return [Path(p).expanduser() for p in named.split()]
    return [Path("~/.ssh/known_hosts").expanduser(), Path("~/.ssh/known_hosts2").expanduser()]


def _hops(conn: Connection) -> list[Connection]:
    """The connection and every ProxyJump gateway before it."""
    out = [conn]
    while isinstance(out[-1].gateway, Connection):
        out.append(out[-1].gateway)
    return out


def _guard_host_keys(conn: Connection, endpoint: SSHEndpoint) -> None:
    """fabric accepts any host key by default: give every hop the known_hosts check."""
    for hop in _hops(conn):
        if endpoint.host_keys == "ignore":
            hop.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            continue
        files = known_hosts_files(endpoint, hop.ssh_config)
        if not endpoint.known_hosts and os.path.exists("/etc/ssh/ssh_known_hosts"):
            hop.client.load_system_host_keys("/etc/ssh/ssh_known_hosts")
        for path in files:
            if path.exists():
                hop.client.get_host_keys().load(str(path))
        hop.client.set_missing_host_key_policy(KnownHostsPolicy(endpoint.host_keys, files))


def connection(endpoint: SSHEndpoint, disabled: Optional[dict] = None) -> Connection:
    """A fabric Connection for the endpoint, not yet open."""
    config = Config(lazy=not endpoint.ssh_config)  # lazy: no ssh_config file is read
    kwargs: dict = {"banner_timeout": CONNECT_TIMEOUT, "auth_timeout": CONNECT_TIMEOUT}
    if endpoint.key_file:
        kwargs["key_filename"] = [endpoint.key_file]
    if not endpoint.ssh_config:  # exactly the key given: no agent, no ~/.ssh/id_*
        kwargs.update(allow_agent=False, look_for_keys=False)
    if disabled:
        kwargs["disabled_algorithms"] = disabled
    conn = Connection(endpoint.host, user=endpoint.user, port=endpoint.port, config=config,
                      connect_timeout=int(CONNECT_TIMEOUT), connect_kwargs=kwargs)
    _guard_host_keys(conn, endpoint)
    return conn


def close_connection(conn: Connection) -> None:
    for hop in _hops(conn):  # fabric leaves gateways open
        hop.close()


def connect(endpoint: SSHEndpoint) -> Connection:
    """An open connection, or AgentError saying why not (unreachable, host key, login refused)."""
    conn = connection(endpoint)
    try:
        try:
            conn.open()
        except paramiko.AuthenticationException:
            transport = conn.client.get_transport()
            if not (transport and OLD_OPENSSH.search(transport.remote_version or "")):
                raise
            close_connection(conn)
            conn = connection(endpoint, disabled=RSA_SHA2)  # OpenSSH < 7.2: plain ssh-rsa signatures
            conn.open()
    except AgentError:
        close_connection(conn)
        raise
    except paramiko.BadHostKeyException as exc:
        close_connection(conn)
        raise AgentError(
            f"host key of {endpoint} CHANGED ({fingerprint(exc.key)}, known: {fingerprint(exc.expected_key)}): "
            f"refusing to connect; if the machine was reinstalled, remove the old key (ssh-keygen -R) and check "
            f"the new one") from None
    except paramiko.AuthenticationException as exc:
        close_connection(conn)
        raise AgentError(f"ssh login as {conn.user} refused by {endpoint}: {exc}") from None
    except NoValidConnectionsError as exc:  # every address refused: say why, once each
        close_connection(conn)
        why = "; ".join(sorted({e.strerror or str(e) for e in exc.errors.values()}))
        raise AgentError(f"cannot reach {endpoint} over ssh: {why}") from None
    except (OSError, EOFError, paramiko.SSHException) as exc:
        close_connection(conn)
        raise AgentError(f"cannot reach {endpoint} over ssh: {exc or type(exc).__name__}") from None
    return conn


def run_command(conn: Connection, command: str, stdin: bytes = b"", timeout: float = 30) -> tuple[int, str, str]:
    """Run `command` on the far end (its login shell), feed stdin, wait: (status, stdout, stderr)."""
    try:
        channel = conn.transport.open_session(timeout=CONNECT_TIMEOUT)
        channel.settimeout(timeout)
        channel.exec_command(command)
        if stdin:
            channel.sendall(stdin)
        channel.shutdown_write()
        out, err = channel.makefile("rb").read(), channel.makefile_stderr("rb").read()
        status = channel.recv_exit_status()
    except LOST as exc:
        raise AgentError(f"ssh command failed: {exc or type(exc).__name__}") from None
    return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def sh(script: str) -> str:
    """`sh -c '...'`: the same shell whatever the login shell (tcsh too)."""
    return f"sh -c {shlex.quote(script)}"


def push_agent(conn: Connection) -> str:
    """Write the agent into a new private folder; returns that folder."""
    script = ('umask 077; d=$(mktemp -d "${TMPDIR:-/tmp}/harness.XXXXXXXX") || exit 1; '
              'cat > "$d/agent.py" && echo "$d"')
    status, out, err = run_command(conn, sh(script), AGENT_PATH.read_bytes())
    folder = out.strip()
    if status != 0 or not folder.startswith("/"):
        raise AgentError(f"cannot copy the agent to the target (exit {status}): {err.strip() or out.strip()}")
    return folder


def agent_command(python: str, path: str, sudo: bool) -> str:
    """It first prints its pid (so we can kill it), then execs the agent (standard library only: -S
    spares the interpreter the site-packages it never uses)."""
    agent = shlex.quote(path)
    run = f"{'sudo -n ' if sudo else ''}{shlex.quote(python)} -S {agent}"
    return sh(f'echo "harness-pid $$"; exec {run}')


class AgentNotStarted(AgentError):
    """A `command` that printed its prelude and ended without starting the agent (by design or not)."""

    def __init__(self, prelude: str, stderr: str) -> None:
        super().__init__((prelude.strip() or stderr.strip() or "no output")[-300:])
        self.prelude = prelude


class SSHSession(AgentSession):
    """The remote agent behind one exec channel of an open connection, which the session then owns.

    `agent`: the path of an agent already installed on the far end (see guest.py); without it the
    agent is copied into a private folder, removed again at close. `command`: a command of the
    caller's that prints lines of its own (kept in `prelude`), then `harness-pid PID` and execs the
    agent, or ends without starting it: AgentNotStarted, the connection left open for another try.
    `on_close` gets the exit status. Any other failure to start closes the connection.
    """

    def __init__(self, conn: Connection, python: str, sudo: bool,
                 on_close: Callable[[int], None] = lambda status: None, agent: Optional[str] = None,
                 command: Optional[str] = None) -> None:
        self.conn, self.sudo, self._on_close = conn, sudo, on_close
        self._stderr = bytearray()
        self.folder: Optional[str] = None
        self.prelude: list[str] = []
        super().__init__()
        try:
            if agent is None and command is None:
                self.folder = push_agent(conn)
            self.channel = conn.transport.open_session(timeout=CONNECT_TIMEOUT)
            self.channel.exec_command(command or agent_command(python, agent or f"{self.folder}/agent.py", sudo))
        except (AgentError, *LOST) as exc:
            close_connection(conn)
            raise AgentError(f"cannot start the agent over ssh: {exc}") from None
        self._drain = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drain.start()
        try:
            self.remote_pid = self._read_pid(prelude=command is not None)
        except AgentNotStarted:
            self.channel.close()
            raise
        except AgentError:
            close_connection(conn)
            raise

    def _drain_stderr(self) -> None:
        while True:
            try:
                chunk = self.channel.recv_stderr(65536)
            except LOST:
                return
            if not chunk:
                return
            self._stderr += chunk
            del self._stderr[:-65536]  # keep the tail

    def _read_pid(self, prelude: bool) -> Optional[int]:
        while True:
            line = self.read_line(CONNECT_TIMEOUT)
            if line is not None and line.startswith("harness-pid "):
                return int(line.split()[1])
            if line is not None and prelude:
                self.prelude.append(line)
                continue
            if line is None and prelude:
                self._drain.join(timeout=2)
                raise AgentNotStarted("\n".join(self.prelude), self.stderr_tail())
            raise AgentError(f"remote shell did not start the agent: {line!r}; stderr: {self.stderr_tail()}")

    def _read_chunk(self, wait: float) -> Optional[bytes]:
        if not self.channel.recv_ready():
            select.select([self.channel], [], [], min(wait, 1.0))
            if not self.channel.recv_ready() and not self.channel.closed and not self.channel.eof_received:
                return None
        try:
            chunk = self.channel.recv(65536)
        except LOST as exc:
            raise AgentError(f"ssh connection lost: {exc}") from None
        if not chunk:
            self._drain.join(timeout=2)  # stderr complete too, for the error message
        return chunk

    def send(self, data: bytes) -> None:
        try:
            self.channel.sendall(data)
            self.channel.shutdown_write()
        except LOST as exc:
            raise AgentError(f"cannot send the plan over ssh: {exc}") from None

    def kill(self) -> None:
        """TERM the agent (it takes its scenario's processes down), then KILL its process group.

        A fresh exec channel does it, since the agent's own channel may be stuck.
        """
        if self.remote_pid is None:
            return
        # The shell's own kill, with `--` before the group: procps-ng 4's /usr/bin/kill (Debian 12) takes
        # `kill -KILL -PID PID` for a group that no longer exists as every process (kill -1), which as
        # root through sudo took the whole guest down.
        pid = self.remote_pid
        script = (f"kill -s TERM {pid} 2>/dev/null; sleep 1; kill -s KILL -- -{pid} 2>/dev/null; "
                  f"kill -s KILL {pid} 2>/dev/null; true")
        try:
            run_command(self.conn, f"sudo -n {sh(script)}" if self.sudo else sh(script), timeout=10)
        except AgentError:
            pass  # the connection itself is gone: so is the session, and sshd hangs the agent up

    def close(self) -> int:
        status = -1
        finished = self._lines.eof or self.ended  # the agent said its last word: it is exiting
        if not self.channel.status_event.wait(5 if finished else 0):
            self.kill()
        if self.channel.status_event.wait(5):
            status = self.channel.recv_exit_status()
        self._drain.join(timeout=2)
        if self.folder:
            try:
                run_command(self.conn, f"rm -rf {shlex.quote(self.folder)}", timeout=10)
            except AgentError:
                pass
        close_connection(self.conn)
        self._on_close(status)
        return status

    def stderr_tail(self, limit: int = 2000) -> str:
        return bytes(self._stderr[-limit:]).decode("utf-8", "replace").strip()
