"""A reused VM made as good as a fresh one, and the agent started there, in one SSH exec as root.

Run before every agent start on a Vagrant machine (one `sudo -n sh -c`: each
process costs tens of ms under emulation, sudo itself some 200): it steps the
guest's clock to the host's (a machine resumed from disk wakes with the time it
was saved at); on a machine a run may have left something in, it removes what
earlier runs left (agent processes and their folders); and it checks whether
the agent is installed in a place only root can change. If it is, the same
script execs it there, compiled: `agent-<sha256>.py` with its bytecode
`agent-<sha256>.pyc` beside it, made by the guest's Python at install. Both
files and every folder above them must be owned by root and writable by no one
else (a symlink counts as writable), the source's SHA-256 must be the agent's
and the bytecode's the one the install reported (the host keeps it: see
MachineRecord.compiled); else the agent is installed (and compiled) again, or,
where the folders above cannot be trusted, copied into a private folder as for
any SSH host. The scripts are plain POSIX sh with Linux, BSD and macOS tools.
"""
from __future__ import annotations

import hashlib
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Callable

from .base import AGENT_PATH, AgentError

if TYPE_CHECKING:
    from fabric import Connection

    from .ssh import SSHSession

AGENT_HOME = "/var/lib/harness"
CLOCK_SLACK_S = 1  # offsets up to this are left alone (the measurement's own error)
# Processes of earlier agents: pushed (/tmp/harness.XXXXXXXX/agent.py) or installed, and the scenario
# processes they forked (same command line). Anchored on the interpreter so no shell quoting it matches.
LEFTOVER_AGENTS = (r"^[^ ]*python[^ ]* (-S )?"
                   r"(/.*/harness\.[A-Za-z0-9]+/agent\.py|/var/lib/harness/agent-[0-9a-f]+\.pyc?)")
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
    compiled: str = ""  # the SHA-256 of the bytecode an install made this time (kept by the host)

    def clock_note(self) -> str:
        if self.stepped:
            return f"stepped by {-self.offset_s:+d} s to the host's (then {self.clock_error_s:+.1f} s off)"
        if abs(self.offset_s) > CLOCK_SLACK_S:
            return f"{self.offset_s:+d} s off the host's: could not be stepped (date -s failed)"
        return f"within {CLOCK_SLACK_S} s of the host"


def agent_digest() -> str:
    return hashlib.sha256(AGENT_PATH.read_bytes()).hexdigest()


def agent_path(digest: str, home: str = AGENT_HOME) -> str:
    return f"{home}/agent-{digest}.py"


def compiled_path(digest: str, home: str = AGENT_HOME) -> str:
    """The agent's bytecode, made by the guest's own Python (the machine's: fixed by its fingerprint)."""
    return f"{home}/agent-{digest}.pyc"


def parents(home: str) -> list[str]:
    """Every folder above `home`, root first."""
    return [str(p) for p in reversed(PurePosixPath(home).parents)]


def as_root(script: str) -> str:
    """The command that runs `script` as root through sudo, whatever the login shell."""
    from .ssh import sh

    return f"sudo -n {sh(script)}"


def prepare_script(digest: str, host_time: float, clean: bool, compiled: str = "", home: str = AGENT_HOME,
                   python: str = "") -> str:
    """The preparation as one sh script run as root: key=value lines out. With `python`, a cached agent
    is then started by the same script: `harness-pid PID`, then the agent's own lines."""
    path, pyc = shlex.quote(agent_path(digest, home)), shlex.quote(compiled_path(digest, home))
    above = " ".join(map(shlex.quote, parents(home)))
    cleanup = f"echo leftovers=$(sh -c {shlex.quote(CLEANUP)})\n" if clean else ""
    script = cleanup + f"""h={host_time:.3f}; hs={int(host_time)}
g=$(date +%s); d=$((g - hs)); echo "offset=$d"
if [ "$d" -gt {CLOCK_SLACK_S} ] || [ "$d" -lt -{CLOCK_SLACK_S} ]; then
  if date -u -s "@$h" >/dev/null 2>&1 || date -u -f %s "$hs" >/dev/null 2>&1; then
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
$(ls -ldn {above} {shlex.quote(home)} {path} {pyc} 2>/dev/null)
LISTING
[ $seen = {len(parents(home)) + 3} ] || [ $where = push ] || where=install
if [ $where = cached ]; then
  set -- $(sha256sum {path} {pyc} 2>/dev/null || sha256 -r {path} {pyc} 2>/dev/null)
  [ "${{1:-}}" = {digest} ] && [ "${{3:-}}" = {shlex.quote(compiled or "unknown")} ] || where=install
fi
echo "agent=$where"
"""
    if python:
        script += f"""[ $where = cached ] || exit 0
echo "harness-pid $$"
exec {shlex.quote(python)} -S {pyc}
"""
    return script


def install_script(digest: str, python: str, home: str = AGENT_HOME) -> str:
    """Write the agent (stdin) into `home`, made afresh and root's, atomically, and compile it with the
    guest's Python; prints `compiled=` the bytecode's SHA-256. As root."""
    path, folder = shlex.quote(agent_path(digest, home)), shlex.quote(home)
    pyc = shlex.quote(compiled_path(digest, home))
    compile_it = shlex.quote("import py_compile, sys; py_compile.compile(sys.argv[1], sys.argv[2], None, True)")
    return f"""umask 022
mkdir -p {shlex.quote(parents(home)[-1])} || exit 1
set -- $(ls -ldn {folder} 2>/dev/null)
case "${{1:-x}}" in d*) ;; *) rm -rf {folder};; esac
case "${{1:-x}}" in {WRITABLE_BY_OTHERS}) rm -rf {folder};; esac
[ "${{3:-0}}" = 0 ] || rm -rf {folder}
mkdir -p {folder} && chown 0 {folder} && chmod 755 {folder} || exit 1
t=$(mktemp {folder}/.agent.XXXXXXXX) || exit 1
cat > "$t" && chmod 644 "$t" && mv -f "$t" {path} || exit 1
{shlex.quote(python)} -S -c {compile_it} {path} "$t.pyc" && chmod 644 "$t.pyc" && mv -f "$t.pyc" {pyc} || exit 1
set -- $(sha256sum {pyc} 2>/dev/null || sha256 -r {pyc} 2>/dev/null)
echo "compiled=$1"
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
        raise AgentError(f"removing what earlier runs left failed: {facts['leftovers'][-300:]}")
    return GuestReport(agent=facts["agent"], offset_s=int(facts["offset"]), stepped=facts.get("stepped") == "1",
                       clock_error_s=seconds(facts["after"]) - (host_start + host_end) / 2,
                       leftovers=int(facts.get("leftovers", 0)))


def install(conn: "Connection", digest: str, python: str, home: str = AGENT_HOME) -> str:
    """Install and compile the agent as root; the bytecode's SHA-256."""
    from .ssh import run_command

    status, out, err = run_command(conn, as_root(install_script(digest, python, home)), AGENT_PATH.read_bytes(),
                                   timeout=60)
    compiled = out.strip().rpartition("compiled=")[2]
    if status != 0 or len(compiled) != 64:
        raise AgentError(f"cannot install the agent in {home} as root (sudo -n; exit {status}): "
                         f"{(err or out).strip()[-300:]}")
    return compiled


def prepare(conn: "Connection", python: str, clean: bool, compiled: str = "",
            home: str = AGENT_HOME) -> GuestReport:
    """Prepare the guest and install the agent if it is not there (`harness up`); no agent started."""
    from .ssh import run_command

    digest = agent_digest()
    start = time.time()
    status, out, err = run_command(conn, as_root(prepare_script(digest, start, clean, compiled, home)), timeout=60)
    if status != 0 and "agent=" not in out:
        raise AgentError(f"preparing the guest failed (exit {status}; it needs sudo -n): {(err or out).strip()[-300:]}")
    report = parse_report(out, start, time.time())
    if report.agent == "install":
        report = replace(report, compiled=install(conn, digest, python, home))
    return report


def start(conn: "Connection", python: str, clean: bool, compiled: str = "", home: str = AGENT_HOME,
          on_close: Callable[[int], None] = lambda status: None) -> tuple[GuestReport, "SSHSession"]:
    """Prepare the guest and start the agent: with it cached, in the same exec; else installed first
    (or pushed, where the folders above it cannot be trusted), then started. The session owns `conn`."""
    from .ssh import AgentNotStarted, SSHSession, close_connection

    digest = agent_digest()
    begin = time.time()
    command = as_root(prepare_script(digest, begin, clean, compiled, home, python=python))
    try:
        session = SSHSession(conn, python, sudo=True, on_close=on_close, command=command)
        return parse_report("\n".join(session.prelude), begin, time.time()), session
    except AgentNotStarted as exc:
        if "agent=" not in exc.prelude:
            close_connection(conn)
            raise AgentError(f"preparing the guest failed (it needs sudo -n): {exc}") from None
        report = parse_report(exc.prelude, begin, time.time())
    try:
        if report.agent == "push":
            return report, SSHSession(conn, python, sudo=True, on_close=on_close)
        report = replace(report, compiled=install(conn, digest, python, home))
    except AgentError:
        close_connection(conn)
        raise
    return report, SSHSession(conn, python, sudo=True, on_close=on_close, agent=compiled_path(digest, home))
