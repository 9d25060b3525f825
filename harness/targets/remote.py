"""`ssh://[USER@]HOST[:PORT][?key=PATH&sudo=1&python=PATH&...]`: a machine that already exists.

A FreeBSD server, a Mac, an old Linux box: anything with sshd and a Python
(2.6+). HOST may be an alias of ~/.ssh/config, whose HostName, User, Port,
IdentityFile and ProxyJump apply, with the SSH agent and default keys, as for
`ssh`. Host keys are checked against known_hosts; an unknown or changed key is
refused (`host_key=accept-new` adds unknown ones). Before the agent starts, one
probe finds the Python, the user and whether sudo works without a password:
actors with another user need root, reached by `sudo -n` when the login user
is not root. Every failure is that target's infrastructure error with the
reason; other targets carry on. The agent is removed afterwards.

Parameters: key (identity file), sudo=1 (always run the agent as root through
sudo), python (interpreter path), host_key (strict | accept-new), known_hosts
(file instead of ~/.ssh/known_hosts), name (the target's name in reports;
default USER@HOST:PORT as written), netns=0 (no per-scenario network namespace
on a Linux host where the agent runs as root), system (what the host is, e.g.
freebsd-14: where it cannot be reached, reports show what scenarios expect of
that system, marked as not measured).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..scenario.selector import parse_system
from .base import AgentError, AgentSession, Availability, Target, TargetInfo
from .registry import TargetSettings, TargetURL

PARAMS = ("key", "sudo", "python", "host_key", "known_hosts", "name", "netns", "system")
PYTHONS = ("python3", "python", "python2")
OLDEST_PYTHON = (2, 6)
TRUE, FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")


@dataclass(frozen=True)
class HostFacts:
    """What the probe found on the host before the agent starts."""

    system: str
    uid: int
    python: str
    sudo: Optional[str]  # "ok", sudo's complaint, or None when not asked


def flag(url: TargetURL, name: str, default: bool) -> bool:
    value = url.params.get(name)
    if value is None:
        return default
    if value.lower() not in TRUE + FALSE:
        raise ValueError(f"{url.text}: {name}={value} is neither 1 nor 0")
    return value.lower() in TRUE


def catalogue(settings: TargetSettings) -> list[Target]:
    """Remote hosts have no catalogue: each is named by its URL."""
    return []


def from_url(url: TargetURL, settings: TargetSettings) -> Target:
    url.only(*PARAMS)
    if not url.host or url.path not in ("", "/"):
        raise ValueError(f"{url.text}: expected ssh://[USER@]HOST[:PORT][?key=PATH&sudo=1&python=PATH]")
    host_key = url.params.get("host_key", "strict")
    if host_key not in ("strict", "accept-new"):
        raise ValueError(f"{url.text}: host_key={host_key} is neither strict nor accept-new")
    system = url.params.get("system")
    if system:
        family, version = parse_system(system)
        system = f"{family} {version}"
    return RemoteTarget(url, host_key, system or "")


def probe_script(python: Optional[str], want_root: bool) -> str:
    """One round trip: system, uid, the Python and its version, and whether sudo -n works."""
    candidates = " ".join(shlex.quote(p) for p in ((python,) if python else PYTHONS))
    version = shlex.quote('import sys; sys.stdout.write("%d.%d" % tuple(sys.version_info[:2]))')
    script = f"""LC_ALL=C; export LC_ALL
echo "system=$(uname -s)"
echo "uid=$(id -u)"
for p in {candidates}; do
  if command -v "$p" >/dev/null 2>&1; then
    echo "python=$(command -v "$p")"
    echo "version=$("$p" -c {version} 2>&1 | head -n 1)"
    break
  fi
done
"""
    if want_root:
        script += """if [ "$(id -u)" != 0 ]; then
  if out=$(sudo -n true 2>&1); then echo "sudo=ok"; else echo "sudo=$(echo "$out" | head -n 1)"; fi
fi
"""
    return script


def read_facts(output: str, where: str, python: Optional[str], want_root: bool) -> HostFacts:
    """The probe's key=value lines as facts, or AgentError saying what is missing."""
    facts = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    if not facts.get("python"):
        looked = python or f"{', '.join(PYTHONS)} in the login PATH"
        raise AgentError(f"no Python on {where} (looked for {looked}): install one, or give ?python=/path/to/python")
    version = facts.get("version", "")
    try:
        have = tuple(int(part) for part in version.split("."))
    except ValueError:
        raise AgentError(f"Python at {facts['python']} on {where} does not run: {version or 'no output'}") from None
    if have < OLDEST_PYTHON:
        raise AgentError(f"Python {version} at {facts['python']} on {where} is too old: the agent needs 2.6 or "
                         "newer (give ?python=/path/to/another)")
    uid = int(facts.get("uid") or -1)
    sudo = facts.get("sudo")
    if want_root and uid != 0 and sudo != "ok":
        raise AgentError(f"sudo -n fails on {where} ({sudo or 'no answer'}): scenarios with actors of another "
                         "user need root; log in as root, or give the user passwordless sudo")
    return HostFacts(system=facts.get("system", ""), uid=uid, python=facts["python"], sudo=sudo)


class RemoteTarget(Target):
    """A host reached over SSH; nothing about it is known until launch connects."""

    def __init__(self, url: TargetURL, host_key: str, system: str = "") -> None:
        from .ssh import SSHEndpoint

        key = url.params.get("key")
        known_hosts = url.params.get("known_hosts")
        self.endpoint = SSHEndpoint(
            host=url.host, port=url.port, user=url.user, key_file=str(Path(key).expanduser()) if key else None,
            ssh_config=True, host_keys=host_key,
            known_hosts=(str(Path(known_hosts).expanduser()),) if known_hosts else ())
        self.python = url.params.get("python")
        self.always_sudo = flag(url, "sudo", False)
        self.use_netns = flag(url, "netns", True)
        self.info = TargetInfo(url.params.get("name") or url.authority, "ssh", f"ssh to {url.authority}",
                               details={"host": url.authority}, system=system)
        self.facts: Optional[HostFacts] = None
        self.sudo = False

    def availability(self) -> Availability:
        return Availability(True)  # reaching the host is launch's work; its failures are errors with the reason

    def launch(self, needs_root: bool = False) -> AgentSession:
        from .ssh import SSHSession, close_connection, connect, run_command, sh

        want_root = needs_root or self.always_sudo
        self.phase("connecting over ssh")
        conn = connect(self.endpoint)
        try:
            status, out, err = run_command(conn, sh(probe_script(self.python, want_root)))
            self.facts = read_facts(out, str(self.endpoint), self.python, want_root)
        except AgentError:
            close_connection(conn)
            raise
        self.sudo = want_root and self.facts.uid != 0
        self.info.details.update(python=self.facts.python, user_id=str(self.facts.uid),
                                 sudo="yes" if self.sudo else "no")
        self.phase("starting the agent over ssh")
        return SSHSession(conn, self.facts.python, self.sudo)

    def netns(self) -> bool:
        """Per-scenario namespaces on a Linux host where the agent runs as root, as `local` has."""
        root = self.facts is not None and (self.facts.uid == 0 or self.sudo)
        return self.use_netns and root and self.facts.system == "Linux"
