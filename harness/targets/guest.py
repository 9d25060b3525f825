"""A reused VM made as good as a fresh one for the agent, in one SSH exec as root.

Run before every agent start on a Vagrant machine: it steps the guest's clock to
the host's (a machine resumed from disk wakes with the time it was saved at),
on a resumed machine it removes what earlier runs may have left (agent
processes and their folders), and it says whether the agent is already
installed in a place only root can change. The agent is then run from there
instead of being copied again; its file and every folder above it must be owned
by root and writable by no one else (a symlink counts as writable), and its
SHA-256 must match, else it is installed again (or, where the folders above
cannot be trusted, copied into a private folder as for any SSH host).
The scripts are plain POSIX sh with Linux, BSD and macOS tools.
"""
from __future__ import annotations

import hashlib
import shlex
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Optional

from .base import AGENT_PATH, AgentError

if TYPE_CHECKING:
    from fabric import Connection

AGENT_HOME = "/var/lib/harness"
CLOCK_SLACK_S = 1  # offsets up to this are left alone (the measurement's own error)
# Processes of earlier agents: pushed (/tmp/harness.XXXXXXXX/agent.py) or installed, and the scenario
# processes they forked (same command line). Anchored on the interpreter so no shell quoting it matches.
LEFTOVER_AGENTS = r"^[^ ]*python[^ ]* (/.*/harness\.[A-Za-z0-9]+/agent\.py|/var/lib/harness/agent-[0-9a-f]+\.py)"

# ls -ldn: "drwxr-xr-x 2 0 0 ...": owner uid 0, and no w for group (6th character) or others (9th).
TRUSTED = """trusted() {
  set -- $(ls -ldn "$1" 2>/dev/null) && [ "${3:-x}" = 0 ] || return 1
  case "$1" in ?????w*|????????w*) return 1;; esac
}
"""
SHA256 = '{ sha256sum "$f" || sha256 -q "$f" || shasum -a 256 "$f"; } 2>/dev/null | cut -d" " -f1'


@dataclass(frozen=True)
class GuestReport:
    """What the preparation found and did."""

    agent: str  # cached (run from agent_path), install (not there yet) or push (folders untrusted)
    offset_s: int  # guest clock minus host clock before stepping
    stepped: bool
    clock_error_s: float  # guest minus host after stepping, as read back
    leftovers: int  # earlier agents' processes killed and folders removed

    def clock_note(self) -> str:
        if not self.stepped:
            return f"within {CLOCK_SLACK_S} s of the host"
        return f"stepped by {-self.offset_s:+d} s to the host's (then {self.clock_error_s:+.1f} s off)"


def agent_digest() -> str:
    return hashlib.sha256(AGENT_PATH.read_bytes()).hexdigest()


def agent_path(digest: str, home: str = AGENT_HOME) -> str:
    return f"{home}/agent-{digest}.py"


def parents(home: str) -> list[str]:
    """Every folder above `home`, root first."""
    path = PurePosixPath(home)
    return [str(p) for p in reversed(path.parents)]


def prepare_script(digest: str, host_time: float, clean: bool, home: str = AGENT_HOME) -> str:
    """The preparation as one sh script (run as root): key=value lines out."""
    path = agent_path(digest, home)
    cleanup = f"""n=0
for pid in $(pgrep -f {shlex.quote(LEFTOVER_AGENTS)}); do kill -KILL "$pid" 2>/dev/null && n=$((n+1)); done
for d in /tmp/harness.* /var/tmp/harness.*; do [ -d "$d" ] && rm -rf "$d" && n=$((n+1)); done
echo "leftovers=$n"
""" if clean else "echo leftovers=0\n"
    return TRUSTED + cleanup + f"""h={host_time:.3f}; hs={int(host_time)}
g=$(date +%s); d=$((g - hs)); echo "offset=$d"
if [ "$d" -gt {CLOCK_SLACK_S} ] || [ "$d" -lt -{CLOCK_SLACK_S} ]; then
  date -u -s "@$h" >/dev/null 2>&1 || date -u -f %s "$hs" >/dev/null 2>&1
  echo stepped=1
fi
echo "after=$(date +%s.%N)"
where=cached
for p in {' '.join(map(shlex.quote, parents(home)))}; do  # one missing is made by install, as root's
  [ -e "$p" ] || [ -L "$p" ] || continue; trusted "$p" || where=push
done
f={shlex.quote(path)}
if [ $where = cached ]; then
  if trusted {shlex.quote(home)} && trusted "$f" && [ -f "$f" ] && [ "$({SHA256})" = {digest} ]; then :; else where=install; fi
fi
echo "agent=$where"
"""


def install_script(digest: str, home: str = AGENT_HOME) -> str:
    """Write the agent (stdin) into `home`, made afresh and root's, atomically; prints its path."""
    path = agent_path(digest, home)
    folder = shlex.quote(home)
    return "umask 022\n" + TRUSTED + f"""mkdir -p {shlex.quote(parents(home)[-1])} || exit 1
trusted {folder} || rm -rf {folder}
mkdir -p {folder} && chmod 755 {folder} || exit 1
t=$(mktemp {folder}/.agent.XXXXXXXX) || exit 1
cat > "$t" && chmod 644 "$t" && mv -f "$t" {shlex.quote(path)} && echo {shlex.quote(path)}
"""


def seconds(text: str) -> float:
    """`date +%s.%N` output; where %N is not known (BSD date prints `N`), whole seconds."""
    try:
        return float(text)
    except ValueError:
        return float(text.split(".")[0])


def parse_report(output: str, host_start: float, host_end: float) -> GuestReport:
    """The script's key=value lines; AgentError when the script did not run to its end."""
    facts = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    if facts.get("agent") not in ("cached", "install", "push"):
        raise AgentError(f"preparing the guest failed: {output.strip()[-300:] or 'no output'}")
    offset = int(facts["offset"])
    return GuestReport(agent=facts["agent"], offset_s=offset, stepped=facts.get("stepped") == "1",
                       clock_error_s=seconds(facts["after"]) - (host_start + host_end) / 2,
                       leftovers=int(facts.get("leftovers", 0)))


def as_root(script: str) -> str:
    return f"sudo -n sh -c {shlex.quote(script)}"


def prepare(conn: "Connection", clean: bool, home: str = AGENT_HOME) -> tuple[GuestReport, Optional[str]]:
    """Prepare the guest; the report, and the installed agent's path (None: push it as to any host)."""
    from .ssh import run_command

    digest = agent_digest()
    start = time.time()
    status, out, err = run_command(conn, as_root(prepare_script(digest, start, clean, home)), timeout=60)
    if status != 0 and "agent=" not in out:
        raise AgentError(f"preparing the guest as root (sudo -n) failed (exit {status}): "
                         f"{(err or out).strip()[-300:]}")
    report = parse_report(out, start, time.time())
    path = agent_path(digest, home)
    if report.agent == "cached":
        return report, path
    if report.agent == "push":
        return report, None
    status, out, err = run_command(conn, as_root(install_script(digest, home)), AGENT_PATH.read_bytes(), timeout=60)
    if status != 0 or out.strip() != path:
        raise AgentError(f"cannot install the agent in {home} (exit {status}): {(err or out).strip()[-300:]}")
    return report, path
