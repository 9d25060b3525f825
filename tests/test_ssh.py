"""SSH: the transport, and `ssh://` targets end to end, against a real OpenSSH server on 127.0.0.1.

The server is this test's own (its port, host key, authorized key and
known_hosts), started and stopped here; the harness runs with HOME pointed at a
folder of the test, so ~/.ssh/config and ~/.ssh/known_hosts are the test's too.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import SEED, SSHD, free_port, harness, harness_in_background, results

from harness import observation
from harness.run.protocol import VERSION
from harness.targets.base import AgentError
from harness.targets.ssh import OLD_OPENSSH, SSHEndpoint, SSHSession, agent_command, connect

pytestmark = pytest.mark.skipif(not (os.path.exists(SSHD) and os.geteuid() == 0),
                                reason="needs root and openssh-server (scripts/setup.sh installs it)")
LOGIN_USER = "harness-nosudo"  # a user without sudo rights, made and removed by the test that needs it


@pytest.fixture
def home(tmp_path):
    """A HOME for the harness: its ~/.ssh is empty until a test writes into it."""
    (tmp_path / "home" / ".ssh").mkdir(parents=True, mode=0o700)
    return tmp_path / "home"


def run_on(home: Path, out: Path, targets: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = harness("run", str(SEED), "--targets", targets, "--out", str(out), *extra,
                   env={"HOME": str(home)}, timeout=300)
    return proc, (results(out) if (out / "results.json").exists() else {})


def reasons(doc: dict, target: str) -> set[str]:
    return {r["reason"] for r in doc["results"] if r["target"] == target}


def plan(*scenarios) -> bytes:
    return json.dumps({"protocol": VERSION, "options": {"netns": True, "step_timeout_ms": 2000, "scenario_timeout_ms": 30000},
                       "scenarios": list(scenarios)}).encode()


def sleep_scenario(name: str, ms: int) -> dict:
    return {"id": f"s/{name}", "actors": {"main": {"user": None}}, "steps": [{"op": "sleep", "actor": "main", "ms": ms}]}


def agent_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "harness\\.[A-Za-z0-9]+/agent.py"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def scenario_events(session: SSHSession, timeout: float = 10) -> list[dict]:
    events = []
    while (event := session.read_event(timeout)) is not None:
        events.append(event)
    return [e for e in events if e["event"] != "environment"]


# --- the transport ----------------------------------------------------------------------------

def test_ssh_config_is_parsed_with_paramiko():
    text = ("Host linux-modern\n  HostName 127.0.0.1\n  User vagrant\n  Port 2232\n"
            "  IdentityFile /root/.vagrant.d/insecure_private_key\n  IdentitiesOnly yes\n")
    assert SSHEndpoint.from_ssh_config(text, "linux-modern") == SSHEndpoint(
        "127.0.0.1", 2232, "vagrant", "/root/.vagrant.d/insecure_private_key")


def test_command_line_holds_only_quoted_paths():
    cmd = agent_command("/usr/local/bin/python3", "/tmp/harness.ab12/agent.py", sudo=True)
    assert cmd == """sh -c 'echo "harness-pid $$"; exec sudo -n /usr/local/bin/python3 -S /tmp/harness.ab12/agent.py'"""


def test_agent_runs_over_ssh_and_cleans_up(sshd):
    session = SSHSession(connect(sshd.endpoint()), python="/usr/bin/python3", sudo=False)
    assert oct(os.stat(session.folder).st_mode & 0o777) == "0o700"  # a private folder
    hello = session.read_event(10)
    assert hello["event"] == "hello" and hello["identity"]["family"] == "linux"
    session.send(plan(sleep_scenario("a", 1), sleep_scenario("b", 1)))
    assert [e["event"] for e in scenario_events(session)] == ["scenario", "scenario", "end"]
    assert session.close() == 0
    assert not os.path.exists(session.folder)  # the pushed agent is removed


def test_large_output_does_not_deadlock(sshd):
    # 300 scenarios: far more output than an SSH window or a pipe holds before we read it.
    session = SSHSession(connect(sshd.endpoint()), python="/usr/bin/python3", sudo=False)
    session.read_event(10)
    session.send(plan(*[sleep_scenario(f"s{i}", 0) for i in range(300)]))
    seen = sum(e["event"] == "scenario" for e in scenario_events(session, 30))
    assert seen == 300 and session.close() == 0


def test_killing_a_hung_run_frees_the_remote_agent(sshd):
    session = SSHSession(connect(sshd.endpoint()), python="/usr/bin/python3", sudo=False)
    session.read_event(10)
    session.send(plan(sleep_scenario("long", 60000)))
    assert session.read_event(10)["event"] == "environment"
    with pytest.raises(AgentError, match="no output for 1 s"):
        session.read_event(1)
    assert session.remote_pid in agent_pids()
    session.close()
    deadline = time.monotonic() + 5
    while agent_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent_pids() == []


def test_bad_python_on_the_target_is_an_agent_error(sshd):
    session = SSHSession(connect(sshd.endpoint()), python="/nonexistent/python", sudo=False)
    assert session.read_event(10) is None  # the shell printed its pid, then exec failed
    assert "nonexistent" in session.stderr_tail()
    assert session.close() != 0


def test_wrong_port_is_a_clear_error():
    with pytest.raises(AgentError, match="cannot reach root@127.0.0.1:.*Connection refused"):
        connect(SSHEndpoint("127.0.0.1", free_port(), "root", "/nonexistent"))


@pytest.mark.parametrize("banner, old", [
    ("SSH-2.0-OpenSSH_5.3", True),            # CentOS 6
    ("SSH-2.0-OpenSSH_6.0p1 Debian-4+deb7u2", True),  # Debian 7, the linux-legacy box
    ("SSH-2.0-OpenSSH_7.1", True),
    ("SSH-2.0-OpenSSH_7.2p2 Ubuntu-4", False),  # rsa-sha2 arrived in 7.2
    ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", False),
    ("SSH-2.0-OpenSSH_10.0", False),
])
def test_old_openssh_is_recognised_from_its_banner(banner, old):
    assert bool(OLD_OPENSSH.search(banner)) is old


# --- ssh:// targets, end to end ----------------------------------------------------------------

def test_an_ssh_target_answers_as_local_does(sshd, home, tmp_path):
    proc, doc = run_on(home, tmp_path / "out", f"local,{sshd.url(name='remote')}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    by = {(r["target"], r["id"]): r for r in doc["results"]}
    remote = next(t for t in doc["targets"] if t["name"] == "remote")
    assert remote["provider"] == "ssh" and remote["ran"] and remote["details"]["sudo"] == "no"
    assert remote["environment"]["where"] == "scenario network namespace"  # root on Linux: namespaces, as local
    for (target, sid), r in by.items():
        if target != "local":
            continue
        mine = [observation.signature(s["op"], s["observed"]) for s in r["steps"]]
        theirs = [observation.signature(s["op"], s["observed"]) for s in by[("remote", sid)]["steps"]]
        assert mine == theirs, sid
    assert agent_pids() == []


def test_ssh_config_aliases_identity_files_and_proxyjump_are_honoured(sshd, home, tmp_path):
    (home / ".ssh" / "config").write_text(
        f"Host box\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n  IdentityFile {sshd.dir / 'client'}\n"
        f"  UserKnownHostsFile {sshd.known_hosts}\n"
        f"Host jumped\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n  IdentityFile {sshd.dir / 'client'}\n"
        f"  UserKnownHostsFile {sshd.known_hosts}\n  ProxyJump box\n")
    proc, doc = run_on(home, tmp_path / "out", "ssh://box,ssh://jumped", "--tags", "bind")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {t["name"]: t["ran"] for t in doc["targets"]} == {"box": True, "jumped": True}


def test_unknown_host_key_is_refused_unless_accept_new(sshd, home, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc, doc = run_on(home, tmp_path / "strict", sshd.url(known_hosts=str(empty)), "--tags", "bind")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (why,) = reasons(doc, f"root@127.0.0.1:{sshd.port}")
    assert f"host key of [127.0.0.1]:{sshd.port} (ssh-ed25519 SHA256:" in why and "accept-new" in why
    assert empty.read_text() == ""

    proc, _ = run_on(home, tmp_path / "new", sshd.url(known_hosts=str(empty), host_key="accept-new"),
                     "--tags", "bind")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert empty.read_text() == sshd.known_hosts.read_text()  # the key, as OpenSSH writes it
    proc, _ = run_on(home, tmp_path / "again", sshd.url(known_hosts=str(empty)), "--tags", "bind")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_changed_host_key_is_refused_even_with_accept_new(sshd, home, tmp_path):
    forged = tmp_path / "known_hosts"
    stranger = (sshd.dir / "stranger.pub").read_text().split()[:2]
    forged.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(stranger)}\n")
    proc, doc = run_on(home, tmp_path / "out", sshd.url(known_hosts=str(forged), host_key="accept-new"),
                       "--tags", "bind")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (why,) = reasons(doc, f"root@127.0.0.1:{sshd.port}")
    assert "CHANGED" in why and "refusing to connect" in why


@pytest.mark.parametrize("case", ["unreachable", "login refused", "no python", "python too old"])
def test_each_ssh_failure_is_an_error_with_its_reason_and_local_carries_on(sshd, home, tmp_path, case):
    old_python = tmp_path / "python2.5"  # stands in for a Python 2.5, which no machine here has
    old_python.write_text("#!/bin/sh\nprintf 2.5\n")
    old_python.chmod(0o755)
    url, expected = {
        "unreachable": (f"ssh://root@127.0.0.1:{free_port()}?key={sshd.dir / 'client'}", "Connection refused"),
        "login refused": (sshd.url(key=str(sshd.dir / "stranger")), "ssh login as root refused"),
        "no python": (sshd.url(python="/nonexistent/python3"), "no Python on root@127.0.0.1"),
        "python too old": (sshd.url(python=str(old_python)), "Python 2.5 at"),
    }[case]
    proc, doc = run_on(home, tmp_path / "out", f"local,{url}", "--tags", "bind")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    remote = next(t["name"] for t in doc["targets"] if t["name"] != "local")
    (why,) = reasons(doc, remote)
    assert expected in why
    assert {r["verdict"] for r in doc["results"] if r["target"] == "local"} == {"pass"}
    assert doc["summary"]["fail"] == 0 and "Traceback" not in proc.stderr


@pytest.fixture
def login_user(sshd):
    """A user with a shell and no sudo rights, for the time of one test."""
    if not shutil.which("useradd") or not shutil.which("sudo"):
        pytest.skip("needs useradd and sudo (scripts/setup.sh installs sudo)")
    subprocess.run(["userdel", "-r", LOGIN_USER], capture_output=True)
    # "*": no password, yet not locked (sshd refuses a locked account even to a key)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--password", "*", LOGIN_USER], check=True)
    keys = Path(pwd.getpwnam(LOGIN_USER).pw_dir) / ".ssh" / "authorized_keys"  # sshd reads it as the user
    keys.parent.mkdir(mode=0o700)
    shutil.copy(sshd.dir / "client.pub", keys)
    subprocess.run(["chown", "-R", f"{LOGIN_USER}:", str(keys.parent)], check=True)
    yield LOGIN_USER
    subprocess.run(["userdel", "-r", LOGIN_USER], capture_output=True)


def test_actors_of_another_user_need_root_and_sudo_that_asks_is_refused(sshd, home, tmp_path, login_user):
    proc, doc = run_on(home, tmp_path / "out", sshd.url(user=login_user), "--tags", "users")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    (why,) = reasons(doc, f"{login_user}@127.0.0.1:{sshd.port}")
    assert "sudo -n fails" in why and "a password is required" in why
    # Scenarios with no other user run as the login user: no namespaces without root.
    proc, doc = run_on(home, tmp_path / "plain", sshd.url(user=login_user), "--tags", "distribute")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    remote = doc["targets"][0]
    assert remote["identity"] and remote["environment"]["where"] == "host"
    assert pwd.getpwnam(login_user).pw_uid == int(remote["details"]["user_id"])


def test_a_dropped_connection_is_an_error_and_the_others_carry_on(sshd, home, tmp_path):
    slow = tmp_path / "slow.yaml"
    slow.write_text("suite: slow\nscenarios:\n  - name: hold\n    steps: [{op: sleep, ms: 6000}]\n")
    out = tmp_path / "out"
    before = set(sshd.session_pids())
    proc = harness_in_background("run", str(slow), "--targets", f"local,{sshd.url(name='remote')}", "--out", str(out))
    deadline = time.monotonic() + 30
    while not (set(sshd.session_pids()) - before and agent_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in set(sshd.session_pids()) - before:
        os.kill(pid, signal.SIGKILL)  # the server side of the connection dies mid-scenario
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stdout + stderr
    doc = results(out)
    by = {r["target"]: r for r in doc["results"]}
    assert by["remote"]["verdict"] == "error" and by["local"]["verdict"] == "pass"


def test_bad_ssh_urls_are_bad_input(sshd, home, tmp_path):
    for url in (sshd.url(bogus="1"), "ssh://", sshd.url(host_key="maybe"), sshd.url(system="plan9-4")):
        proc, _ = run_on(home, tmp_path / "out", url)
        assert proc.returncode == 2 and "bad target" in proc.stderr, (url, proc.stderr)
    assert not (tmp_path / "out").exists()
