"""The agent's newer ops and forms (issue 26) against this machine's real kernel: getsockname and the ports
it reads, poll, pending bytes, send flags and empty payloads, malformed addresses, the new options,
errnos named as documented, a scenario's own kernel settings, and actors released together. The
rump kernel's answers to the same steps are tests/test_rump_ops.py's."""
import errno
import os
import socket

import pytest
from test_agent import by_id, needs_root, request, run_agent, scenario, step

from harness import agent

pytestmark = pytest.mark.kernel


def tcp(sock, actor="main", family="inet"):
    return step("socket", actor, sock=sock, type="tcp", family=family)


def range_now():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
        return " ".join(handle.read().split())


def scenarios():
    loop_w = dict(addr="loopback", port="W")
    return [
        scenario("getsockname", [
            tcp("a"), step("bind", sock="a", addr="loopback", port=0),
            step("getsockname", sock="a", **{"as": "W"}),
            tcp("b"), step("bind", sock="b", **loop_w),
            step("getsockname", sock="b"),
            step("bind", sock="b", addr="loopback", port="P"),
            step("getsockname", sock="b")]),
        scenario("poll-and-pending", [
            tcp("l"), step("bind", sock="l", addr="loopback", port="P"), step("listen", sock="l"),
            tcp("c"), step("connect", sock="c", addr="loopback", port="P"), step("accept", sock="l", as_="s"),
            step("poll", sock="s", events=["in", "out"]),
            step("send", sock="c", data="xy"),
            step("poll", sock="s", events=["in"], timeout_ms=1000),
            step("pending", sock="s"),
            step("close", sock="c"),
            step("poll", sock="s", events=["rdhup"], timeout_ms=1000),
            step("poll", sock="l", events=["in"], timeout_ms=20)]),
        scenario("flags-and-empty-payloads", [
            tcp("f"), step("setsockopt", sock="f", opt="SO_REUSEADDR"),
            step("bind", sock="f", addr="loopback", port="P"),
            step("sendto", sock="f", data="", addr="loopback", port="P", flags=["fastopen"]),
            step("send", sock="f", data="ab", flags=["nosignal", "dontwait"]),
            step("socket", sock="u", type="udp"), step("bind", sock="u", addr="loopback", port="Q"),
            step("socket", sock="v", type="udp"),
            step("sendto", sock="v", data="", addr="loopback", port="Q"),
            step("recvfrom", sock="u")]),
        scenario("malformed-addresses", [
            step("socket", sock="u", type="udp"),
            step("bind", sock="u", addr="any", port=0, sockaddr={"family": "unspec"}),
            step("socket", sock="v", type="udp"),
            step("bind", sock="v", addr="loopback", port=0, sockaddr={"len": 8}),
            step("bind", sock="v", addr="loopback", port=0, sockaddr={"family": "inet6"}),
            step("sendto", sock="v", data="x", addr="loopback", port=9, sockaddr={"len": 4}),
            tcp("t"), step("connect", sock="t", addr="loopback", port=9, sockaddr={"family": 99})]),
        scenario("options", [
            tcp("a"),
            step("setsockopt", sock="a", opt="IP_FREEBIND"), step("getsockopt", sock="a", opt="IP_FREEBIND"),
            step("setsockopt", sock="a", opt="IP_BIND_ADDRESS_NO_PORT"),
            step("setsockopt", sock="a", opt="IP_LOCAL_PORT_RANGE", value=[40000, 40010]),
            step("getsockopt", sock="a", opt="IP_LOCAL_PORT_RANGE"),
            step("setsockopt", sock="a", opt="IP_LOCAL_PORT_RANGE", value=40000, size=2),
            step("setsockopt", sock="a", opt="SO_BINDTODEVICE", value="lo"),
            step("getsockopt", sock="a", opt="SO_BINDTODEVICE"),
            step("setsockopt", sock="a", opt="IP_BINDANY"),
            tcp("six", family="inet6"),
            step("setsockopt", sock="six", opt="IPV6_FREEBIND"), step("getsockopt", sock="six", opt="IPV6_FREEBIND"),
            step("setsockopt", sock="six", opt="IP_TRANSPARENT")]),
        scenario("errno-names", [step("socket", sock="u", type="udp"), step("listen", sock="u")]),
        dict(scenario("sysctl-in-the-namespace", [
            tcp("a"), step("bind", sock="a", addr="loopback", port=0), step("getsockname", sock="a"),
            tcp("b"), step("bind", sock="b", addr="loopback", port=0), step("getsockname", sock="b"),
            tcp("c"), step("bind", sock="c", addr="loopback", port=0),
            tcp("d"), step("bind", sock="d", addr="loopback", port="P")]),
            sysctl=[{"name": "net.ipv4.ip_local_port_range", "value": "40000 40001", "systems": ["linux"],
                     "per_netns": True}]),
        dict(scenario("sysctl-of-another-system", [tcp("a")]),
             sysctl=[{"name": "net.inet.ip.anonportmin", "value": "40000", "systems": ["netbsd"], "per_netns": False}]),
        scenario("together", [
            tcp("a", actor="x"), tcp("b", actor="y"), tcp("c", actor="z"),
            dict(step("bind", "x", sock="a", addr="loopback", port="P"), together=1),
            dict(step("bind", "y", sock="b", addr="loopback", port="P"), together=1),
            dict(step("bind", "z", sock="c", addr="loopback", port="P"), together=1),
            dict(step("getsockname", "z", sock="c"), together=1),
            tcp("d", actor="x")],
            actors={"main": {"user": None}, "x": {"user": None}, "y": {"user": None}, "z": {"user": None}}),
        scenario("a-port-never-read", [
            tcp("a"), step("getsockname", sock="nope", **{"as": "W"}),
            tcp("b"), step("bind", sock="b", addr="loopback", port="W")]),
    ]


@pytest.fixture(scope="module")
def run():
    if not agent.OS_FAMILY == "linux" or os.geteuid() != 0:
        pytest.skip("needs root on Linux: every scenario runs in its own network namespace")
    before = range_now()
    lines, proc = run_agent(request(scenarios()))
    assert proc.returncode == 0, proc.stderr
    assert range_now() == before, "a scenario's setting stays in its namespace"
    return by_id(lines)


def steps(result):
    return result["steps"]


def test_getsockname_reads_the_port_and_later_steps_use_it(run):
    result = run["getsockname"]
    first, again, named = steps(result)[2], steps(result)[5], steps(result)[7]
    low, high = first["range"]
    assert (first["outcome"], first["addr"]) == ("ok", "127.0.0.1") and low <= first["port"] <= high
    assert first["names"] == [] and first["port_is"] == "ephemeral"
    assert steps(result)[4]["outcome"] == "EADDRINUSE", "b's bind of W met a on the port getsockname read"
    assert (again["port"], again["port_is"]) == (0, "0")  # b never bound
    assert named["names"] == ["P"] and named["port_is"] == "P"
    assert result["ports"] == {"P": named["port"], "W": first["port"]}


def test_poll_and_pending(run):
    got = steps(run["poll-and-pending"])
    assert [got[i]["events"] for i in (6, 8, 11, 12)] == [["out"], ["in"], ["rdhup"], []]
    assert got[9]["value"] == 2


def test_send_flags_and_empty_payloads(run):
    got = steps(run["flags-and-empty-payloads"])
    assert (got[3]["outcome"], got[3]["bytes"]) == ("ok", 0), got[3]  # MSG_FASTOPEN: an implied connect, to itself
    assert (got[4]["outcome"], got[4]["bytes"]) == ("ok", 2)
    assert (got[8]["outcome"], got[8]["bytes"]) == ("ok", 0) and got[9]["bytes"] == 0  # an empty datagram arrives


def test_malformed_addresses_reach_the_kernel(run):
    got = [s["outcome"] for s in steps(run["malformed-addresses"])]
    # AF_UNSPEC with INADDR_ANY is accepted (inet_bind_sk); 8 bytes are too short; an AF_INET6 family
    # on an AF_INET socket is refused; so is a 4-byte destination and an unknown family on connect
    assert got == ["ok", "ok", "ok", "EINVAL", "EAFNOSUPPORT", "EINVAL", "ok", "EAFNOSUPPORT"]


def test_new_options_and_their_values(run):
    got = steps(run["options"])
    assert [s["outcome"] for s in got] == ["ok", "ok", "ok", "ok", "ok", "ok", "EINVAL", "ok", "ok", "unsupported",
                                           "ok", "ok", "ok", "ok"]
    assert got[2]["value"] == 1 and got[5]["value"] == [40000, 40010] and got[8]["value"] == "lo"
    assert "IP_BINDANY is not defined on linux" in got[9]["detail"] and got[12]["value"] == 1


def test_errnos_are_named_as_the_system_documents_them(run):
    listen = steps(run["errno-names"])[1]
    assert (listen["outcome"], listen["errno"]) == ("EOPNOTSUPP", errno.EOPNOTSUPP)


def test_settings_apply_in_the_scenario_s_namespace_and_are_recorded(run):
    result = run["sysctl-in-the-namespace"]
    assert result["sysctl"] == {"where": "the scenario's network namespace",
                                "values": {"net.ipv4.ip_local_port_range": "40000 40001"}}
    got = steps(result)
    assert sorted([got[2]["port"], got[5]["port"]]) == [40000, 40001] and got[2]["range"] == [40000, 40001]
    assert got[7]["outcome"] == "EADDRINUSE", "both ports of the range are taken"
    assert not 40000 <= result["ports"]["P"] <= 40001 and got[9]["outcome"] == "ok", "P was found outside it"


def test_settings_of_another_system_skip_the_scenario(run):
    result = run["sysctl-of-another-system"]
    assert result["status"] == "skipped"
    assert result["reason"] == "sysctl: the scenario sets net.inet.ip.anonportmin, settings of netbsd; this is linux"


def test_actors_released_together_race_and_each_outcome_is_recorded(run):
    result = run["together"]
    outcomes = [s["outcome"] for s in steps(result)]
    assert result["status"] == "ran" and len(outcomes) == 8
    assert sorted(outcomes[3:6]) == ["EADDRINUSE", "EADDRINUSE", "ok"], outcomes  # one of the three won
    assert outcomes[6] == "ok" and outcomes[7] == "ok"


def test_a_port_a_failed_getsockname_never_read_ends_the_scenario_saying_so(run):
    result = run["a-port-never-read"]
    assert result["status"] == "error"
    assert result["reason"] == ("step 4 (bind) uses port W, which the getsockname step meant to read it did not "
                                "(it failed)")
    assert steps(result)[1]["outcome"] == "EBADF"


@needs_root
def test_without_a_namespace_a_setting_would_change_the_machine_and_the_scenario_is_skipped():
    before = range_now()
    doc = request([dict(scenario("host", [tcp("a")]), sysctl=[{"name": "net.ipv4.ip_local_port_range",
                                                               "value": "40000 40001", "systems": ["linux"],
                                                               "per_netns": True}])], netns=False)
    lines, proc = run_agent(doc)
    result = by_id(lines)["host"]
    assert result["status"] == "skipped" and result["steps"] == []
    assert result["reason"].startswith("sysctl: setting net.ipv4.ip_local_port_range here would change the whole "
                                       "machine (available); run with --host-sysctl to allow it")
    assert range_now() == before


def test_with_host_sysctl_the_agent_restores_each_machine_wide_setting_however_the_scenario_ends(
        tmp_path, monkeypatch):
    # The host's real settings are never touched: the kernel's read and write of settings are stand-ins that
    # log to a file, as a forked supervisor and the agent (its parent) both call them.
    log = tmp_path / "settings.log"

    def write(self, name, value):
        with open(str(log), "a") as handle:
            handle.write("%d write %s %s\n" % (os.getpid(), name, value))

    monkeypatch.setattr(agent.HostKernel, "read_setting", lambda self, name: "32768 60999")
    monkeypatch.setattr(agent.HostKernel, "write_setting", write)
    sc = dict(scenario("host", [tcp("a"), step("sleep", ms=5000)]),
              sysctl=[{"name": "net.ipv4.ip_local_port_range", "value": "40000 40001", "systems": ["linux"],
                       "per_netns": True}])
    result = agent.run_scenario(sc, {"netns": False, "host_sysctl": True, "scenario_timeout_ms": 1500,
                                     "step_timeout_ms": 1000})
    assert result["status"] == "error" and "scenario_timeout_ms" in result["reason"]  # killed mid-scenario
    assert result["sysctl"] == {"where": "the whole machine (--host-sysctl; restored after the scenario)",
                                "values": {"net.ipv4.ip_local_port_range": "32768 60999"}}
    entries = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert [entry for _, entry in entries] == ["write net.ipv4.ip_local_port_range 40000 40001",
                                              "write net.ipv4.ip_local_port_range 32768 60999"]
    assert entries[0][0] != entries[1][0] == str(os.getpid()), "the agent, not the killed supervisor, restored it"


def test_settings_a_range_makes_keep_allocated_ports_out_of_it():
    spans = agent.avoided_ranges([{"name": "net.ipv4.ip_local_port_range", "value": "40000 40001"},
                                  {"name": "net.inet.ip.anonportmin", "value": "10000"},
                                  {"name": "net.inet.ip.anonportmax", "value": "10003"}])
    assert spans == [(40000, 40001), (10000, 10003)]


def test_msg_flags_poll_bits_and_sockaddr_layouts_are_each_systems():
    linux, freebsd = agent.HostKernel(), agent.HostKernel()
    linux.family, freebsd.family = "linux", "freebsd"
    assert linux.msg_flags(["fastopen", "nosignal"]) == 0x20004000 and freebsd.msg_flags(["nosignal"]) == 0x20000
    with pytest.raises(agent.Unsupported, match="MSG_FASTOPEN is not defined on freebsd"):
        freebsd.msg_flags(["fastopen"])
    assert linux.poll_mask(["in", "rdhup"]) == 0x2001 and freebsd.poll_mask(["rdhup"]) == 0x4000
    assert linux.poll_names(0x2005) == ["in", "out", "rdhup"]
    netbsd = agent.RumpProcess(None, None)
    with pytest.raises(agent.Unsupported, match="POLLRDHUP is not defined on netbsd"):
        netbsd.poll_mask(["rdhup"])
    raw = linux.sockaddr_bytes(socket.AF_INET, ("127.0.0.1", 80), {"family": 0})
    assert raw == b"\0\0\0\x50\x7f\0\0\x01" + b"\0" * 8
    raw = netbsd.sockaddr_bytes(socket.AF_INET6, ("::1", 80), {"len": 8})
    assert raw == b"\x08\x18\0\x50\0\0\0\0"  # sin6_len follows the length given, family 24 is NetBSD's


def test_an_expected_eopnotsupp_or_enotsup_passes_for_a_udp_listen_on_linux(tmp_path):
    """Issue 26's first defect, end to end: Linux's 95 is EOPNOTSUPP in its manual and ENOTSUP in the C
    library; either expectation passes, and the results show the documented name."""
    from conftest import harness
    path = tmp_path / "listen.yaml"
    path.write_text("suite: u\nscenarios:\n" + "".join(
        f"  - name: {name.lower()}\n    steps:\n      - {{op: socket, sock: u, type: udp}}\n"
        f"      - {{op: listen, sock: u, expect: {name}}}\n" for name in ("EOPNOTSUPP", "ENOTSUP", "EINVAL")))
    proc = harness("run", str(path), "--targets", "local", "--out", str(tmp_path / "out"))
    results = __import__("json").loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert {r["scenario"]: r["verdict"] for r in results} == {"eopnotsupp": "pass", "enotsup": "pass", "einval": "fail"}
    assert {r["steps"][1]["observed"]["outcome"] for r in results} == {"EOPNOTSUPP"} and proc.returncode == 1
