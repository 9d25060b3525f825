"""The run stage without root: the protocol module, the Runner driving the real agent, the results file.

The agent runs as a plain subprocess here (no network namespace, so no root
needed): scenarios bind only 127.0.0.1 ports the agent picked as free.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
from conftest import harness

from harness.model import Identity, ScenarioVerdict
from harness.run import protocol, results
from harness.run.protocol import RunOptions, agent_input
from harness import transport
from harness.transport import AgentError, LineReader
from harness.run.runner import Listener, Runner
from harness.scenario.loader import load_suite
from harness.targets.base import AGENT_PATH, AgentSession, Availability, Target, TargetInfo
from harness.targets.process import ProcessSession

SUITE = """suite: run
scenarios:
  - name: bind-twice
    steps:
      - {op: socket, sock: a, type: tcp}
      - {op: bind, sock: a, addr: loopback, port: P}
      - {op: socket, sock: b, type: tcp}
      - {op: bind, sock: b, addr: loopback, port: P, expect: EADDRINUSE}
  - name: wrong-expectation
    steps:
      - {op: socket, sock: a, type: tcp, expect: {linux: EACCES, default: EPERM}}
  - name: bsd-only
    only: bsd
    steps: [{op: sleep, ms: 1}]
  - name: slow
    steps: [{op: sleep, ms: 3000}]
"""


def scenarios(tmp_path: Path, text: str = SUITE):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return load_suite(str(path)).scenarios


class PlainAgent(Target):
    """The real agent as a subprocess of this test, or any command standing in for it."""

    def __init__(self, name: str = "plain", argv: Optional[list[str]] = None, why_not: str = "") -> None:
        self.info = TargetInfo(name, "test", "the agent without namespaces")
        self.argv = argv or [sys.executable, str(AGENT_PATH)]
        self.why_not = why_not
        self.released: Optional[tuple[bool, bool]] = None

    def availability(self) -> Availability:
        return Availability(not self.why_not, self.why_not)

    def launch(self, needs_root: bool = False) -> AgentSession:
        return ProcessSession(self.argv)

    def release(self, ok: bool, interrupted: bool = False) -> None:
        self.released = (ok, interrupted)


class Recorder(Listener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        self.events.append(("ready", ident.family if ident else f"unavailable: {reason}"))

    def verdict(self, verdict: ScenarioVerdict) -> None:
        self.events.append((verdict.verdict, verdict.scenario.name))


def by_name(runner: Runner) -> dict[str, ScenarioVerdict]:
    return {v.scenario.name: v for v in runner.verdicts}


# --- the runner -------------------------------------------------------------------------------

def test_runner_judges_what_the_agent_observed(tmp_path):
    chosen = [sc for sc in scenarios(tmp_path) if sc.name != "slow"]
    recorder, target = Recorder(), PlainAgent()
    runner = Runner(chosen, RunOptions(), [recorder])
    runner.run([target])
    v = by_name(runner)
    assert v["bind-twice"].verdict == "pass"
    assert v["bind-twice"].steps[3].observed.outcome == "EADDRINUSE"  # the kernel refused the second bind
    assert v["wrong-expectation"].verdict == "fail" and "expected EACCES [linux], observed ok" in v[
        "wrong-expectation"].reason
    assert v["bsd-only"].verdict == "skipped" and v["bsd-only"].reason.startswith("only for bsd")
    assert recorder.events[0] == ("ready", "linux") and runner.identities["plain"].family == "linux"
    assert target.released == (False, False)  # one scenario failed


class EndWatching(ProcessSession):
    """A session that records whether the agent had said `end` when the runner closed it."""

    ended_at_close: list[bool] = []

    def close(self) -> int:
        EndWatching.ended_at_close.append(self.ended)
        return super().close()


def test_the_session_is_closed_after_the_agents_end_not_before(tmp_path):
    # Closing before `end` makes a VM session take the agent for stuck: it is killed (a second lost,
    # and a machine whose agent was killed is not saved). The runner reads `end` after the last result.
    target = PlainAgent()
    target.launch = lambda needs_root=False: EndWatching(target.argv)
    EndWatching.ended_at_close.clear()
    Runner([sc for sc in scenarios(tmp_path) if sc.name == "bind-twice"], RunOptions(), [Recorder()]).run([target])
    assert EndWatching.ended_at_close == [True] and target.released == (True, False)


def test_an_agent_that_dies_early_makes_errors_that_still_say_what_was_expected(tmp_path):
    hello = json.dumps(agent_hello())
    target = PlainAgent(argv=[sys.executable, "-c", f"print({hello!r}); import sys; sys.stdin.read()"])
    runner = Runner(scenarios(tmp_path)[:2], RunOptions(), [Recorder()])
    runner.run([target])
    v = by_name(runner)
    assert {x.verdict for x in v.values()} == {"error"}
    assert "agent exited with status 0 before finishing" in v["bind-twice"].reason
    assert [s.rule for s in v["wrong-expectation"].steps] == [0]  # linux: EACCES, for the report
    assert all(s.observed is None for x in v.values() for s in x.steps)


def test_an_agent_that_speaks_another_protocol_is_an_error(tmp_path):
    hello = json.dumps({**agent_hello(), "protocol": 99})
    runner = Runner(scenarios(tmp_path)[:1], RunOptions(), [Recorder()])
    runner.run([PlainAgent(argv=[sys.executable, "-c", f"print({hello!r})"])])
    assert f"agent speaks protocol 99, the harness {protocol.VERSION}" in runner.verdicts[0].reason


def test_unavailable_target_skips_everything_with_the_reason(tmp_path):
    recorder = Recorder()
    runner = Runner(scenarios(tmp_path), RunOptions(), [recorder])
    runner.run([PlainAgent(why_not="no box here")])
    assert {v.verdict for v in runner.verdicts} == {"skipped"}
    assert runner.verdicts[0].reason == "target unavailable: no box here"
    assert recorder.events[0] == ("ready", "unavailable: no box here") and runner.identities["plain"] is None


def test_stop_kills_the_agent_and_keeps_what_finished(tmp_path):
    chosen = [sc for sc in scenarios(tmp_path) if sc.name in ("bind-twice", "slow")]
    runner = Runner(chosen, RunOptions(), [Recorder()])
    thread = threading.Thread(target=runner.run, args=([PlainAgent()],))
    start = time.monotonic()
    thread.start()
    while not runner.verdicts and time.monotonic() - start < 10:
        time.sleep(0.01)
    runner.stop()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - start < 2.5  # the 3 s sleep did not finish
    assert [v.scenario.name for v in runner.verdicts] == ["bind-twice"]


def agent_hello() -> dict:
    return {"event": "hello", "protocol": protocol.VERSION, "identity": {"system": "Linux", "release": "6.1",
                                                                        "version": "6.1", "family": "linux"}}


# --- the protocol module ----------------------------------------------------------------------

def test_agent_input_carries_every_field_and_no_expectation(tmp_path):
    doc = agent_input(scenarios(tmp_path)[:1], RunOptions(step_timeout_ms=1234), netns=True)
    assert doc["protocol"] == protocol.VERSION
    assert doc["options"] == {"netns": True, "parallel": 0, "step_timeout_ms": 1234, "scenario_timeout_ms": 60000,
                              "host_sysctl": False}
    plan = doc["scenarios"][0]
    assert plan["id"] == "run/bind-twice" and plan["actors"] == {"main": {"user": None}}
    assert plan["steps"][0] == {"op": "socket", "actor": "main", "sock": "a", "type": "tcp", "family": "inet",
                                 "v6only": None}
    assert "expect" not in json.dumps(doc)


def test_agent_input_carries_settings_groups_and_the_host_sysctl_choice(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("suite: g\nscenarios:\n  - name: s\n    sysctl: {net.ipv4.ip_local_port_range: 1 2,"
                    " net.inet6.ip6.v6only: 0}\n    actors: {x: {}}\n    steps:\n"
                    "      - {op: socket, sock: a, type: udp, actor: x}\n"
                    "      - together: [{op: close, sock: a}, {op: socket, sock: b, type: udp}]\n")
    doc = agent_input(load_suite(str(path)).scenarios, RunOptions(host_sysctl=True), netns=False)
    assert doc["options"]["host_sysctl"] is True
    plan = doc["scenarios"][0]
    assert plan["sysctl"] == [
        {"name": "net.ipv4.ip_local_port_range", "value": "1 2", "systems": ["linux"], "per_netns": True},
        {"name": "net.inet6.ip6.v6only", "value": "0", "systems": ["freebsd", "netbsd", "darwin"], "per_netns": False}]
    assert [step.get("together") for step in plan["steps"]] == [None, 1, 1]


def test_host_sysctl_is_a_run_option(tmp_path):
    proc = harness("run", "--help")
    assert "--host-sysctl" in proc.stdout and "restored after each scenario" in " ".join(proc.stdout.split())


def test_line_reader_joins_chunks_and_keeps_a_last_line_without_newline():
    chunks = [b'{"a":', None, b' 1}\n{"b"', b": 2}\ntail", b""]
    reader = LineReader(lambda wait: chunks.pop(0))
    assert [reader.read_line(1), reader.read_line(1), reader.read_line(1), reader.read_line(1)] == [
        '{"a": 1}', '{"b": 2}', "tail", None]


def test_line_reader_times_out_on_silence():
    reader = LineReader(lambda wait: time.sleep(min(wait, 0.05)))
    with pytest.raises(AgentError, match="no output for 0 s"):
        reader.read_line(0.2)


@pytest.mark.parametrize("line, message", [
    ("not json", "not JSON"),
    ("[1, 2]", "unexpected line"),
    ('{"no": "event"}', "unexpected line"),
])
def test_lines_that_are_not_events_are_agent_errors(line, message):
    with pytest.raises(AgentError, match=message):
        transport.parse_event(line)


def test_hello_decodes_the_identity():
    ident = protocol.identity_from_hello(agent_hello())
    assert (ident.family, ident.version, ident.machine) == ("linux", "6.1", "")
    with pytest.raises(AgentError, match="did not greet first"):
        protocol.identity_from_hello({"event": "end"})


# --- the results file -------------------------------------------------------------------------

def test_results_writer_keeps_the_given_order_and_flushes_within_half_a_second(tmp_path):
    chosen = [sc for sc in scenarios(tmp_path) if sc.name != "slow"]
    path = tmp_path / "out" / "results.json"
    writer = results.ResultsWriter(path, ["harness", "run"], ["run.yaml"], ["plain"], [sc.id for sc in chosen])
    Runner(list(reversed(chosen)), RunOptions(), [writer]).run([PlainAgent()])
    deadline = time.monotonic() + results.FLUSH_INTERVAL + 0.5
    while time.monotonic() < deadline and len(json.loads(path.read_text())["results"]) < len(chosen):
        time.sleep(0.05)
    doc = json.loads(path.read_text())
    assert [r["scenario"] for r in doc["results"]] == ["bind-twice", "wrong-expectation", "bsd-only"]
    assert not doc["complete"] and doc["summary"] == {"pass": 1, "fail": 1, "error": 0, "skipped": 1}
    writer.finish(interrupted=False)
    doc = json.loads(path.read_text())
    assert doc["complete"] and doc["finished"] and doc["targets"][0]["identity"]["family"] == "linux"
    step = doc["results"][0]["steps"][3]
    assert (step["rule"], step["expected"], step["observed"]["outcome"], step["match"]) == (
        0, "EADDRINUSE", "EADDRINUSE", True)
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # nothing left aside


def test_the_local_agent_runs_compiled_from_a_cache_only_we_can_write(tmp_path, monkeypatch):
    """A local run starts the agent from its bytecode, kept under its source's hash in the cache folder;
    a folder others could write is never run from (the agent runs as root), nor stale bytecode."""
    from harness.targets import local

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_AGENT_PYTHON", raising=False)
    compiled = local.compiled_agent()
    assert compiled is not None and compiled.parent == tmp_path / "cache" / "agent"
    assert local.agent_command()[-1] == str(compiled) and compiled.stat().st_mode & 0o022 == 0
    hello = subprocess.run([*local.agent_command(), "--identity"], capture_output=True, text=True, timeout=60)
    assert json.loads(hello.stdout)["event"] == "hello"  # the bytecode is the agent
    compiled.parent.chmod(0o777)
    assert local.compiled_agent() is None and local.agent_command()[-1] == str(local.AGENT_PATH)
    compiled.parent.chmod(0o700)
    monkeypatch.setattr(local, "AGENT_PATH", tmp_path / "agent.py")
    (tmp_path / "agent.py").write_text("print('an edited agent')\n")
    assert local.compiled_agent() != compiled  # another source, another file: never the stale one
