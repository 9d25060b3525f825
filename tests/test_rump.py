"""The `rump` target: NetBSD's network stack (a rump kernel) run by the agent, against the scenarios.

The kernel tests run NetBSD's own code from the libraries HARNESS_RUMP_LIB names: scripts/test.sh
points it at the copy scripts/setup.sh unpacks from ../shared/rump-netbsd/. Where there is none,
they are skipped and say so. The faults are real ones: a folder without the libraries, libraries of
another machine, a kernel that panics while it boots, one that hangs; a crash in the middle of a
scenario is a SIGSEGV delivered while the supervisor waits inside the kernel.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import IS_ROOT, ROOT, SEED, default_signals, harness, results

from test_agent import every_op_steps, other_interpreters

from harness import agent
from harness.scenario.loader import load_files
from harness.targets import rump
from harness.targets.registry import TargetSettings, select_targets

LIB = os.environ.get("HARNESS_RUMP_LIB", "")
HAVE_RUMP = bool(LIB) and (Path(LIB) / "librump.so").exists()
needs_rump = pytest.mark.skipif(
    not HAVE_RUMP, reason="no NetBSD rump kernel libraries: run the tests through scripts/test.sh, which unpacks "
                          "../shared/rump-netbsd/*.tar.gz into .venv/share/rump (scripts/setup.sh) and sets "
                          "HARNESS_RUMP_LIB")
AGENT = str(ROOT / "harness" / "agent.py")


def rump_env(lib: str = LIB, **extra: str) -> dict:
    return {"HARNESS_RUMP_LIB": lib, **extra}


def run_agent(doc: dict, lib: str = LIB, timeout: float = 120, env: dict | None = None) -> list[dict]:
    proc = subprocess.run([sys.executable, AGENT, "--rump", lib], input=json.dumps(doc).encode(),
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})})
    return [json.loads(line) for line in proc.stdout.decode().splitlines()]


def sock_steps(count: int) -> list[dict]:
    return [{"op": "socket", "actor": "main", "sock": f"s{i}", "type": "tcp", "family": "inet", "v6only": None}
            for i in range(count)]


def plan(*scenarios: dict, **options) -> dict:
    return {"protocol": agent.PROTOCOL, "options": {"netns": False, "step_timeout_ms": 2000,
                                                     "scenario_timeout_ms": 10000, **options},
            "scenarios": list(scenarios)}


# ---------------------------------------------------------------------------
# Every scenario file on NetBSD's kernel

@pytest.fixture(scope="module")
def library_run(tmp_path_factory):
    """`harness run scenarios/ --targets rump`, once for the tests that read it."""
    if not HAVE_RUMP:
        pytest.skip(needs_rump.kwargs["reason"])
    out = tmp_path_factory.mktemp("rump-run")
    proc = harness("run", "scenarios/", "--targets", "rump", "--out", str(out), env=rump_env(), timeout=600)
    return proc, results(out)


@needs_rump
def test_every_scenario_file_passes_on_netbsd_or_is_not_applicable(library_run):
    proc, doc = library_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    verdicts = {r["id"]: r for r in doc["results"]}
    assert len(verdicts) == len([sc for suite in load_files(["scenarios/"]) for sc in suite.scenarios])
    skipped = [r for r in verdicts.values() if r["verdict"] == "skipped"]
    assert {r["verdict"] for r in verdicts.values()} <= {"pass", "skipped"}
    # only variants no system can run (a second IPv6 loopback, an IPv4 group on AF_INET6 sockets), peer
    # tests that claim nothing of NetBSD (only:), and actors at the same time, which one thread cannot run
    reasons = ("IPv6", "IPv4 only", "only for ", "together: actors cannot run at the same time")
    assert all(any(reason in r["reason"] for reason in reasons) for r in skipped), skipped
    assert [r for r in skipped if "only for " in r["reason"]] == [
        r for r in skipped if "only for " in r["reason"] and r["id"].startswith("peer-")]


@needs_rump
def test_the_identity_is_netbsd_799_on_this_linux_neither_emulated_nor_a_netbsd_machine(library_run):
    target = library_run[1]["targets"][0]
    ident = target["identity"]
    assert (ident["system"], ident["family"], target["provider"]) == ("NetBSD", "netbsd", "rump")
    assert ident["version"].startswith("7.99.") and not ident["emulated"]
    assert ident["release"] == f"{ident['version']}, rump kernel on Linux {os.uname().release}"
    assert ident["label"].startswith(f"netbsd {ident['version']} (") and "rump kernel on Linux" in ident["label"]
    assert target["environment"] == {"where": "each scenario's own rump kernel, as booted",
                                      "values": {"net.inet6.ip6.v6only": "1"}}


@needs_rump
def test_every_netbsd_and_bsd_expectation_was_judged_against_the_kernel(library_run):
    """Each step whose expectation names netbsd or bsd was run on rump and judged by such a rule, or a
    more specific one of NetBSD's (netbsd[inet6]), never by `default`."""
    judged = {(r["id"], s["index"]): s for r in library_run[1]["results"] for s in r["steps"]}
    checked = 0
    for suite in load_files(["scenarios/"]):
        for sc in suite.scenarios:
            for step in sc.steps:
                families = {rule.selector.family for rule in step.expect.rules}
                record = judged.get((sc.id, step.index))
                if not families & {"netbsd", "bsd"} or record is None or record.get("observed") is None:
                    continue
                assert record["match"], (sc.id, step.index, record)
                assert record["selector"].split("[")[0].split("<")[0].split(">")[0] in ("netbsd", "bsd"), \
                    (sc.id, step.index, record["selector"])
                checked += 1
    assert checked >= 80


@needs_rump
def test_seed_000_gives_every_connection_to_the_last_bound_listener(library_run):
    row = next(r for r in library_run[1]["results"] if r["id"] == "reuseport/distribute-tcp-four-listeners[inet]")
    distribute = row["steps"][-1]
    assert distribute["observed"]["histogram"] == {"s0": 0, "s1": 0, "s2": 0, "s3": 32}
    assert distribute["observed"]["lost"] == 0 and distribute["expected"] == "single:s3"


@needs_rump
@pytest.mark.skipif(not IS_ROOT, reason="local and local-legacy need root for network namespaces")
def test_seed_000_contrast_linux_spreads_38_refuses_netbsd_gives_one_listener(tmp_path):
    proc = harness("run", str(SEED), "--targets", "local,local-legacy,rump", "--out", str(tmp_path),
                   env=rump_env(), timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    rows = {(r["target"], r["id"]): r for r in results(tmp_path)["results"]}
    seed = "reuseport/distribute-tcp-four-listeners[inet]"
    linux = rows[("local", seed)]["steps"][-1]["observed"]["histogram"]
    legacy = rows[("local-legacy", seed)]["steps"]
    netbsd = rows[("rump", seed)]["steps"][-1]["observed"]["histogram"]
    assert sum(1 for n in linux.values() if n) > 1
    assert legacy[4]["observed"]["outcome"] == "ENOPROTOOPT" and legacy[-1]["observed"]["histogram"]["s0"] == 32
    assert netbsd["s3"] == 32


# ---------------------------------------------------------------------------
# The agent on a rump kernel, directly

@needs_rump
@pytest.mark.parametrize("python", other_interpreters() + [sys.executable])
def test_every_op_runs_on_netbsds_kernel_under_every_python(python):
    """Each op answers through a RumpSocket as through a socket-module socket (an op whose agent method
    calls what RumpSocket lacks fails here), under the old Pythons the agent supports too."""
    proc = subprocess.run([python, AGENT, "--rump", LIB], input=json.dumps(plan(
        {"id": "every-op", "actors": {"main": {"user": None}}, "steps": every_op_steps()})).encode(),
        capture_output=True, timeout=120)
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert lines[0]["identity"]["family"] == "netbsd", proc.stderr
    assert [s["outcome"] for s in lines[2]["steps"]] == ["ok"] * len(every_op_steps()), lines[2]


@needs_rump
def test_actors_are_processes_of_one_kernel_with_their_own_users():
    """root's listener and nobody's: NetBSD refuses nobody the port root holds (in_pcbbind_port, uid
    check), and lets nobody share a port with itself; no root needed on the host for that."""
    def bind(actor, sock, reuse):
        return [{"op": "socket", "actor": actor, "sock": sock, "type": "tcp", "family": "inet", "v6only": None},
                {"op": "setsockopt", "actor": actor, "sock": sock, "opt": "SO_REUSEPORT", "value": int(reuse),
                 "level": None},
                {"op": "bind", "actor": actor, "sock": sock, "addr": "loopback", "port": "P"}]
    actors = {"main": {"user": None}, "other": {"user": "nobody"}, "other2": {"user": "nobody"}}
    doc = plan({"id": "t/users", "actors": actors,
                "steps": bind("main", "a", True) + bind("other", "b", True)},
               {"id": "t/same-user", "actors": actors,
                "steps": bind("other", "a", True) + bind("other2", "b", True)},
               {"id": "t/nobody-no-such", "actors": {"main": {"user": "no-such-user-here"}}, "steps": sock_steps(1)})
    lines = {e["id"]: e for e in run_agent(doc) if e["event"] == "scenario"}
    assert lines["t/users"]["steps"][-1] == {"outcome": "EADDRINUSE", "errno": 48,
                                             "ms": lines["t/users"]["steps"][-1]["ms"]}
    assert [s["outcome"] for s in lines["t/same-user"]["steps"]] == ["ok"] * 6
    assert lines["t/nobody-no-such"]["status"] == "skipped"


@needs_rump
def test_each_scenario_boots_a_kernel_of_its_own():
    """Port 7777 in TIME_WAIT (a client bound it, then closed first) refuses a bind in the same kernel,
    and not in the next scenario's: scenarios never share a kernel, one at a time or side by side."""
    def step(op, sock, **fields):
        return {"op": op, "actor": "main", "sock": sock, **fields}

    def tcp(sock):
        return step("socket", sock, type="tcp", family="inet", v6only=None)

    time_wait = [tcp("l"), step("bind", "l", addr="loopback", port="P"), step("listen", "l", backlog=4), tcp("c"),
                 step("bind", "c", addr="loopback", port=7777),
                 step("connect", "c", addr="loopback", port="P", timeout_ms=2000),
                 step("accept", "l", timeout_ms=2000, **{"as": "s"}), step("close", "c"),
                 step("recv", "s", size=10, timeout_ms=2000), step("close", "s"), tcp("n"),
                 step("bind", "n", addr="any", port=7777)]
    bind = [tcp("n"), step("bind", "n", addr="any", port=7777)]
    for parallel in (1, 2):
        lines = [e for e in run_agent(plan({"id": "t/1", "actors": {"main": {}}, "steps": time_wait},
                                           {"id": "t/2", "actors": {"main": {}}, "steps": bind}, parallel=parallel))
                 if e["event"] == "scenario"]
        assert [e["steps"][-1]["outcome"] for e in lines] == ["EADDRINUSE", "ok"]


@needs_rump
@pytest.mark.parametrize("kind", ["udp", "tcp"])
def test_distribute_loses_nothing_when_the_supervisor_drains_the_actors_itself(kind):
    """200 datagrams or connections to one socket of another actor: with no receive loop of its own it
    is drained between sends, paced (a burst of datagrams would overflow its receive buffer: ~80 fit)."""
    steps = [{"op": "socket", "actor": "other", "sock": "a", "type": kind, "family": "inet", "v6only": None},
             {"op": "bind", "actor": "other", "sock": "a", "addr": "loopback", "port": "P"}]
    if kind == "tcp":
        steps.append({"op": "listen", "actor": "other", "sock": "a", "backlog": 16})
    steps.append({"op": "distribute", "actor": "main", "to": {"addr": "loopback", "port": "P"}, "over": ["a"],
                  "count": 200, "type": kind, "timeout_ms": 5000})
    lines = run_agent(plan({"id": "t/many", "actors": {"main": {}, "other": {}}, "steps": steps}))
    assert lines[2]["steps"][-1]["histogram"] == {"a": 200} and lines[2]["steps"][-1]["lost"] == 0


@needs_rump
def test_waits_on_sockets_shut_for_reading_end_at_their_deadlines():
    """NetBSD counts a socket shut for reading as readable (soreadable) while a non-blocking accept on it
    says EWOULDBLOCK and a datagram socket reads end of file: the accept, recv and distribute steps still end
    at their own deadlines (they once spun until the scenario's timeout)."""
    def step(op, sock, **fields):
        return {"op": op, "actor": "main", "sock": sock, **fields}
    steps = [step("socket", "l", type="tcp", family="inet", v6only=None), step("listen", "l", backlog=4),
             step("shutdown", "l", how="rd"), step("accept", "l", timeout_ms=300, **{"as": "a"}),
             step("socket", "u", type="udp", family="inet", v6only=None), step("bind", "u", addr="loopback", port="P"),
             step("shutdown", "u", how="rd"), step("recv", "u", size=10, timeout_ms=300),
             {"op": "distribute", "actor": "main", "to": {"addr": "loopback", "port": "P"}, "over": ["u", "l"],
              "count": 8, "type": "udp", "timeout_ms": 300}]
    start = time.monotonic()
    lines = run_agent(plan({"id": "t/shut", "actors": {"main": {}}, "steps": steps}, scenario_timeout_ms=20000))
    took = time.monotonic() - start
    outcomes = [s["outcome"] for s in lines[2]["steps"]]
    assert outcomes[3] == "timeout" and outcomes[7:] == ["ok", "ok"], lines[2]["steps"]
    assert lines[2]["steps"][7]["bytes"] == 0  # end of file, at once
    assert lines[2]["steps"][8]["lost"] == 8 and took < 10, (took, lines[2]["steps"])


@needs_rump
def test_netbsds_bind_sees_an_accepted_connections_time_wait_only_on_ports_that_hash_with_port_0():
    """The fact behind timewait's `netbsd: ok`, and why symbolic ports on rump are never multiples of 128."""
    def time_wait_then_bind(port):
        def step(op, sock, **fields):
            return {"op": op, "actor": "main", "sock": sock, **fields}
        tcp = {"type": "tcp", "family": "inet", "v6only": None}
        return {"id": f"t/{port}", "actors": {"main": {}}, "steps": [
            step("socket", "l", **tcp), step("bind", "l", addr="any", port=port), step("listen", "l", backlog=4),
            step("socket", "c", **tcp), step("connect", "c", addr="loopback", port=port, timeout_ms=2000),
            step("accept", "l", timeout_ms=2000, **{"as": "s"}), step("close", "s"),
            step("recv", "c", size=10, timeout_ms=2000), step("close", "c"), step("close", "l"),
            step("socket", "n", **tcp), step("bind", "n", addr="any", port=port)]}
    lines = [e for e in run_agent(plan(*[time_wait_then_bind(port) for port in (49152, 49153, 51200, 51201)]))
             if e["event"] == "scenario"]
    assert [e["steps"][-1]["outcome"] for e in lines] == ["EADDRINUSE", "ok", "EADDRINUSE", "ok"]


@needs_rump
def test_symbolic_ports_on_rump_are_never_multiples_of_128(library_run):
    def obtained(result):  # ports a getsockname step read from the kernel (`as`): the kernel's pick, not ours
        return {s["args"]["as"] for s in result["steps"] if s["op"] == "getsockname" and s["args"].get("as")}
    ports = [port for r in library_run[1]["results"] for name, port in (r.get("ports") or {}).items()
             if name not in obtained(r)]
    assert len(ports) > 150 and not [port for port in ports if port % 128 == 0]


@needs_rump
def test_sockets_beyond_netbsds_default_soft_limit_of_128():
    lines = run_agent(plan({"id": "t/many", "actors": {"main": {}}, "steps": sock_steps(300)}))
    assert {s["outcome"] for s in lines[2]["steps"]} == {"ok"}


@needs_rump
def test_each_step_sees_what_the_steps_before_it_sent_however_busy_the_host(tmp_path):
    """A rump kernel handles loopback packets on a host thread of its own (a NetBSD machine, before
    the sending call returns): the agent lets it settle before each step. Without that, 1 to 38 of 150
    `pending` right after a `sendto` saw 0 on this idle machine, 2 to 96 beside two busy processes
    (as here): every one of 12 such runs failed."""
    pairs = 400
    steps = ["{op: socket, sock: a, type: udp}", "{op: socket, sock: b, type: udp}",
             "{op: bind, sock: a, addr: loopback, port: 0}", "{op: getsockname, sock: a, as: PA}"]
    steps += ['{op: sendto, sock: b, data: "*", addr: loopback, port: PA}',
              "{op: pending, sock: a, expect: {value: 17}}",  # NetBSD counts the 16-byte sender address
              "{op: recv, sock: a}"] * pairs
    (tmp_path / "settle.yaml").write_text("suite: settle\nscenarios:\n  - name: sent-then-pending\n    steps:\n"
                                          + "".join(f"      - {step}\n" for step in steps))

    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=default_signals)
                for _ in range(2)]
    try:
        proc = harness("run", str(tmp_path / "settle.yaml"), "--targets", "rump", "--out", str(tmp_path / "out"),
                       env=rump_env(), timeout=300)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (result,) = results(tmp_path / "out")["results"]
    assert [s["observed"].get("value") for s in result["steps"] if s["op"] == "pending"] == [17] * pairs


def test_a_settle_waits_for_threads_at_work_and_says_which_never_stopped():
    """The settle's look at /proc, here at other processes' threads: one at work (a busy loop) is
    seen until it stops, and one that never stops within the step's time is an infrastructure error
    naming it, not a silent wrong answer; a sleeping one is no reason to wait."""
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"], preexec_fn=default_signals)
    idle = subprocess.Popen(["sleep", "60"], preexec_fn=default_signals)
    try:
        kernel = object.__new__(agent.RumpKernel)  # only its threads are looked at: no kernel booted
        kernel.threads = agent.OtherThreads(f"/proc/{busy.pid}/task")
        assert kernel.threads.busy() == ["sh"]
        with pytest.raises(agent.InfraError, match=r"threads sh were still running after the step timeout"):
            kernel.settle(agent.now() + 0.1)
        kernel.threads = agent.OtherThreads(f"/proc/{idle.pid}/task")
        started = time.monotonic()
        kernel.settle(agent.now() + 5)
        assert kernel.threads.busy() == [] and time.monotonic() - started < 1
    finally:
        for proc in (busy, idle):
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------
# Faults: each is this target's error with a reason, and other targets carry on

ONE = "suite: one\nscenarios:\n  - name: bind\n    steps:\n      - {op: socket, sock: a, type: tcp}\n" \
      "      - {op: bind, sock: a, addr: loopback, port: P}\n"


def run_with(tmp_path: Path, lib: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    scenario = tmp_path / "one.yaml"
    scenario.write_text(ONE)
    others = "local" if IS_ROOT else "ref://netbsd-10"
    proc = harness("run", str(scenario), "--targets", f"{others},rump", "--out", str(tmp_path / "out"),
                   env=rump_env(lib, **(env or {})))
    return proc, {r["target"]: r for r in results(tmp_path / "out")["results"]}


def test_a_folder_without_the_libraries_is_an_error_and_local_carries_on(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, rows = run_with(tmp_path, str(empty))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr + proc.stdout
    assert rows["rump"]["verdict"] == "error"
    assert rows["rump"]["reason"] == f"{empty}/librumpuser.so: no such file (a rump kernel needs librumpuser.so in {empty})"
    assert rows["local" if IS_ROOT else "ref:netbsd-10"]["verdict"] == ("pass" if IS_ROOT else "skipped")


@needs_rump
def test_libraries_of_another_machine_are_an_error_that_names_both(tmp_path):
    foreign = tmp_path / "aarch64"
    shutil.copytree(LIB, foreign, symlinks=True)
    for path in foreign.glob("*.so.*"):
        if not path.is_symlink():
            data = bytearray(path.read_bytes())
            data[18:20] = (183).to_bytes(2, "little")  # e_machine: AArch64
            path.chmod(0o644)
            path.write_bytes(bytes(data))
    proc, rows = run_with(tmp_path, str(foreign))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr + proc.stdout
    assert "librumpuser.so is built for 64-bit aarch64; this Python" in rows["rump"]["reason"]
    assert rows["rump"]["reason"].endswith("runs 64-bit x86-64") or "x86-64" not in os.uname().machine


@needs_rump
def test_a_kernel_that_panics_while_booting_says_its_panic(tmp_path):
    # A real panic: uvm_init refuses less memory than the kernel reserves for itself.
    proc, rows = run_with(tmp_path, LIB, {"RUMP_MEMLIMIT": "100000"})
    assert proc.returncode == 3 and "Traceback" not in proc.stderr + proc.stdout
    reason = rows["rump"]["reason"]
    assert "did not boot: the kernel ended without a word (killed by signal 6); its console: panic: uvm_init" in reason
    if IS_ROOT:
        assert rows["local"]["verdict"] == "pass"


@needs_rump
def test_a_kernel_that_hangs_is_its_scenarios_error_and_the_next_one_runs():
    # 1 MB boots, then allocating thousands of sockets waits for memory that never comes.
    lines = run_agent(plan({"id": "t/hang", "actors": {"main": {}}, "steps": sock_steps(3000)},
                           {"id": "t/next", "actors": {"main": {}}, "steps": sock_steps(1)},
                           parallel=1, scenario_timeout_ms=5000), env={"RUMP_MEMLIMIT": "1m"})
    by_id = {e["id"]: e for e in lines if e["event"] == "scenario"}
    assert by_id["t/hang"]["status"] == "error"
    assert by_id["t/hang"]["reason"] == "scenario exceeded scenario_timeout_ms (5000 ms)"
    assert by_id["t/next"]["status"] == "ran" and lines[-1]["event"] == "end"


@needs_rump
def test_a_crash_inside_the_kernel_is_that_scenarios_error_with_the_end_of_its_console():
    doc = plan({"id": "t/crash", "actors": {"main": {}},
                "steps": [{"op": "socket", "actor": "main", "sock": "a", "type": "tcp", "family": "inet",
                           "v6only": None},
                          {"op": "bind", "actor": "main", "sock": "a", "addr": "loopback", "port": "P"},
                          {"op": "listen", "actor": "main", "sock": "a", "backlog": 1},
                          {"op": "accept", "actor": "main", "sock": "a", "as": None, "timeout_ms": 20000}]},
               {"id": "t/next", "actors": {"main": {}}, "steps": sock_steps(1)}, parallel=1, scenario_timeout_ms=30000)
    proc = subprocess.Popen([sys.executable, AGENT, "--rump", LIB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["event"] == "hello"  # its boot probe has come and gone
    proc.stdin.write(json.dumps(doc).encode())
    proc.stdin.close()
    supervisor = None
    deadline = time.monotonic() + 20
    while supervisor is None and time.monotonic() < deadline:  # the scenario's supervisor, waiting in accept
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children and Path(f"/proc/{children[0]}/task").exists() and len(os.listdir(f"/proc/{children[0]}/task")) > 1:
            supervisor = int(children[0])
        time.sleep(0.05)
    assert supervisor is not None
    time.sleep(0.3)  # well inside the kernel's poll by now
    os.kill(supervisor, signal.SIGSEGV)  # what a fault inside the kernel does to the process
    out = proc.stdout.read()
    proc.wait(timeout=60)
    proc.stdout.close()
    proc.stderr.close()
    lines = {e.get("id", e["event"]): e for e in map(json.loads, out.decode().splitlines())}
    assert lines["t/crash"]["status"] == "error"
    assert lines["t/crash"]["reason"].startswith(
        "the scenario's rump kernel crashed: supervisor ended without a result (killed by signal 11)")
    assert lines["t/next"]["status"] == "ran" and "end" in lines


# ---------------------------------------------------------------------------
# The target and its libraries

def test_without_libraries_the_target_is_unavailable_and_says_where_they_go(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_RUMP_LIB", raising=False)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))  # not this checkout's .venv, which has them
    (target,) = select_targets("rump", TargetSettings())
    avail = target.availability()
    assert not avail.available and "HARNESS_RUMP_LIB" in avail.reason and "docs/rump.md" in avail.reason
    assert target.declared().label() == "netbsd 7.99, not measured"
    machine = os.uname().machine
    # Unpacked into the Python environment (as scripts/setup.sh does into .venv): found there.
    unpacked = tmp_path / "venv" / "share" / "rump" / f"netbsd-7.99-rump-net-{machine}" / "lib"
    unpacked.mkdir(parents=True)
    (unpacked / "librump.so").write_bytes(b"")
    (found,) = select_targets("rump", TargetSettings())
    assert found.availability().available and found.folder == unpacked == rump.environment_folder()
    assert "the Python environment's share/rump" in found.info.details["libraries"]
    # A copy a user put in the cache folder wins over it.
    lib = tmp_path / "cache" / "rump" / f"netbsd-7.99-{machine}" / "lib"
    lib.mkdir(parents=True)
    (lib / "librump.so").write_bytes(b"")
    (built,) = select_targets("rump://netbsd", TargetSettings())
    assert built.availability().available and built.folder == lib == rump.cache_folder()


def test_a_run_without_targets_adds_rump_where_its_libraries_are_found(tmp_path, monkeypatch):
    from harness.command_options import default_run_targets

    for name in ("HARNESS_RUMP_LIB", "HARNESS_TARGETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert default_run_targets() == "local,local-legacy"  # none found: nothing said of rump
    unpacked = rump.environment_folder()
    unpacked.mkdir(parents=True)
    (unpacked / "librump.so").write_bytes(b"")
    assert default_run_targets() == "local,local-legacy,rump"
    monkeypatch.setenv("HARNESS_TARGETS", "local")
    assert default_run_targets() == "local"  # named: as named


@needs_rump
def test_the_main_job_has_a_netbsd_column_a_kernel_answered(tmp_path):
    """`harness run FILE` with no --targets, where the libraries are found: NetBSD beside the Linux columns."""
    proc = harness("run", str(SEED), "--out", str(tmp_path), env=rump_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    targets = {t["name"]: t for t in results(tmp_path)["targets"]}
    assert list(targets) == ["local", "local-legacy", "rump"]
    assert targets["rump"]["ran"] and targets["rump"]["identity"]["family"] == "netbsd"


def test_a_rump_url_names_netbsd_or_is_bad_input(tmp_path):
    proc = harness("run", str(SEED), "--targets", "rump://freebsd", "--out", str(tmp_path))
    assert proc.returncode == 2 and "expected rump://netbsd" in proc.stderr


def test_netbsd_sockaddrs_carry_sin_len_and_netbsds_family_numbers():
    import socket

    four = agent.netbsd_sockaddr(socket.AF_INET, ("127.0.0.2", 8080))
    six = agent.netbsd_sockaddr(socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0))
    assert four[:4] == bytes([16, 2, 0x1f, 0x90]) and len(four) == 16
    assert six[:4] == bytes([28, 24, 0, 80]) and len(six) == 28
    assert agent.host_address(four) == ("127.0.0.2", 8080)
    assert agent.host_address(six) == ("::ffff:127.0.0.1", 80, 0, 0)
    with pytest.raises(OverflowError):
        agent.netbsd_sockaddr(socket.AF_INET, ("127.0.0.1", 70000))
