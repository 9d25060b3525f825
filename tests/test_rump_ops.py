"""The agent's newer ops and forms (issue 26) on NetBSD's kernel (the rump target): every op goes through
the same seam as on the host, with NetBSD's numbers; what a rump kernel cannot do is refused with its
reason, never a crash. The host kernel's answers are tests/test_agent_ops.py's."""
from __future__ import annotations

import pytest
from test_agent import step
from test_rump import HAVE_RUMP, needs_rump, plan, run_agent


def tcp(sock: str, actor: str = "main", family: str = "inet") -> dict:
    return step("socket", actor, sock=sock, type="tcp", family=family)


def scenarios() -> list[dict]:
    actors = {"main": {"user": None}, "x": {"user": None}}
    return [
        {"id": "ops", "actors": {"main": {"user": None}}, "steps": [
            tcp("l"), step("bind", sock="l", addr="loopback", port=0), step("getsockname", sock="l", **{"as": "W"}),
            step("listen", sock="l"), tcp("c"), step("connect", sock="c", addr="loopback", port="W"),
            step("accept", sock="l", as_="s"),
            step("poll", sock="s", events=["in", "out"]),
            step("send", sock="c", data="xy", flags=["nosignal"]),
            step("poll", sock="s", events=["in"], timeout_ms=1000),
            step("pending", sock="s"),
            step("poll", sock="s", events=["rdhup"]),
            step("sendto", sock="c", data="", addr="loopback", port="W", flags=["fastopen"]),
            step("socket", sock="u", type="udp"),
            step("bind", sock="u", addr="any", port=0, sockaddr={"family": "unspec"}),
            step("bind", sock="u", addr="loopback", port=0, sockaddr={"len": 8}),
            step("setsockopt", sock="l", opt="IP_BINDANY"),
            step("setsockopt", sock="l", opt="IP_LOCAL_PORT_RANGE", value=[1, 2]),
            step("listen", sock="u"),
            step("socket", sock="v", type="udp"), step("bind", sock="v", addr="loopback", port=0),
            step("getsockname", sock="v", **{"as": "V"}),
            step("sendto", sock="u", data="z", addr="loopback", port="V"),
            step("sleep", ms=50),
            step("pending", sock="v")]},
        {"id": "sysctl", "actors": {"main": {"user": None}}, "steps": [
            tcp("a"), step("bind", sock="a", addr="loopback", port=0), step("getsockname", sock="a")],
         "sysctl": [{"name": "net.inet.ip.anonportmin", "value": "20000", "systems": ["netbsd"], "per_netns": False},
                    {"name": "net.inet.ip.anonportmax", "value": "20001", "systems": ["netbsd"], "per_netns": False}]},
        {"id": "linux-settings", "actors": {"main": {"user": None}}, "steps": [tcp("a")],
         "sysctl": [{"name": "net.ipv4.ip_local_port_range", "value": "1 2", "systems": ["linux"], "per_netns": True}]},
        {"id": "together", "actors": actors, "steps": [
            tcp("a"), tcp("b", actor="x"),
            dict(step("bind", sock="a", addr="loopback", port="P"), together=1),
            dict(step("bind", "x", sock="b", addr="loopback", port="P"), together=1)]},
    ]


@pytest.fixture(scope="module")
def run() -> dict:
    if not HAVE_RUMP:
        pytest.skip(needs_rump.kwargs["reason"])
    return {line["id"]: line for line in run_agent(plan(*scenarios())) if line["event"] == "scenario"}


def outcomes(result: dict) -> list[str]:
    return [s["outcome"] for s in result["steps"]]


@needs_rump
def test_every_new_op_runs_on_netbsd_with_netbsd_s_answers(run: dict) -> None:
    result = run["ops"]
    assert result["status"] == "ran", result
    got = result["steps"]
    assert got[2]["port"] == result["ports"]["W"] and got[2]["range"] == [49152, 65535]  # NetBSD's anonportmin/max
    assert (got[7]["events"], got[9]["events"]) == (["out"], ["in"])
    assert got[10]["value"] == 2 and got[8]["bytes"] == 2
    assert (got[11]["outcome"], got[12]["outcome"]) == ("unsupported", "unsupported")  # no POLLRDHUP, MSG_FASTOPEN
    assert "POLLRDHUP is not defined on netbsd" in got[11]["detail"]
    assert outcomes(result)[14:19] == ["EAFNOSUPPORT", "EINVAL", "ENOPROTOOPT", "unsupported", "EOPNOTSUPP"]
    assert got[24]["value"] == 17, "FIONREAD counts the datagram's 16-byte address with its byte (soo_ioctl)"


@needs_rump
def test_settings_apply_to_the_scenario_s_own_kernel(run: dict) -> None:
    result = run["sysctl"]
    assert result["sysctl"] == {"where": "the scenario's own rump kernel",
                                "values": {"net.inet.ip.anonportmin": "20000", "net.inet.ip.anonportmax": "20001"}}
    assert 20000 <= result["steps"][2]["port"] <= 20001 and result["steps"][2]["range"] == [20000, 20001]


@needs_rump
def test_what_a_rump_kernel_cannot_do_is_skipped_with_the_reason(run: dict) -> None:
    linux = run["linux-settings"]
    assert (linux["status"], linux["reason"]) == (
        "skipped", "sysctl: the scenario sets net.ipv4.ip_local_port_range, settings of linux; this is netbsd")
    together = run["together"]
    assert together["status"] == "skipped" and together["steps"] == []
    assert together["reason"].startswith("together: actors cannot run at the same time here")
