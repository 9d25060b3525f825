"""A reused VM made as good as a fresh one for the agent, in one SSH exec.

Run before every agent start on a Vagrant machine: it steps the guest's clock to
the host's (a machine resumed from disk wakes with the time it was saved at),
on a resumed machine it removes what earlier runs may have left (agent
processes and their folders), and it says whether the agent is already
installed in a place only root can change. The agent is then run from there
instead of being copied again; its file and every folder above it must be owned
by root and writable by no one else (a symlink counts as writable), and its
SHA-256 must match, else it is installed again (or, where the folders above
cannot be trusted, copied into a private folder as for any SSH host).
The scripts are plain POSIX sh with Linux, BSD and macOS tools, run as the login
user; only what needs root (stepping the clock, removing leftovers, installing)
goes through `sudo -n`. Few processes: each costs tens of ms under emulation.
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
CLEANUP = f"""n=0
for pid in $(pgrep -f {shlex.quote(LEFTOVER_AGENTS)}); do kill -KILL "$pid" 2>/dev/null && n=$((n+1)); done
for d in /tmp/harness.* /var/tmp/harness.*; do [ -d "$d" ] && rm -rf "$d" && n=$((n+1)); done
echo "$n"
"""
# An `ls -ldn` line is trusted when its owner is uid 0 and neither the group (6th character of the
# mode) nor others (9th) may write; a symlink's mode (lrwxrwxrwx) never passes.
WRITABLE_BY_OTHERS = "?????w*|????????w*"


@dataclass(frozen=True)
class GuestReport:
    """What the preparation found and did."""

    agent: str  # cached (run from agent_path), install (not there yet) or push (folders untrusted)
    offset_s: int  # guest clock minus host clock before stepping
    stepped: bool
    clock_error_s: float  # guest minus host afterwards, as read back
    leftovers: int  # earlier agents' processes killed and folders removed

    def clock_note(self) -> str:
        if self.stepped:
            return f"stepped by {-self.offset_s:+d} s to the host's (then {self.clock_error_s:+.1f} s off)"
        if abs(self.offset_s) > CLOCK_SLACK_S:
            return f"{self.offset_s:+d} s off the host's: could not be stepped (sudo -n date failed)"
        return f"within {CLOCK_SLACK_S} s of the host"


def agent_digest() -> str:
    return hashlib.sha256(AGENT_PATH.read_bytes()).hexdigest()


def agent_path(digest: str, home: str = AGENT_HOME) -> str:
    return f"{home}/agent-{digest}.py"


def parents(home: str) -> list[str]:
    """Every folder above `home`, root first."""
    return [str(p) for p in reversed(PurePosixPath(home).parents)]


def prepare_script(digest: str, host_time: float, clean: bool, home: str = AGENT_HOME) -> str:
    """The preparation as one sh script: key=value lines out."""
    path, above = shlex.quote(agent_path(digest, home)), " ".join(map(shlex.quote, parents(home)))
    cleanup = f"echo leftovers=$(sudo -n sh -c {shlex.quote(CLEANUP)})\n" if clean else ""
    return cleanup + f"""h={host_time:.3f}; hs={int(host_time)}
g=$(date +%s); d=$((g - hs)); echo "offset=$d"
if [ "$d" -gt {CLOCK_SLACK_S} ] || [ "$d" -lt -{CLOCK_SLACK_S} ]; then
  if sudo -n date -u -s "@$h" >/dev/null 2>&1 || sudo -n date -u -f %s "$hs" >/dev/null 2>&1; then
    echo stepped=1
  fi
  echo "after=$(date +%s.%N)"
else
  echo "after=$g"
fi
where=cached; seen=0
while read -r mode links uid rest; do
  [ -n "$mode" ] || continue
  seen=$((seen + 1)); name=${{rest%% -> *}}; name=${{name##* }}
  case "$mode" in {WRITABLE_BY_OTHERS}) uid=x;; esac
  [ "$uid" = 0 ] && continue
  case " {above} " in *" $name "*) where=push;; *) [ $where = push ] || where=install;; esac
done <<LISTING
$(ls -ldn {above} {shlex.quote(home)} {path} 2>/dev/null)
LISTING
[ $seen = {len(parents(home)) + 2} ] || [ $where = push ] || where=install
if [ $where = cached ]; then
  set -- $(sha256sum {path} 2>/dev/null || sha256 -q {path} 2>/dev/null)
  [ "${{1:-}}" = {digest} ] || where=install
fi
echo "agent=$where"
"""


def install_script(digest: str, home: str = AGENT_HOME) -> str:
    """Write the agent (stdin) into `home`, made afresh and root's, atomically; prints its path. As root."""
    path, folder = shlex.quote(agent_path(digest, home)), shlex.quote(home)
    return f"""umask 022
mkdir -p {shlex.quote(parents(home)[-1])} || exit 1
set -- $(ls -ldn {folder} 2>/dev/null)
case "${{1:-x}}" in d*) ;; *) rm -rf {folder};; esac
case "${{1:-x}}" in {WRITABLE_BY_OTHERS}) rm -rf {folder};; esac
[ "${{3:-0}}" = 0 ] || rm -rf {folder}
mkdir -p {folder} && chown 0 {folder} && chmod 755 {folder} || exit 1
t=$(mktemp {folder}/.agent.XXXXXXXX) || exit 1
cat > "$t" && chmod 644 "$t" && mv -f "$t" {path} && echo {path}
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
    if not facts.get("leftovers", "0").isdigit():
        raise AgentError("removing what earlier runs left needs root on the guest, and sudo -n failed")
    return GuestReport(agent=facts["agent"], offset_s=int(facts["offset"]), stepped=facts.get("stepped") == "1",
                       clock_error_s=seconds(facts["after"]) - (host_start + host_end) / 2,
                       leftovers=int(facts.get("leftovers", 0)))


def prepare(conn: "Connection", clean: bool, home: str = AGENT_HOME) -> tuple[GuestReport, Optional[str]]:
    """Prepare the guest; the report, and the installed agent's path (None: push it as to any host)."""
    from .ssh import run_command, sh

    digest = agent_digest()
    start = time.time()
    status, out, err = run_command(conn, sh(prepare_script(digest, start, clean, home)), timeout=60)
    if status != 0 and "agent=" not in out:
        raise AgentError(f"preparing the guest failed (exit {status}): {(err or out).strip()[-300:]}")
    report = parse_report(out, start, time.time())
    path = agent_path(digest, home)
    if report.agent == "cached":
        return report, path
    if report.agent == "push":
        return report, None
    status, out, err = run_command(conn, f"sudo -n {sh(install_script(digest, home))}", AGENT_PATH.read_bytes(),
                                   timeout=60)
    if status != 0 or out.strip() != path:
        raise AgentError(f"cannot install the agent in {home} as root (sudo -n; exit {status}): "
                         f"{(err or out).strip()[-300:]}")
    return report, path
