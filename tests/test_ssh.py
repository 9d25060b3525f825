"""The SSH transport against a real OpenSSH server on 127.0.0.1 (no VM needed)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from harness.targets.base import AgentError
from harness.targets.ssh import SSHEndpoint, SSHSession, agent_command

SSHD = "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not (os.path.exists(SSHD) and os.geteuid() == 0),
                                reason="needs root and openssh-server (scripts/setup.sh installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A private sshd on 127.0.0.1 that lets root in with a throw-away key."""
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    shutil.copy(d / "client.pub", d / "authorized_keys")
    port = free_port()
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PidFile {d / 'sshd.pid'}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield SSHEndpoint(host="127.0.0.1", port=port, user="root", key_file=str(d / "client"))
    proc.terminate()
    proc.wait(timeout=10)


def plan(*scenarios) -> bytes:
    return json.dumps({"protocol": 1, "options": {"netns": True, "step_timeout_ms": 2000, "scenario_timeout_ms": 30000},
                       "scenarios": list(scenarios)}).encode()


def sleep_scenario(name: str, ms: int) -> dict:
    return {"id": f"s/{name}", "actors": {"main": {"user": None}}, "steps": [{"op": "sleep", "actor": "main", "ms": ms}]}


def agent_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "/tmp/harness-[0-9a-f]+/agent.py"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_ssh_config_is_parsed_with_paramiko():
    text = ("Host linux-modern\n  HostName 127.0.0.1\n  User vagrant\n  Port 2232\n"
            "  IdentityFile /root/.vagrant.d/insecure_private_key\n  IdentitiesOnly yes\n")
    assert SSHEndpoint.from_ssh_config(text, "linux-modern") == SSHEndpoint(
        "127.0.0.1", 2232, "vagrant", "/root/.vagrant.d/insecure_private_key")


def test_command_line_holds_only_quoted_paths():
    cmd = agent_command("/usr/local/bin/python3", "/tmp/harness-ab12", sudo=True)
    assert cmd == """sh -c 'echo "harness-pid $$"; exec sudo -n /usr/local/bin/python3 /tmp/harness-ab12/agent.py'"""


def test_agent_runs_over_ssh_and_cleans_up(sshd):
    session = SSHSession(sshd, python="/usr/bin/python3", sudo=False)
    hello = session.read_event(10)
    assert hello["event"] == "hello" and hello["identity"]["family"] == "linux"
    session.send(plan(sleep_scenario("a", 1), sleep_scenario("b", 1)))
    events = []
    while (event := session.read_event(10)) is not None:
        events.append(event)
    assert [e["event"] for e in events] == ["scenario", "scenario", "end"]
    assert session.close() == 0
    assert not os.path.exists(session.folder)  # the pushed agent is removed


def test_large_output_does_not_deadlock(sshd):
    # 300 scenarios: far more output than an SSH window or a pipe holds before we read it.
    session = SSHSession(sshd, python="/usr/bin/python3", sudo=False)
    session.read_event(10)
    session.send(plan(*[sleep_scenario(f"s{i}", 0) for i in range(300)]))
    seen = 0
    while (event := session.read_event(30)) is not None:
        seen += event["event"] == "scenario"
    assert seen == 300 and session.close() == 0


def test_killing_a_hung_run_frees_the_remote_agent(sshd):
    session = SSHSession(sshd, python="/usr/bin/python3", sudo=False)
    session.read_event(10)
    session.send(plan(sleep_scenario("long", 60000)))
    with pytest.raises(AgentError, match="no output for 1 s"):
        session.read_event(1)
    assert session.remote_pid in agent_pids()
    session.close()
    deadline = time.monotonic() + 5
    while agent_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent_pids() == []


def test_bad_python_on_the_target_is_an_agent_error(sshd):
    session = SSHSession(sshd, python="/nonexistent/python", sudo=False)
    assert session.read_event(10) is None  # the shell printed its pid, then exec failed
    assert "nonexistent" in session.stderr_tail()
    assert session.close() != 0


def test_wrong_port_is_a_clear_error():
    with pytest.raises(AgentError, match="ssh to root@127.0.0.1"):
        SSHSession(SSHEndpoint("127.0.0.1", free_port(), "root", "/nonexistent"), python="python3", sudo=False)


@pytest.mark.parametrize("banner, old", [
    ("SSH-2.0-OpenSSH_5.3", True),            # CentOS 6
    ("SSH-2.0-OpenSSH_6.0p1 Debian-4+deb7u2", True),  # Debian 7, the linux-legacy box
    ("SSH-2.0-OpenSSH_7.1", True),
    ("SSH-2.0-OpenSSH_7.2p2 Ubuntu-4", False),  # rsa-sha2 arrived in 7.2
    ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", False),
    ("SSH-2.0-OpenSSH_10.0", False),
])
def test_old_openssh_is_recognised_from_its_banner(banner, old):
    from harness.targets.ssh import OLD_OPENSSH
    assert bool(OLD_OPENSSH.search(banner)) is old
