"""The agent (harness/agent.py) against this machine's real kernel.

Most kernel tests share one agent run (module fixture `run`): starting the
agent costs more than the scenarios themselves.  Tests that need their own
run (timeouts, signals, other interpreters) start one each.
"""
import errno
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from conftest import ROOT

from harness import agent
from harness.scenario.ops import OPS, OPTIONS

AGENT = str(ROOT / "harness" / "agent.py")
VERMIN = os.path.join(os.path.dirname(sys.executable), "vermin")
MARK = "HARNESS_AGENT_TEST_MARK"

IS_LINUX = platform.system() == "Linux"
kernel = pytest.mark.kernel
needs_root = pytest.mark.skipif(
    not IS_LINUX or os.geteuid() != 0,
    reason="needs root on Linux: every scenario runs in its own network namespace (CLONE_NEWNET)")


# ---------------------------------------------------------------------------
# Building input the way the harness does: every field present.

def step(op, actor="main", **fields):
    """A step with the defaults of harness/scenario/ops.py filled in, as the plan sends it."""
    full = {"op": op}
    for name, field in OPS[op].fields.items():
        full[name] = fields.pop(name, field.default)
    full["actor"] = actor  # `socket` has its own actor field; every step names one
    if op == "accept" and "as_" in fields:
        full["as"] = fields.pop("as_")
    if op == "accept" and "or_" in fields:
        full["or"] = fields.pop("or_")
    assert not fields, "unknown fields %s for %s" % (sorted(fields), op)
    return full


def tcp(sock, actor="main", family="inet", reuseport=False):
    """socket (+ SO_REUSEPORT) steps."""
    steps = [step("socket", actor, sock=sock, type="tcp", family=family)]
    if reuseport:
        steps.append(step("setsockopt", actor, sock=sock, opt="SO_REUSEPORT"))
    return steps


def udp(sock, actor="main", reuseport=False):
    steps = [step("socket", actor, sock=sock, type="udp")]
    if reuseport:
        steps.append(step("setsockopt", actor, sock=sock, opt="SO_REUSEPORT"))
    return steps


def listener(sock, port="P", actor="main", reuseport=True, backlog=16):
    return tcp(sock, actor, reuseport=reuseport) + [
        step("bind", actor, sock=sock, addr="loopback", port=port),
        step("listen", actor, sock=sock, backlog=backlog)]


def scenario(sid, steps, actors=None):
    return {"id": sid, "actors": actors or {"main": {"user": None}}, "steps": steps}


def request(scenarios, **options):
    opts = {"netns": True, "step_timeout_ms": 2000, "scenario_timeout_ms": 10000}
    opts.update(options)
    return {"protocol": agent.PROTOCOL, "options": opts, "scenarios": scenarios}


def run_agent(doc, python=None, mark=None, timeout=60, preexec_fn=None, agent=AGENT):
    """Run the agent on doc; (parsed stdout lines, CompletedProcess)."""
    env = dict(os.environ)
    if mark:
        env[MARK] = mark
    proc = subprocess.run([python or sys.executable, agent], input=json.dumps(doc).encode(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                          timeout=timeout, preexec_fn=preexec_fn)
    return [json.loads(line) for line in proc.stdout.decode().splitlines()], proc


def marked_processes(mark):
    """Pids of live processes that inherited our marker environment variable."""
    needle = ("%s=%s" % (MARK, mark)).encode()
    pids = []
    for path in glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(path, "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(path.split("/")[2]))
        except OSError:
            pass
    return pids


def by_id(lines):
    return dict((line["id"], line) for line in lines if line["event"] == "scenario")


# ---------------------------------------------------------------------------
# Portability: one file for Python 2.6 to 3.x

def test_vermin_finds_nothing_newer_than_python_2_6_and_3_0():
    proc = subprocess.run([VERMIN, "-t=2.6-", "-t=3.0-", "--no-tips", "--violations", AGENT],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out
    assert "Minimum required versions: 2.6, 3.0" in out, out
    assert "not met" not in out and "Incompatible" not in out, out


def test_imports_only_the_standard_library():
    source = open(AGENT).read()
    imported = set(m[0] or m[1] for m in re.findall(r"^\s*(?:import\s+(\w+)|from\s+(\w+)\S*\s+import\b)", source, re.M))
    stdlib = set("""errno fcntl gc json os platform pwd re select signal socket struct sys
                 time traceback ctypes subprocess resource""".split())
    assert imported <= stdlib, imported - stdlib


def other_interpreters():
    """Old Pythons that happen to be installed (pyenv), for a real run under them."""
    found = []
    for pattern in ("2.7*", "3.6*"):
        for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s/bin/python" % pattern))):
            found.append(path)
    return found


@kernel
@needs_root
@pytest.mark.parametrize("python", other_interpreters() or [None])
def test_runs_under_older_pythons(python):
    if python is None:
        pytest.skip("no Python 2.7 or 3.6 installed here; vermin is the check")
    steps = listener("a") + listener("b") + [
        step("setsockopt", sock="a", opt="SO_REUSEPORT_LB"),
        step("getsockopt", sock="a", opt="SO_REUSEPORT"),
        step("distribute", to={"addr": "loopback", "port": "P"}, over=["a", "b"], count=8, type="tcp")]
    lines, proc = run_agent(request([scenario("py", steps)]), python=python)
    assert proc.returncode == 0, proc.stderr
    result = by_id(lines)["py"]
    assert result["status"] == "ran", result
    outcomes = [s["outcome"] for s in result["steps"]]
    assert outcomes[-3:] == ["unsupported", "ok", "ok"], result
    assert result["steps"][-2]["value"] == 1
    assert sum(result["steps"][-1]["histogram"].values()) == 8


def every_op_steps():
    """One step of each op, every one of which succeeds on any kernel."""
    return [
        step("socket", sock="l", type="tcp"),
        step("setsockopt", sock="l", opt="SO_REUSEADDR"),
        step("getsockopt", sock="l", opt="SO_REUSEADDR"),
        step("bind", sock="l", addr="loopback", port="P"),
        step("listen", sock="l"),
        step("socket", sock="c", type="tcp"),
        step("connect", sock="c", addr="loopback", port="P"),
        step("accept", sock="l", as_="s"),
        step("send", sock="c", data="hi"),
        step("recv", sock="s"),
        step("shutdown", sock="c"),
        step("close", sock="c"),
        step("socket", sock="u", type="udp"),
        step("bind", sock="u", addr="loopback", port="Q"),
        step("socket", sock="v", type="udp"),
        step("sendto", sock="v", data="x", addr="loopback", port="Q"),
        step("recvfrom", sock="u"),
        step("sleep", ms=1),
        step("distribute", to={"addr": "loopback", "port": "P"}, over=["l"], count=4, type="tcp"),
    ]


def without_ctypes(folder):
    """A PYTHONPATH entry whose `ctypes` cannot be imported, as on minimal old Pythons built without libffi."""
    package = os.path.join(str(folder), "ctypes")
    os.mkdir(package)
    with open(os.path.join(package, "__init__.py"), "w") as handle:
        handle.write("raise ImportError('this Python was built without ctypes')\n")
    return str(folder)


@kernel
@needs_root
@pytest.mark.parametrize("has_ctypes", [True, False], ids=["ctypes", "no-ctypes"])
@pytest.mark.parametrize("python", other_interpreters() + [sys.executable])
def test_every_op_runs_on_old_pythons_with_and_without_ctypes(python, has_ctypes, tmp_path, monkeypatch):
    assert set(s["op"] for s in every_op_steps()) == set(OPS)
    if not has_ctypes:
        monkeypatch.setenv("PYTHONPATH", without_ctypes(tmp_path))
    lines, proc = run_agent(request([scenario("every-op", every_op_steps())]), python=python)
    assert proc.returncode == 0, proc.stderr
    hello, env = lines[0], lines[1]
    result = by_id(lines)["every-op"]
    assert result["status"] == "ran", result
    assert [s["outcome"] for s in result["steps"]] == ["ok"] * len(every_op_steps()), result
    if has_ctypes:
        assert hello["identity"]["netns"] == "available" and env["where"] == "scenario network namespace"
    else:  # still every scenario runs: on the host's network, with fresh ports, and it says so
        assert hello["identity"]["netns"] == "unavailable: this Python has no ctypes"
        assert env["where"].startswith("host: no network namespace per scenario")


# ---------------------------------------------------------------------------
# Pure pieces

def test_option_tables_use_each_systems_numbers():
    linux = agent.option_table("linux", "x86_64")
    freebsd = agent.option_table("freebsd", "amd64")
    assert (linux["SOL_SOCKET"], linux["SO_REUSEADDR"], linux["SO_REUSEPORT"]) == (1, 2, 15)
    assert (freebsd["SOL_SOCKET"], freebsd["SO_REUSEADDR"], freebsd["SO_REUSEPORT"]) == (0xffff, 4, 0x200)
    assert freebsd["SO_REUSEPORT_LB"] == 0x10000
    assert linux["SO_REUSEPORT_LB"] is None  # None: the system has no such option (`unsupported`)
    for family in ("darwin", "netbsd", "openbsd", "dragonfly"):
        table = agent.option_table(family, "x")
        assert table["SO_REUSEPORT_LB"] is None
        assert (table["IPV6_V6ONLY"], table["IP_ADD_MEMBERSHIP"]) == (27, 12)
    assert (linux["IPV6_V6ONLY"], linux["IP_ADD_MEMBERSHIP"]) == (26, 35)
    assert agent.option_table("darwin", "arm64")["SO_LINGER"] == 0x1080  # SO_LINGER_SEC
    assert agent.OPTION_LEVELS == OPTIONS  # the same names, at the same levels


KEEPALIVE = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_FASTOPEN")


@pytest.mark.parametrize("family, numbers", [
    ("linux", (4, 5, 6, 23)),  # include/uapi/linux/tcp.h
    ("freebsd", (256, 512, 1024, 1025)),  # sys/netinet/tcp.h
    ("darwin", (0x10, 0x101, 0x102, 0x105)),  # XNU bsd/netinet/tcp.h: TCP_KEEPALIVE is the idle time
    ("netbsd", (3, 5, 6, None)),
    ("dragonfly", (0x100, 0x200, 0x400, None)),
    ("openbsd", (None, None, None, None)),
])
def test_server_options_have_each_systems_number_or_none(family, numbers):
    table = agent.option_table(family, "x86_64")
    assert tuple(table[name] for name in KEEPALIVE) == numbers
    assert set(OPTIONS) <= set(table), "every option is named on every system (None: it has none)"
    linux_only = ("TCP_DEFER_ACCEPT", "TCP_QUICKACK", "TCP_USER_TIMEOUT", "IP_MTU_DISCOVER", "IPV6_MTU_DISCOVER",
                  "IPV6_MTU")
    assert all((table[name] is None) == (family != "linux") for name in linux_only)


def test_option_table_matches_this_pythons_socket_module():
    """Cross-check against the constants Python was built with, where it has them."""
    import socket
    table = agent.option_table(agent.OS_FAMILY, platform.machine())
    for name, number in table.items():
        if hasattr(socket, name):
            assert getattr(socket, name) == number, name


def test_unknown_systems_fall_back_to_the_socket_module():
    import socket
    table = agent.option_table("plan9", "x")
    assert table["SO_REUSEADDR"] == socket.SO_REUSEADDR
    mips = agent.option_table("linux", "mips64")
    assert mips["SOL_SOCKET"] == socket.SOL_SOCKET and mips["IPV6_V6ONLY"] == 26


def test_failures_are_named_by_the_kernel_that_failed():
    host = agent.HOST
    assert agent.failure(OSError(errno.EADDRINUSE, "x"), host) == {"outcome": "EADDRINUSE", "errno": errno.EADDRINUSE}
    assert agent.failure(OSError(9999, "x"), host)["outcome"] == "E9999"
    assert agent.failure(ValueError("bad"), host)["outcome"] == "EINVAL"
    # a rump kernel's numbers are NetBSD's (sys/sys/errno.h), whatever the host's are
    netbsd = agent.RumpProcess(None, None)
    assert agent.failure(OSError(48, "x"), netbsd) == {"outcome": "EADDRINUSE", "errno": 48}
    assert [netbsd.errno_name(n) for n in (35, 36, 42, 49, 54, 61, 96, 97)] == [
        "EAGAIN", "EINPROGRESS", "ENOPROTOOPT", "EADDRNOTAVAIL", "ECONNRESET", "ECONNREFUSED", "EPROTO", "E97"]


def test_port_names_in_order_of_first_use():
    steps = [step("bind", sock="a", addr="any", port="Q"), step("connect", sock="a", addr="any", port=80),
             step("sendto", sock="a", data="x", addr="any", port="8080"),
             step("distribute", to={"addr": "loopback", "port": "P"}, over=["a"]),
             step("bind", sock="b", addr="any", port="Q")]
    assert agent.port_names(steps) == ["Q", "P"]


def test_silent_actor_is_an_infrastructure_error():
    read_fd, write_fd = os.pipe()
    try:
        handle = agent.ActorHandle("main", None, agent.Channel(read_fd, None))
        with pytest.raises(agent.InfraError, match="did not answer in time"):
            handle.reply(agent.now() + 0.01, "step 3 (accept)")
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_dead_actor_is_an_infrastructure_error():
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    os.close(write_fd)
    handle = agent.ActorHandle("other", pid, agent.Channel(read_fd, None))
    with pytest.raises(agent.InfraError, match=r"actor other died \(exit status 3\)"):
        handle.reply(agent.now() + 5, "step 1 (bind)")
    os.close(read_fd)


# ---------------------------------------------------------------------------
# The agent as a program

def test_identity_mode_prints_only_hello():
    proc = subprocess.run([sys.executable, AGENT, "--identity"], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, timeout=30)
    assert proc.returncode == 0
    (line,) = proc.stdout.decode().splitlines()
    hello = json.loads(line)
    assert (hello["event"], hello["protocol"], hello["agent"]) == ("hello", agent.PROTOCOL, "0.1.0")
    ident = hello["identity"]
    assert ident["system"] == platform.system()
    assert ident["family"] == platform.system().lower()
    assert ident["release"] == platform.release()
    assert re.match(r"^\d+(\.\d+)*$", ident["version"]) and ident["release"].startswith(ident["version"])
    assert ident["machine"] == platform.machine()
    assert ident["python"] == platform.python_version()
    assert ident["hostname"] and ident["uid"] == os.getuid()


@pytest.mark.parametrize("stdin", [b"", b"{not json", b'{"protocol": 1, "scenarios": []}', b"[]"])
def test_unreadable_input_exits_2(stdin):
    proc = subprocess.run([sys.executable, AGENT], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)
    assert proc.returncode == 2
    # Only the hello, which goes out before the input is read.
    assert [json.loads(line)["event"] for line in proc.stdout.splitlines()] == ["hello"]
    assert b"cannot read the input" in proc.stderr


def test_empty_run_has_hello_environment_then_end():
    lines, proc = run_agent(request([], netns=False))
    assert proc.returncode == 0
    assert [line["event"] for line in lines] == ["hello", "environment", "end"]


def read_sysctl(name):
    with open("/proc/sys/" + name.replace(".", "/")) as handle:
        return " ".join(handle.read().split())


@pytest.mark.skipif(not IS_LINUX, reason="reads Linux's /proc/sys")
def test_environment_is_read_where_the_scenarios_run():
    lines, _ = run_agent(request([], netns=False))
    env = lines[1]
    assert env["where"] == "host"
    assert env["values"] == {name: read_sysctl(name) for name in agent.SETTINGS["linux"]}


def test_bsd_settings_are_asked_of_sysctl(monkeypatch, tmp_path):
    # No BSD kernel here: the platform is faked, and a stand-in sysctl(8) answers as FreeBSD's would.
    tool = tmp_path / "sysctl"
    tool.write_text('#!/bin/sh\n[ "$2" = net.inet.tcp.blackhole ] && { echo "sysctl: unknown oid" >&2; exit 1; }\n'
                    'echo 1\n')
    tool.chmod(0o755)
    monkeypatch.setattr(agent, "OS_FAMILY", "freebsd")
    monkeypatch.setattr(agent, "SYSCTL", (str(tool),))
    assert agent.environment() == {"net.inet6.ip6.v6only": "1", "net.inet.tcp.nolocaltimewait": "1",
                                   "net.inet.tcp.blackhole": None, "net.inet.udp.blackhole": "1"}


# ---------------------------------------------------------------------------
# Kernel behaviour: one shared run

def shared_scenarios():
    loopback_p = {"addr": "loopback", "port": "P"}
    other_actors = {"main": {"user": None}, "other": {"user": "nobody"}}
    return [
        scenario("reuseport-both-listen", listener("a") + listener("b")),
        scenario("no-reuseport", listener("a", reuseport=False) + tcp("b") + [
            step("bind", sock="b", addr="loopback", port="P")]),
        scenario("options", tcp("a") + [
            step("setsockopt", sock="a", opt="SO_REUSEPORT_LB"),
            step("getsockopt", sock="a", opt="SO_REUSEPORT_LB"),
            step("getsockopt", sock="a", opt="SO_REUSEADDR"),
            step("setsockopt", sock="a", opt="SO_REUSEADDR", value=True),
            step("getsockopt", sock="a", opt="SO_REUSEADDR"),
            step("setsockopt", sock="a", opt="SO_LINGER", value=5),
            step("getsockopt", sock="a", opt="SO_LINGER"),
            step("setsockopt", sock="a", opt="TCP_NODELAY"),
            step("getsockopt", sock="a", opt="TCP_NODELAY"),
            step("setsockopt", sock="a", opt="SO_RCVBUF", value=65536),
            step("getsockopt", sock="a", opt="SO_RCVBUF"),
            step("setsockopt", sock="a", opt="SO_KEEPALIVE", value=False),
            step("getsockopt", sock="a", opt="SO_KEEPALIVE")]),
        scenario("ports-and-addresses", listener("a", reuseport=False) + tcp("b") + [
            step("connect", sock="b", addr="loopback", port="P"),
            step("accept", sock="a", as_="c"),
            step("send", sock="b", data="héllo"),
            step("recv", sock="c"),
            step("socket", sock="d", type="tcp"),
            step("bind", sock="d", addr="loopback2", port="Q"),
            step("socket", sock="e", type="udp"),
            step("bind", sock="e", addr="loopback2", port="P")]),
        scenario("timeouts-and-refusals", listener("a") + tcp("b") + [
            step("accept", sock="a", timeout_ms=30),
            step("connect", sock="b", addr="loopback", port="Q"),
            step("recv", sock="a", timeout_ms=10),
            step("close", sock="b"),
            step("close", sock="b"),
            step("listen", sock="nonexistent")]),
        # a health check's pending error read in order: the non-blocking connect returns at once, the
        # next connect on the socket reports the refusal (not a re-read SO_ERROR's ECONNABORTED)
        scenario("pending-error", tcp("h") + tcp("h2") + listener("l", reuseport=False) + [
            step("connect", sock="h", addr="loopback", port="Q", wait=False),
            step("connect", sock="h", addr="loopback", port="Q"),
            step("connect", sock="h2", addr="loopback", port="P", wait=False),
            step("connect", sock="h2", addr="loopback", port="P")]),
        scenario("accept-or", listener("a") + listener("b") + tcp("c") + [
            step("connect", sock="c", addr="loopback", port="P"),
            step("accept", sock="a", or_=["b"], as_="s", timeout_ms=2000),
            step("accept", sock="a", or_=["b"], timeout_ms=0)]),
        scenario("linger-off", tcp("a") + [
            step("setsockopt", sock="a", opt="SO_LINGER", value=False),
            step("getsockopt", sock="a", opt="SO_LINGER"),
            step("setsockopt", sock="a", opt="TCP_KEEPIDLE", value=30),
            step("getsockopt", sock="a", opt="TCP_KEEPIDLE"),
            step("setsockopt", sock="a", opt="TCP_DEFER_ACCEPT", value=5)]),
        scenario("v6only", [
            step("socket", sock="six", type="tcp", family="inet6"),
            step("setsockopt", sock="six", opt="IPV6_V6ONLY", value=1),
            step("bind", sock="six", addr="any6", port="P"),
            step("socket", sock="four", type="tcp"),
            step("bind", sock="four", addr="any", port="P"),
            step("socket", sock="dual", type="tcp", family="inet6"),
            step("setsockopt", sock="dual", opt="IPV6_V6ONLY", value=0),
            step("bind", sock="dual", addr="any6", port="Q"),
            step("socket", sock="four2", type="tcp"),
            step("bind", sock="four2", addr="any", port="Q")]),
        scenario("reuseport-across-uids",
                 listener("a", actor="main") + tcp("b", actor="other", reuseport=True) + [
                     step("bind", "other", sock="b", addr="loopback", port="P")],
                 actors=other_actors),
        scenario("reuseport-same-other-uid",
                 listener("a", actor="other") + listener("b", actor="other"),
                 actors=other_actors),
        scenario("unknown-user", tcp("a"), actors={"main": {"user": "no-such-user-here"}}),
        scenario("distribute-tcp", listener("a") + listener("b") + listener("c") + listener("d") + [
            step("distribute", to=loopback_p, over=["a", "b", "c", "d"], count=32, type="tcp")]),
        scenario("distribute-tcp-two-actors",
                 listener("a", actor="main") + listener("b", actor="main") + [
                     step("distribute", to=loopback_p, over=["a", "b"], count=32, type=None)],
                 actors={"main": {"user": None}, "idle": {"user": None}}),
        scenario("distribute-single", listener("a", reuseport=False) + [
            step("distribute", to=loopback_p, over=["a"], count=32, type="tcp")]),
        scenario("distribute-udp", [s for name in "abcd" for s in udp(name, reuseport=True) + [
            step("bind", sock=name, addr="any", port="P")]] + [
            step("distribute", to=loopback_p, over=["a", "b", "c", "d"], count=32, type="udp")]),
        scenario("distribute-multicast", [s for name in "ab" for s in udp(name, reuseport=True) + [
            step("bind", sock=name, addr="any", port="P"),
            step("setsockopt", sock=name, opt="IP_ADD_MEMBERSHIP", value="239.1.2.3")]] + [
            step("distribute", to={"addr": "239.1.2.3", "port": "P"}, over=["a", "b"], count=8,
                 type="udp")]),
        # the server closes first: its port 80 stays in TIME_WAIT, in that namespace only
        scenario("isolated-1", listener("a", port=80, reuseport=False) + tcp("b") + [
            step("connect", sock="b", addr="loopback", port=80),
            step("accept", sock="a", as_="c"),
            step("close", sock="c"),
            step("close", sock="b")]),
        scenario("isolated-2", tcp("a") + [step("bind", sock="a", addr="any", port=80)]),
    ]


@pytest.fixture(scope="module")
def run():
    if not IS_LINUX or os.geteuid() != 0:
        pytest.skip("needs root on Linux: every scenario runs in its own network namespace")
    mark = uuid.uuid4().hex
    lines, proc = run_agent(request(shared_scenarios()), mark=mark)
    assert proc.returncode == 0, proc.stderr
    return {"lines": lines, "results": by_id(lines), "mark": mark, "stderr": proc.stderr}


def outcomes(result):
    return [s["outcome"] for s in result["steps"]]


@kernel
def test_run_is_hello_scenarios_in_order_then_end(run):
    events = [line["event"] for line in run["lines"]]
    assert events == ["hello", "environment"] + ["scenario"] * len(shared_scenarios()) + ["end"]
    assert [line["id"] for line in run["lines"][2:-1]] == [s["id"] for s in shared_scenarios()]
    assert run["lines"][1]["where"] == "scenario network namespace"
    assert run["lines"][1]["values"]["net.ipv6.bindv6only"] in ("0", "1")
    for result in run["results"].values():
        assert result["status"] in ("ran", "skipped"), result
        for record in result["steps"]:
            assert record["ms"] >= 0


@kernel
def test_leaves_no_process_behind(run):
    assert marked_processes(run["mark"]) == []


@kernel
def test_no_diagnostics_on_a_clean_run(run):
    assert run["stderr"] == b""


@kernel
def test_reuseport_lets_two_listeners_share_a_port(run):
    assert outcomes(run["results"]["reuseport-both-listen"]) == ["ok"] * 8


@kernel
def test_without_reuseport_the_second_bind_is_refused(run):
    result = run["results"]["no-reuseport"]
    assert outcomes(result)[-1] == "EADDRINUSE"
    assert result["steps"][-1]["errno"] == errno.EADDRINUSE


@kernel
def test_options_are_mapped_and_read_back(run):
    steps = run["results"]["options"]["steps"]
    assert steps[1]["outcome"] == steps[2]["outcome"] == "unsupported"
    assert "SO_REUSEPORT_LB" in steps[1]["detail"] and "linux" in steps[1]["detail"]
    assert steps[3]["value"] == 0
    assert (steps[5]["outcome"], steps[5]["value"], steps[5]["raw"]) == ("ok", 1, 1)
    assert (steps[7]["value"], steps[7]["raw"]) == (5, [1, 5])
    assert steps[9]["value"] == 1
    assert steps[11]["value"] == 2 * 65536  # Linux doubles SO_RCVBUF
    assert steps[13]["value"] == 0


@kernel
def test_symbolic_ports_and_addresses(run):
    result = run["results"]["ports-and-addresses"]
    assert set(result["ports"]) == set(["P", "Q"])
    assert result["ports"]["P"] != result["ports"]["Q"]
    assert all(1024 <= port <= 65535 for port in result["ports"].values())
    # the connect reached a's port P: same name, same port
    assert outcomes(result) == ["ok"] * len(result["steps"])
    accept, send, recv = result["steps"][5:8]
    assert accept["peer"][0] == "127.0.0.1"
    assert send["bytes"] == len("héllo".encode("utf-8"))
    assert (recv["data"], recv["bytes"]) == ("héllo", send["bytes"])


@kernel
def test_timeouts_refusals_and_stale_sockets(run):
    assert outcomes(run["results"]["timeouts-and-refusals"])[-6:] == [
        "timeout", "ECONNREFUSED", "ENOTCONN", "ok", "EBADF", "EBADF"]


@kernel
def test_a_pending_connect_error_is_read_by_the_next_connect_in_order(run):
    result = run["results"]["pending-error"]
    assert outcomes(result)[-4:] == ["EINPROGRESS", "ECONNREFUSED", "EINPROGRESS", "ok"]


@kernel
def test_accept_takes_the_connection_from_whichever_listener_of_the_group_has_it(run):
    result = run["results"]["accept-or"]
    assert outcomes(result)[-2:] == ["ok", "timeout"]
    assert result["steps"][-2]["from"] in ("a", "b")


@kernel
def test_linger_off_and_server_tcp_options(run):
    steps = run["results"]["linger-off"]["steps"]
    assert [s["outcome"] for s in steps[1:]] == ["ok"] * 5
    assert steps[2]["raw"] == [0, 0]  # l_onoff=0: off
    assert steps[4]["value"] == 30


@kernel
def test_v6only_separates_the_families(run):
    assert outcomes(run["results"]["v6only"]) == ["ok"] * 9 + ["EADDRINUSE"]


@kernel
def test_linux_refuses_reuseport_sharing_across_uids(run):
    across = run["results"]["reuseport-across-uids"]
    same = run["results"]["reuseport-same-other-uid"]
    if "nobody" in str(across["reason"]):
        pytest.skip(across["reason"])
    assert outcomes(across)[-1] == "EADDRINUSE"
    assert outcomes(same) == ["ok"] * 8


@kernel
def test_unknown_user_skips_the_scenario(run):
    result = run["results"]["unknown-user"]
    assert result["status"] == "skipped"
    assert "no such user: no-such-user-here" in result["reason"]
    assert result["steps"] == []


def histogram(result):
    record = result["steps"][-1]
    assert record["outcome"] == "ok", record
    return record["histogram"], record["lost"]


@kernel
def test_distribute_tcp_spreads_over_reuseport_listeners(run):
    result = run["results"]["distribute-tcp"]
    counts, lost = histogram(result)
    assert sorted(counts) == ["a", "b", "c", "d"]
    assert sum(counts.values()) == 32 and lost == 0
    assert len([n for n in counts.values() if n]) >= 2
    assert result["steps"][-1]["ms"] < 900  # no dropped SYN waiting a second


@kernel
def test_distribute_type_defaults_from_the_sockets(run):
    counts, lost = histogram(run["results"]["distribute-tcp-two-actors"])
    assert sum(counts.values()) == 32 and lost == 0


@kernel
def test_distribute_single_listener_gets_everything(run):
    assert histogram(run["results"]["distribute-single"]) == ({"a": 32}, 0)


@kernel
def test_distribute_udp_spreads_over_reuseport_sockets(run):
    counts, lost = histogram(run["results"]["distribute-udp"])
    assert sum(counts.values()) == 32 and lost == 0
    assert len([n for n in counts.values() if n]) >= 2


@kernel
def test_distribute_multicast_reaches_every_member(run):
    result = run["results"]["distribute-multicast"]
    assert histogram(result) == ({"a": 8, "b": 8}, 0), result


@kernel
def test_each_scenario_has_its_own_namespace(run):
    assert outcomes(run["results"]["isolated-1"]) == ["ok"] * 8
    assert outcomes(run["results"]["isolated-2"]) == ["ok"] * 2


# ---------------------------------------------------------------------------
# Runs of their own: privileges, budgets, signals

@kernel
@needs_root
def test_without_root_users_are_skipped_and_namespaces_fail():
    try:
        nobody = __import__("pwd").getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")

    def become_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    # nobody may not be able to reach the checkout (a 0700 temp dir, say): run a
    # copy of the agent from a world-readable folder with the real interpreter.
    folder = tempfile.mkdtemp()
    os.chmod(folder, 0o755)
    agent = shutil.copy(AGENT, folder)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else os.path.realpath(sys.executable)
    doc = request([scenario("as-root", tcp("a"), actors={"main": {"user": "root"}}),
                   scenario("plain", tcp("a"))], netns=False)
    try:
        lines, proc = run_agent(doc, python=python, preexec_fn=become_nobody, agent=agent)
        doc["options"]["netns"] = True
        lines_netns, _ = run_agent(doc, python=python, preexec_fn=become_nobody, agent=agent)
    finally:
        shutil.rmtree(folder)
    assert proc.returncode == 0, proc.stderr
    results = by_id(lines)
    assert results["as-root"]["status"] == "skipped"
    assert results["as-root"]["reason"] == "actor main: switching to user root needs root"
    assert results["plain"]["status"] == "ran"
    for result in by_id(lines_netns).values():
        assert result["status"] == "error"
        assert result["reason"] == "unshare(CLONE_NEWNET): EPERM"


@kernel
@needs_root
def test_scenario_timeout_is_an_error_and_the_run_goes_on():
    mark = uuid.uuid4().hex
    slow = scenario("slow", tcp("a", actor="other") + listener("b") + [step("sleep", ms=5000)],
                    actors={"main": {"user": None}, "other": {"user": None}})
    after = scenario("after", tcp("a"))
    start = time.time()
    lines, proc = run_agent(request([slow, after], scenario_timeout_ms=300), mark=mark)
    assert time.time() - start < 4
    results = by_id(lines)
    assert results["slow"]["status"] == "error"
    assert "scenario_timeout_ms" in results["slow"]["reason"]
    assert outcomes(results["slow"]) == ["ok"] * 5  # what finished before the budget ran out
    assert 300 <= results["slow"]["ms"] < 2000
    assert results["after"]["status"] == "ran"
    assert lines[-1]["event"] == "end"
    assert marked_processes(mark) == []


@kernel
@needs_root
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signalled_agent_takes_its_scenario_down(signum):
    mark = uuid.uuid4().hex
    doc = request([scenario("long", listener("a") + [step("sleep", ms=30000)],
                            actors={"main": {"user": None}, "other": {"user": None}})])
    env = dict(os.environ, **{MARK: mark})
    proc = subprocess.Popen([sys.executable, AGENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env)
    try:
        proc.stdin.write(json.dumps(doc).encode())
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["event"] == "hello"
        assert json.loads(proc.stdout.readline())["event"] == "environment"
        deadline = time.time() + 10
        while len(marked_processes(mark)) < 4 and time.time() < deadline:  # agent, supervisor, 2 actors
            time.sleep(0.01)
        assert len(marked_processes(mark)) == 4
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == -signum
        assert proc.stdout.read() == b""  # no `end`: the run was cut short
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert marked_processes(mark) == []


def test_getsockopt_reports_what_the_kernel_returned_never_normalised(monkeypatch):
    # No BSD kernel here: a socket that answers as FreeBSD's sogetopt does (the flag bit, 0x200).
    class BsdSocket(object):
        def getsockopt(self, level, number, *size):
            return 0x200

    kernel = agent.HostKernel()
    kernel.family, kernel.table = "freebsd", agent.option_table("freebsd", "amd64")
    actor = agent.Actor(None, kernel)
    actor.socks["a"] = BsdSocket()
    assert actor.op_getsockopt({"sock": "a", "opt": "SO_REUSEPORT", "level": None}) == {"value": 512, "raw": 512}


@kernel
@needs_root
def test_thousands_of_sockets_are_waited_on_with_poll_and_never_become_a_false_errno():
    # select() refuses descriptors above 1023: a connect made after 1,100 sockets must still be
    # the kernel's answer (ok), and a distribute over 1,000 listeners must run.
    many = [step("socket", sock="x%d" % i, type="udp") for i in range(1100)]
    connect = listener("l", reuseport=False) + [step("socket", sock="c", type="tcp"),
                                                step("connect", sock="c", addr="loopback", port="P")]
    wide = []
    for i in range(1000):
        wide += listener("w%d" % i, backlog=4)
    wide.append(step("distribute", to={"addr": "loopback", "port": "P"}, over=["w%d" % i for i in range(1000)],
                     count=32, type="tcp"))
    lines, proc = run_agent(request([scenario("many", many + connect), scenario("wide", wide)]), timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = by_id(lines)
    assert results["many"]["status"] == "ran" and results["many"]["steps"][-1]["outcome"] == "ok", \
        results["many"]["steps"][-1]
    assert results["wide"]["status"] == "ran", results["wide"].get("reason")
    distribute = results["wide"]["steps"][-1]
    assert distribute["outcome"] == "ok" and sum(distribute["histogram"].values()) == 32


@kernel
@needs_root
def test_scenarios_in_namespaces_run_side_by_side_and_report_in_input_order():
    quick = [scenario("q%d" % i, listener("a") + listener("b")) for i in range(6)]
    hung = scenario("hung", [step("sleep", ms=5000)])
    doc = request(quick[:3] + [hung] + quick[3:], netns=True)
    doc["options"].update(parallel=3, scenario_timeout_ms=1500)
    mark = uuid.uuid4().hex
    start = time.monotonic()
    lines, proc = run_agent(doc, mark=mark)
    assert proc.returncode == 0, proc.stderr
    results = [line for line in lines if line["event"] == "scenario"]
    assert [r["id"] for r in results] == ["q0", "q1", "q2", "hung", "q3", "q4", "q5"]
    assert results[3]["status"] == "error" and "scenario_timeout_ms" in results[3]["reason"]
    assert all(r["status"] == "ran" for i, r in enumerate(results) if i != 3)
    assert time.monotonic() - start < 4  # the others did not wait behind the hung one
    assert marked_processes(mark) == []


def test_scenarios_without_namespaces_never_share_the_machine():
    assert agent.width({"netns": False, "parallel": 8}) == 1
