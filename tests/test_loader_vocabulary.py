"""The loader's newer vocabulary (issue 26): each form read from good input, and each mistake reported at
its file:line:column. Ops: getsockname (and the ports it reads), poll, pending, send flags, malformed
addresses; outcomes: ports, poll events, value pairs, distribute receipts, errnos by name; options with
values of their own; `sysctl:`; quoted ports."""
from __future__ import annotations

from pathlib import Path

import pytest
from test_loader import HEAD, col, only_problem, scenario, write

from harness.model import Outcome
from harness.scenario.loader import load_suite


def steps_of(tmp_path: Path, *steps: str) -> list:
    return load_suite(write(tmp_path, scenario(*steps))).scenarios[0].steps


# --- good input ------------------------------------------------------------------------------------


def test_a_quoted_port_is_the_number(tmp_path: Path) -> None:
    bind, connect = steps_of(tmp_path, '{op: bind, sock: a, addr: any, port: "8080"}',
                             "{op: connect, sock: a, addr: loopback, port: '0'}")[1:]
    assert (bind.args["port"], connect.args["port"]) == (8080, 0)


def test_getsockname_reads_a_port_later_steps_use(tmp_path: Path) -> None:
    steps = steps_of(tmp_path, "{op: bind, sock: a, addr: loopback, port: 0}",
                     "{op: getsockname, sock: a, as: W, expect: {port: ephemeral}}",
                     "{op: socket, sock: b, type: tcp}",
                     "{op: bind, sock: b, addr: loopback, port: W, expect: EADDRINUSE}",
                     "{op: getsockname, sock: b, expect: {linux: {port: W}, freebsd: {port: {not: W}}, default: {port: {in: [1, 9]}}}}",
                     "{op: getsockname, sock: b, expect: {port: '8080'}}")
    assert steps[2].args == {"sock": "a", "as": "W"} and steps[4].args["port"] == "W"
    assert steps[2].expect.rules[0].outcome == Outcome("port", ("ephemeral",))
    assert [r.outcome for r in steps[5].expect.rules] == [
        Outcome("port", ("eq", "W")), Outcome("port", ("not", "W")), Outcome("port", ("in", 1, 9))]
    assert steps[6].expect.rules[0].outcome == Outcome("port", ("eq", 8080))
    assert [str(r.outcome) for r in steps[5].expect.rules] == ["port=W", "port!=W", "port in 1..9"]


def test_poll_pending_flags_and_malformed_addresses(tmp_path: Path) -> None:
    steps = steps_of(tmp_path, "{op: poll, sock: a}",
                     "{op: poll, sock: a, events: [in, rdhup], timeout_ms: 60000, expect: {events: [rdhup, in]}}",
                     "{op: poll, sock: a, events: out, expect: {events: []}}",
                     "{op: pending, sock: a, expect: {value: 17}}",
                     "{op: send, sock: a, data: '', flags: [fastopen, nosignal]}",
                     "{op: sendto, sock: a, data: x, addr: any, port: 0, flags: dontwait, sockaddr: {family: 0, len: 8}}",
                     "{op: bind, sock: a, addr: any, port: 0, sockaddr: {family: unspec}}",
                     "{op: connect, sock: a, addr: loopback, port: 1, sockaddr: {len: 2}}")[1:]
    assert steps[0].args == {"sock": "a", "events": ("in",), "timeout_ms": 0}
    assert steps[1].expect.rules[0].outcome == Outcome("events", ("in", "rdhup"))  # in the documented order
    assert (steps[2].args["events"], steps[2].expect.rules[0].outcome) == (("out",), Outcome("events", ()))
    assert steps[3].expect.rules[0].outcome == Outcome("value", 17)
    assert (steps[4].args["data"], steps[4].args["flags"]) == ("", ("fastopen", "nosignal"))
    assert steps[5].args["sockaddr"] == {"family": 0, "len": 8} and steps[5].args["flags"] == ("dontwait",)
    assert steps[6].args["sockaddr"] == {"family": "unspec"} and steps[7].args["sockaddr"] == {"len": 2}


def test_option_values_of_their_own_and_short_option_values(tmp_path: Path) -> None:
    steps = steps_of(tmp_path, "{op: setsockopt, sock: a, opt: IP_LOCAL_PORT_RANGE, value: [40000, 40007]}",
                     "{op: setsockopt, sock: a, opt: IP_LOCAL_PORT_RANGE, value: 4294967295, size: 8}",
                     "{op: setsockopt, sock: a, opt: SO_BINDTODEVICE, value: lo}",
                     "{op: getsockopt, sock: a, opt: IP_LOCAL_PORT_RANGE, expect: {value: [40000, 40007]}}",
                     "{op: setsockopt, sock: a, opt: IP_BINDANY, expect: {freebsd: EPERM, default: unsupported}}")[1:]
    assert steps[0].args["value"] == [40000, 40007]
    assert (steps[1].args["value"], steps[1].args["size"]) == (4294967295, 8)
    assert steps[2].args["value"] == "lo"
    assert steps[3].expect.rules[0].outcome == Outcome("value", (40000, 40007))


def test_distribute_receipts(tmp_path: Path) -> None:
    text = scenario("{op: socket, sock: b, type: tcp}",
                    "{op: distribute, to: {addr: loopback, port: P}, over: [a, b], "
                    "expect: {linux: {at_least: 3, of: [b], lost: 0}, default: {only: [a]}}}")
    (rule1, rule2) = load_suite(write(tmp_path, text)).scenarios[0].steps[-1].expect.rules
    assert rule1.outcome == Outcome("receipts", (("at_least", 3), ("lost", 0), ("of", ("b",))))
    assert rule2.outcome == Outcome("receipts", (("only", ("a",)),))
    assert str(rule1.outcome) == "at_least=3 lost=0 of=b"


def test_errnos_any_system_defines_and_numbers_the_agent_could_not_name(tmp_path: Path) -> None:
    steps = steps_of(tmp_path, "{op: listen, sock: a, expect: {linux: EOPNOTSUPP, freebsd: ENOTSUP, darwin: EOPNOTSUPP, "
                               "openbsd: EWOULDBLOCK, default: E523}}")
    assert [str(r.outcome) for r in steps[1].expect.rules] == ["EOPNOTSUPP", "ENOTSUP", "EOPNOTSUPP", "EWOULDBLOCK", "E523"]


def test_sysctl_settings_read_as_the_kernel_reads_them(tmp_path: Path) -> None:
    text = HEAD.replace("    steps:", "    sysctl: {net.ipv4.ip_local_port_range: [40000, 49999], net.ipv6.bindv6only: true,\n"
                                     "             net.inet.ip.anonportmin: 40000, net.ipv4.ip_autobind_reuse: 0}\n    steps:")
    assert load_suite(write(tmp_path, text)).scenarios[0].sysctl == {
        "net.ipv4.ip_local_port_range": "40000 49999", "net.ipv6.bindv6only": "1",
        "net.inet.ip.anonportmin": "40000", "net.ipv4.ip_autobind_reuse": "0"}
    text = HEAD.replace("    steps:", "    sysctl: {net.ipv4.ip_local_port_range: 32768 32768}\n    steps:")
    assert load_suite(write(tmp_path, text)).scenarios[0].sysctl == {"net.ipv4.ip_local_port_range": "32768 32768"}


# --- bad input, each at its place ------------------------------------------------------------------


@pytest.mark.parametrize("step, token, message", [
    ('{op: bind, sock: a, addr: any, port: "80x"}', '"80x"',
     "port must be a number 0..65535 or a symbolic name such as P, not '80x'"),
    ('{op: bind, sock: a, addr: any, port: "70000"}', '"70000"',
     "port must be a number 0..65535 or a symbolic name such as P, not '70000'"),
    ("{op: listen, sock: a, expect: EADDRINUSED}", "EADDRINUSED",
     "unknown errno 'EADDRINUSED': no system the harness knows defines it (did you mean EADDRINUSE?)"),
    ("{op: getsockname, sock: a, as: 9}", "9}", "port name '9' must match [A-Za-z_][A-Za-z0-9_]*"),
    ("{op: getsockname, sock: a, expect: {port: Q}}", "Q}",
     "expected a port number or the name of a port an earlier step used or read (so far: none), not 'Q'"),
    ("{op: getsockname, sock: a, expect: {port: {in: [9, 1]}}}", "[9",
     "in: must be [LOW, HIGH], two ports with LOW <= HIGH, not a list"),
    ("{op: getsockname, sock: a, expect: {port: {not: 1, in: [1, 2]}}}", "{not",
     "a port test is one of {not: P} or {in: [LOW, HIGH]}"),
    ("{op: bind, sock: a, addr: any, port: 0, expect: {port: 0}}", "{port",
     "{port: P} is only for getsockname steps, not bind"),
    ("{op: poll, sock: a, events: [in, up]}", "up]", "events must be among in, pri, out, rdhup, not 'up'"),
    ("{op: poll, sock: a, events: [in, in]}", "in]", "in is listed twice in events"),
    ("{op: poll, sock: a, expect: {events: [in, wat]}}", "wat", "unknown poll event 'wat' (known: in, pri, out, err, "
                                                                 "hup, nval, rdhup)"),
    ("{op: poll, sock: a, expect: {events: in}}", "in}", "events must be a list of in, pri, out, err, hup, nval, rdhup "
                                                         "([] for none), not 'in'"),
    ("{op: pending, sock: a, expect: {events: []}}", "{events",
     "{events: [in, out]} is only for poll steps, not pending"),
    ("{op: send, sock: a, data: x, flags: [urgent]}", "urgent",
     "flags must be among oob, dontroute, dontwait, nosignal, more, eor, fastopen, not 'urgent'"),
    ("{op: bind, sock: a, addr: any, port: 0, sockaddr: {family: inet7}}", "inet7",
     "family must be one of unspec, inet, inet6 or a number 0..255, not 'inet7'"),
    ("{op: bind, sock: a, addr: any, port: 0, sockaddr: {len: 500}}", "500",
     "len must be a number of bytes 0..128, not 500"),
    ("{op: bind, sock: a, addr: any, port: 0, sockaddr: {}}", "{}", "sockaddr must give family:, len: or both"),
    ("{op: connect, sock: a, addr: any, port: 0, sockaddr: {size: 1}}", "size",
     "unknown field 'size' in sockaddr (allowed: family, len)"),
    ("{op: setsockopt, sock: a, opt: IP_LOCAL_PORT_RANGE, value: [1]}", "[1]",
     "value of IP_LOCAL_PORT_RANGE must be [low, high], two ports 0..65535, not a list"),
    ("{op: setsockopt, sock: a, opt: SO_BINDTODEVICE, value: [lo]}", "[lo]",
     "value of SO_BINDTODEVICE (an interface name such as lo) must be a string, not a list"),
    ("{op: setsockopt, sock: a, opt: SO_REUSEADDR, size: 300}", "300",
     "size must be a non-negative integer up to 256, not 300"),
    ("{op: getsockopt, sock: a, opt: IP_LOCAL_PORT_RANGE, expect: {value: [1, x]}}", "[1",
     "expected value must be an integer, nonzero or [low, high], not a list"),
])
def test_bad_new_vocabulary(tmp_path: Path, step: str, token: str, message: str) -> None:
    assert only_problem(tmp_path, scenario(step)) == (6, col(step, token), message)


def test_a_port_read_by_getsockname_needs_a_name_of_its_own(tmp_path: Path) -> None:
    used = "{op: bind, sock: a, addr: any, port: P}"
    read = "{op: getsockname, sock: a, as: P}"
    assert only_problem(tmp_path, scenario(used, read)) == (
        7, col(read, "P}"), "port 'P' is already used at line 6, column 46, where the scenario allocates it; a port "
                            "a step reads needs a name of its own")
    twice = "{op: getsockname, sock: a, as: W}"
    assert only_problem(tmp_path, scenario(twice, twice)) == (
        7, col(twice, "W}"), f"port 'W' is already read by an earlier step (at line 6, column {col(twice, 'W}')})")


def test_distribute_receipts_name_sockets_of_over(tmp_path: Path) -> None:
    step = "{op: distribute, to: {addr: loopback, port: P}, over: [a], expect: {only: [a, z]}}"
    assert only_problem(tmp_path, scenario(step)) == (6, col(step, "z]"), "only: socket 'z' is not in over (a)")
    step = "{op: distribute, to: {addr: loopback, port: P}, over: [a], expect: {of: [a]}}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "of"), "of: names the sockets at_least: applies to; give at_least: too")
    step = "{op: distribute, to: {addr: loopback, port: P}, over: [a], expect: {lost: -1}}"
    assert only_problem(tmp_path, scenario(step)) == (6, col(step, "-1"), "lost must be a non-negative integer, not -1")


@pytest.mark.parametrize("sysctl, token, message", [
    ("{net.ipv4.ip_local_port_rang: 1 2}", "net.ipv4.ip_local_port_rang",
     "unknown setting 'net.ipv4.ip_local_port_rang' (did you mean net.ipv4.ip_local_port_range? known: "),
    ("{net.ipv4.ip_local_port_range: 40000}", "40000",
     "net.ipv4.ip_local_port_range takes two ports LOW HIGH (LOW <= HIGH), written \"40000 49999\" or [40000, 49999], "
     "not 40000"),
    ("{net.ipv4.ip_local_port_range: [5, 1]}", "[5", "net.ipv4.ip_local_port_range takes two ports LOW HIGH"),
    ("{net.ipv6.bindv6only: 2}", "2}", "net.ipv6.bindv6only takes 0 or 1, not 2"),
    ("{net.inet.ip.anonportmin: -1}", "-1", "net.inet.ip.anonportmin takes a non-negative integer, not -1"),
])
def test_bad_sysctl(tmp_path: Path, sysctl: str, token: str, message: str) -> None:
    text = HEAD.replace("    steps:", f"    sysctl: {sysctl}\n    steps:")
    line, column, got = only_problem(tmp_path, text)
    assert (line, column) == (4, 13 + sysctl.index(token)) and got.startswith(message), got
