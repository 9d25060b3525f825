"""The loader: valid files become the model's dataclasses; every problem in a bad file
is reported at the exact line and column of the offending node."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from harness.scenario.ops import describe
from harness.scenario import ops
from harness.scenario.fields import FIELD_KINDS
from harness.scenario.loader import Problem, ScenarioFileError, load_files, load_suite
from harness.model import Actor, Outcome, Pos, Selector

DATA = Path(__file__).parent / "data"
EVERY_OP = str(DATA / "good" / "every_op.yaml")

# Steps passed to `scenario()` start on line 6, and a flow-mapping step's `{` is column 9.
HEAD = """\
suite: t
scenarios:
  - name: s
    steps:
      - {op: socket, sock: a, type: tcp}
"""


def scenario(*steps: str) -> str:
    return HEAD + "".join(f"      - {s}\n" for s in steps)


def col(step: str, token: str) -> int:
    """The column where `token` starts in a step written by scenario() (its `{` is column 9)."""
    return 9 + step.index(token)


def write(tmp_path: Path, text: str | bytes, name: str = "t.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else textwrap.dedent(text).encode())
    return str(path)


def problems(tmp_path: Path, text: str | bytes) -> list[tuple[int, int, str]]:
    with pytest.raises(ScenarioFileError) as info:
        load_suite(write(tmp_path, text))
    return [(p.pos.line, p.pos.col, p.message) for p in info.value.problems]


def only_problem(tmp_path: Path, text: str | bytes) -> tuple[int, int, str]:
    """The single problem of a file with exactly one mistake (no follow-on noise)."""
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    return found[0]


# --- valid files --------------------------------------------------------------------


def test_every_op_loads_with_defaults_filled_in() -> None:
    suite = load_suite(EVERY_OP)
    assert (suite.name, suite.description, suite.path) == ("every-op", "one step of each op", EVERY_OP)
    (sc,) = suite.scenarios
    assert sc.id == "every-op/all-ops"
    assert sc.pos == Pos(EVERY_OP, 5, 5)
    assert sc.tags == ["tcp", "udp"]
    assert [str(s) for s in sc.only] == ["linux>=3.9", "bsd"]
    assert sc.only[0] == Selector("linux", ">=", (3, 9), "linux>=3.9")
    assert sc.actors == {"main": Actor("main"), "peer": Actor("peer", "nobody")}
    assert {s.op for s in sc.steps} == set(ops.OPS)
    assert [s.index for s in sc.steps] == list(range(1, len(sc.steps) + 1))
    by = {s.index: s for s in sc.steps}

    assert by[1].args == {"sock": "l", "type": "tcp", "family": "inet", "v6only": None}
    assert by[1].actor == "peer" and by[1].pos == Pos(EVERY_OP, 11, 9)
    assert by[2].args == {"sock": "l", "opt": "SO_REUSEADDR", "value": 1, "level": None, "size": None}
    assert [r.outcome for r in by[3].expect.rules] == [Outcome("value", 1), Outcome("value", "nonzero")]
    assert by[5].args == {"sock": "l", "backlog": 16}
    assert by[7].args == {"sock": "c", "addr": "127.0.0.1", "port": "P", "timeout_ms": 2000, "wait": None,
                          "sockaddr": None}
    assert by[7].actor == "main"
    assert by[8].args == {"sock": "l", "or": None, "as": "s", "timeout_ms": 1000} and by[8].actor == "peer"
    assert [(str(r.selector), r.outcome) for r in by[8].expect.rules] == [
        ("linux", Outcome("ok")), ("default", Outcome("timeout"))]
    assert by[8].expect.pos == Pos(EVERY_OP, 18, 46)
    assert by[10].args == {"sock": "s", "size": 1024, "timeout_ms": 1000}
    assert by[10].actor == "peer", "the accepted socket belongs to the listener's owner"
    assert by[11].args == {"sock": "c", "how": "rdwr"}
    assert by[12].pos == Pos(EVERY_OP, 22, 9)
    assert by[12].note == "closing is never interesting"
    assert by[12].expect.rules[0].outcome == Outcome("any")
    assert by[14].expect.rules[0].selector.family == "darwin"
    assert by[14].expect.rules[0].outcome == Outcome("errno", "EINVAL")
    assert by[17].args["value"] == "239.1.2.3"
    assert by[17].expect.rules[0].outcome == Outcome("unsupported")
    assert by[18].args["port"] == 5353
    assert by[21].args == {"ms": 10} and by[21].actor == "main"
    assert by[22].args == {"to": {"addr": "loopback", "port": "Q"}, "over": ["u1", "u2"],
                           "count": 32, "type": "udp", "timeout_ms": 5000}
    assert by[22].actor == "main"
    assert [r.outcome for r in by[22].expect.rules] == [
        Outcome("spread"), Outcome("single", "u2"), Outcome("none")]
    assert by[23].args["type"] == "tcp", "inferred from the type of the over sockets"
    assert by[23].expect.rules[0].outcome == Outcome("any"), "omitted expect on distribute"
    for step in (by[1], by[4]):  # omitted expect: ok everywhere
        assert [(r.selector.family, r.outcome) for r in step.expect.rules] == [("default", Outcome("ok"))]
    last = {s.op: s for s in sc.steps}  # the steps after the distribute ones, whatever follows them
    assert last["getsockname"].args == {"sock": "l", "as": "R"}
    assert [r.outcome for r in last["getsockname"].expect.rules] == [Outcome("port", ("eq", "P")),
                                                                    Outcome("port", ("not", 0))]
    assert last["poll"].args == {"sock": "s", "events": ("in", "out"), "timeout_ms": 10}
    assert last["poll"].expect.rules[0].outcome == Outcome("events", ("out",))
    assert last["pending"].expect.rules[0].outcome == Outcome("value", 0)
    assert (last["send"].args["data"], last["send"].args["flags"]) == ("", ("nosignal",))
    assert last["sendto"].args["port"] == "R" and last["sendto"].args["sockaddr"] == {"len": 8}
    assert last["sendto"].args["flags"] == ("dontwait",) and by[9].args["flags"] == ()
    for step in sc.steps:
        assert not {"op", "expect", "note", "actor"} & set(step.args)


def test_spec_example_loads() -> None:
    path = str(DATA / "good" / "spec_example.yaml")
    (sc,) = load_suite(path).scenarios
    assert sc.id == "reuseport/duplicate-listen-tcp"
    assert sc.actors["other"] == Actor("other", "nobody")
    assert [describe(s.op, s.args) for s in sc.steps][:4] == [
        "socket a", "setsockopt a SO_REUSEPORT=1", "bind a loopback:P", "listen a backlog=16"]
    last = sc.steps[-1]
    assert last.pos == Pos(path, 22, 9)
    assert last.note.startswith("Linux 3.9 added SO_REUSEPORT")
    assert [(str(r.selector), str(r.outcome)) for r in last.expect.rules] == [
        ("linux<3.9", "EADDRINUSE"), ("default", "ok")]


def test_actors_default_to_main_and_main_is_always_there(tmp_path: Path) -> None:
    assert load_suite(write(tmp_path, scenario())).scenarios[0].actors == {"main": Actor("main")}
    text = HEAD.replace("    steps:", "    actors: {other: {user: nobody}, quiet: }\n    steps:")
    actors = load_suite(write(tmp_path, text)).scenarios[0].actors
    assert actors == {"main": Actor("main"), "other": Actor("other", "nobody"), "quiet": Actor("quiet")}


def test_merge_keys_let_steps_share_fields(tmp_path: Path) -> None:
    text = scenario("&reuse {op: setsockopt, sock: a, opt: SO_REUSEPORT, value: 0, note: shared}",
                    "{op: socket, sock: b, type: tcp}",
                    "{<<: *reuse, sock: b}",
                    "{<<: [*reuse], sock: b, value: 1}")
    steps = load_suite(write(tmp_path, text)).scenarios[0].steps
    assert steps[3].args == {"sock": "b", "opt": "SO_REUSEPORT", "value": 0, "level": None, "size": None}
    assert steps[3].note == "shared" and steps[3].pos == Pos(str(tmp_path / "t.yaml"), 8, 9)
    assert steps[4].args["value"] == 1, "a mapping's own keys win over merged ones"
    assert only_problem(tmp_path, scenario("{<<: 5, op: sleep, ms: 1}")) == (6, 14, "<< must merge a mapping, not 5")
    bad = "&bad {op: listen, sock: a, backlog: x}"
    text = scenario(bad, "{<<: *bad}", "{<<: *bad, backlog: 1}")
    assert only_problem(tmp_path, text)[:2] == (6, col(bad, "x}")), "a problem in a merged mapping is listed once"


def test_literal_addresses_inside_the_allowed_ranges(tmp_path: Path) -> None:
    addrs = ["127.0.0.5", "'::1'", "'::'", "0.0.0.0", "224.0.0.251", "'ff02::1'", "'::ffff:127.0.0.1'"]
    text = scenario(*(f"{{op: connect, sock: a, addr: {a}, port: 0}}" for a in addrs))
    assert len(load_suite(write(tmp_path, text)).scenarios[0].steps) == 1 + len(addrs)


def test_every_field_kind_has_a_validator() -> None:
    kinds = {f.kind for op in ops.OPS.values() for f in op.fields.values()}
    assert kinds | {f.kind for f in ops.DEST_FIELDS.values()} <= set(FIELD_KINDS)


def test_load_files_reads_directories_sorted(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    write(tmp_path, scenario().replace("suite: t", "suite: b"), "d/b.yml")
    write(tmp_path, scenario().replace("suite: t", "suite: a"), "d/a.yaml")
    write(tmp_path, "not: scenarios", "d/notes.txt")
    other = write(tmp_path, scenario().replace("suite: t", "suite: c"), "c.yaml")
    suites = load_files([str(tmp_path / "d"), other, str(tmp_path / "d" / "a.yaml")])
    assert [s.name for s in suites] == ["a", "b", "c"]


# --- broken files: each problem at its node's line and column ----------------------


def test_unknown_op(tmp_path: Path) -> None:
    line, column, msg = only_problem(tmp_path, scenario("{op: bnd, sock: a}"))
    assert (line, column) == (6, 14)
    assert msg.startswith("unknown op 'bnd' (did you mean bind? known: accept, bind, close, connect,")


def test_unknown_field(tmp_path: Path) -> None:
    step = "{op: close, sock: a, how: rd}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "how"), "unknown field 'how' for close (allowed: expect, if, note, op, sock)")


def test_missing_required_field(tmp_path: Path) -> None:
    assert only_problem(tmp_path, scenario("{op: bind, sock: a, addr: loopback}")) == (
        6, 9, "bind is missing required field 'port'")


def test_undefined_socket(tmp_path: Path) -> None:
    step = "{op: listen, sock: b}"
    assert only_problem(tmp_path, scenario(step)) == (6, col(step, "b}"), "undefined socket 'b' (defined so far: a)")
    assert col(step, "b}") == 28  # counted by hand once, to keep col() honest


def test_socket_used_before_its_socket_step(tmp_path: Path) -> None:
    step = "{op: bind, sock: b, addr: any, port: P}"
    text = scenario(step, "{op: socket, sock: b, type: udp}")
    assert only_problem(tmp_path, text) == (6, col(step, "b,"), "undefined socket 'b' (defined so far: a)")


def test_duplicate_socket(tmp_path: Path) -> None:
    step = "{op: socket, sock: a, type: udp}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "a,"), "socket 'a' is already defined (at line 5, column 28)")


def test_accept_as_an_existing_socket(tmp_path: Path) -> None:
    step = "{op: accept, sock: a, as: a}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "a}"), "socket 'a' is already defined (at line 5, column 28)")


def test_bad_selector(tmp_path: Path) -> None:
    for selector, reason in [("linux<<3", "expected a family such as"), ("windows", "unknown OS family 'windows'")]:
        step = f"{{op: listen, sock: a, expect: {{{selector}: ok}}}}"
        line, column, msg = only_problem(tmp_path, scenario(step))
        assert (line, column) == (6, col(step, selector))
        assert msg.startswith(f"bad selector {selector!r}: {reason}")


def test_duplicate_selector(tmp_path: Path) -> None:
    step = "{op: listen, sock: a, expect: {darwin: ok, macos: EINVAL}}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "macos"), f"duplicate selector 'macos' (same as 'darwin' at line 6, column {col(step, 'darwin')})")


@pytest.mark.parametrize("step, token, message", [
    ('{op: listen, sock: a, backlog: "x"}', '"x"', "backlog must be a non-negative integer up to 65535, not 'x'"),
    ("{op: listen, sock: a, backlog: 1.5}", "1.5", "backlog must be a non-negative integer up to 65535, not 1.5"),
    ("{op: bind, sock: a, addr: any, port: -1}", "-1",
     "port must be a number 0..65535 or a symbolic name such as P, not -1"),
    ("{op: bind, sock: a, addr: any, port: 70000}", "70000",
     "port must be a number 0..65535 or a symbolic name such as P, not 70000"),
    ("{op: bind, sock: a, addr: any, port: 8-bit}", "8-bit",
     "port must be a number 0..65535 or a symbolic name such as P, not '8-bit'"),
    ('{op: setsockopt, sock: a, opt: SO_REUSEADDR, value: "yes"}', '"yes"',
     "value must be a boolean or an integer that fits 32 bits (-2147483648..4294967295), not 'yes'"),
    ("{op: setsockopt, sock: a, opt: IP_ADD_MEMBERSHIP, value: 1}", "1}",
     "value of IP_ADD_MEMBERSHIP must be an IPv4 multicast group such as 239.1.2.3, not 1"),
    ("{op: setsockopt, sock: a, opt: IP_ADD_MEMBERSHIP, value: 127.0.0.1}", "127",
     "value of IP_ADD_MEMBERSHIP must be an IPv4 multicast group such as 239.1.2.3, not '127.0.0.1'"),
    ("{op: socket, sock: b, type: sctp}", "sctp", "type must be one of tcp, udp, not 'sctp'"),
    ("{op: send, sock: a, data: [1]}", "[1]", "data must be a string, not a list"),
    ("{op: sleep, ms: 1, sock: a}", "sock", "unknown field 'sock' for sleep (allowed: expect, if, ms, note, op)"),
    ("{op: distribute, to: loopback, over: [a]}", "loopback", "distribute to must be a mapping, not 'loopback'"),
    ("{op: distribute, to: {addr: any}, over: [a]}", "{addr", "distribute to is missing required field 'port'"),
    ("{op: distribute, to: {addr: any, port: P, via: x}, over: [a]}", "via",
     "unknown field 'via' in distribute to (allowed: addr, port)"),
    ("{op: distribute, to: {addr: any, port: P}, over: []}", "[]",
     "over must be a non-empty list of sockets, not an empty list"),
    ("{op: distribute, to: {addr: any, port: P}, over: [a, a]}", "a]", "socket 'a' is listed twice in over"),
    ("{op: shutdown, sock: a, how: off}", "off",
     "how must be a string, not off (YAML reads that as a boolean: quote it)"),
])
def test_wrong_types(tmp_path: Path, step: str, token: str, message: str) -> None:
    assert only_problem(tmp_path, scenario(step)) == (6, col(step, token), message)


@pytest.mark.parametrize("addr, message", [
    ("10.0.0.1",
     "addr 10.0.0.1 is outside what a scenario may use (127.0.0.0/8, ::1, 0.0.0.0, :: or a multicast group)"),
    ("192.168.1.1", "addr 192.168.1.1 is outside what a scenario may use"),
    ("'2001:db8::1'", "addr 2001:db8::1 is outside what a scenario may use"),
    ("'::ffff:10.0.0.1'", "addr ::ffff:10.0.0.1 is outside what a scenario may use"),
    ("localhost", "addr 'localhost' is neither a symbolic address (any, any6, loopback, loopback6, loopback2)"),
])
def test_address_out_of_range(tmp_path: Path, addr: str, message: str) -> None:
    step = f"{{op: bind, sock: a, addr: {addr}, port: P}}"
    line, column, msg = only_problem(tmp_path, scenario(step))
    assert (line, column) == (6, col(step, addr)) and msg.startswith(message)


def test_unknown_option_and_wrong_level(tmp_path: Path) -> None:
    steps = ["{op: setsockopt, sock: a, opt: SO_REUSEADR}",
             "{op: setsockopt, sock: a, opt: TCP_NODELAY, level: SOL_SOCKET}",
             "{op: getsockopt, sock: a, opt: SO_RCVBUF, level: SOL_TCP}"]
    assert problems(tmp_path, scenario(*steps)) == [
        (6, col(steps[0], "SO_"), "unknown option 'SO_REUSEADR' (did you mean SO_REUSEADDR? known: "
         + ", ".join(sorted(ops.OPTIONS)) + ")"),
        (7, col(steps[1], "SOL_"), "level SOL_SOCKET does not match TCP_NODELAY, which is at IPPROTO_TCP"),
        (8, col(steps[2], "SOL_"),
         "unknown level 'SOL_TCP' (known: IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET)"),
    ]


def test_ip_add_membership_needs_a_group(tmp_path: Path) -> None:
    step = "{op: setsockopt, sock: a, opt: IP_ADD_MEMBERSHIP}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "IP_"), "IP_ADD_MEMBERSHIP needs value: an IPv4 multicast group such as 239.1.2.3")


def test_distribute_outcome_on_a_bind_step(tmp_path: Path) -> None:
    step = "{op: bind, sock: a, addr: any, port: P, expect: spread}"
    line, column, msg = only_problem(tmp_path, scenario(step))
    assert (line, column) == (6, col(step, "spread"))
    assert msg.startswith("outcome 'spread' is only for distribute steps (bind takes: ok, unsupported, timeout,")


def test_errno_or_ok_outcome_on_a_distribute_step(tmp_path: Path) -> None:
    step = "{op: distribute, to: {addr: any, port: P}, over: [a], expect: {linux: ok, bsd: EADDRINUSE}}"
    found = problems(tmp_path, scenario(step))
    assert [(line, column) for line, column, _ in found] == [(6, col(step, "ok")), (6, col(step, "EADDR"))]
    assert found[0][2] == ("outcome 'ok' is not for distribute steps "
                           "(distribute takes: spread, single, each, none, single:<sock>, any, "
                           "{at_least: N, of: [socks]}, {only: [socks]}, {lost: N})")


def test_single_sock_must_be_in_over(tmp_path: Path) -> None:
    step = "{op: distribute, to: {addr: any, port: P}, over: [a], expect: 'single:b'}"
    text = scenario("{op: socket, sock: b, type: tcp}", step)
    assert only_problem(tmp_path, text) == (7, col(step, "'single"), "single:b: socket 'b' is not in over (a)")


def test_distribute_over_mixed_types_needs_a_type(tmp_path: Path) -> None:
    step = "{op: distribute, to: {addr: any, port: P}, over: [a, u]}"
    text = scenario("{op: socket, sock: u, type: udp}", step)
    assert only_problem(tmp_path, text) == (
        7, col(step, "[a"), "over mixes tcp and udp sockets: say type: tcp or type: udp")
    ok = text.replace("over: [a, u]", "over: [a, u], type: udp")
    assert load_suite(write(tmp_path, ok)).scenarios[0].steps[-1].args["type"] == "udp"


def test_boolean_where_an_outcome_belongs(tmp_path: Path) -> None:
    step = "{op: listen, sock: a, expect: on}"
    line, column, msg = only_problem(tmp_path, scenario(step))
    assert (line, column) == (6, col(step, "on}"))
    assert msg.startswith("expected an outcome (ok, unsupported, timeout, an errno name such as EADDRINUSE, any")
    assert msg.endswith("not on (YAML reads that as a boolean: quote it)")


@pytest.mark.parametrize("step, token, message", [
    ("{op: listen, sock: a, expect: EADDRINUSE!}", "EADDR", "unknown outcome 'EADDRINUSE!' for listen"),
    ("{op: listen, sock: a, expect: {value: 1}}", "{value", "{value: N} is not for listen steps (only getsockopt, pending)"),
    ("{op: getsockopt, sock: a, opt: SO_RCVBUF, expect: {value: big}}", "big",
     "expected value must be an integer, nonzero or [low, high], not 'big'"),
    ("{op: listen, sock: a, expect: {}}", "{}", "expect: an empty mapping expects nothing"),
])
def test_bad_outcomes(tmp_path: Path, step: str, token: str, message: str) -> None:
    line, column, msg = only_problem(tmp_path, scenario(step))
    assert (line, column) == (6, col(step, token)) and msg.startswith(message)


def test_getsockopt_value_outcome_takes_a_boolean(tmp_path: Path) -> None:
    text = scenario("{op: getsockopt, sock: a, opt: SO_KEEPALIVE, expect: {linux: {value: false}, default: any}}")
    step = load_suite(write(tmp_path, text)).scenarios[0].steps[1]
    assert [r.outcome for r in step.expect.rules] == [Outcome("value", 0), Outcome("any")]


def test_undeclared_actor(tmp_path: Path) -> None:
    step = "{op: socket, sock: b, type: tcp, actor: other}"
    assert only_problem(tmp_path, scenario(step)) == (
        6, col(step, "other"), "actor 'other' is not declared in actors: (declared: main)")


def test_actor_entries(tmp_path: Path) -> None:
    text = HEAD.replace("    steps:", "    actors:\n      other: {user: nobody, uid: 65534}\n      x y: {}\n    steps:")
    assert problems(tmp_path, text) == [
        (5, 29, "unknown key 'uid' for actor 'other' (allowed: user)"),
        (6, 7, "actor name 'x y' must match [A-Za-z0-9_.-]+"),
    ]


def test_duplicate_scenario_names(tmp_path: Path) -> None:
    text = scenario() + "  - name: s\n    steps: [{op: sleep, ms: 1}]\n"
    assert only_problem(tmp_path, text) == (6, 11, "duplicate scenario name 's' (first at line 3, column 11)")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    assert only_problem(tmp_path, scenario("{op: listen, sock: a, backlog: 1, backlog: 2}")) == (
        6, 43, "duplicate key 'backlog' (first at line 6, column 31)")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = scenario("{op: listen, sock: a", "{op: sleep, ms: 1}")  # the first step lacks its `}`
    assert only_problem(tmp_path, text) == (
        7, 9, "YAML syntax error: expected ',' or '}', but got '{' (while parsing a flow mapping at line 6, column 9)")


def test_unquoted_ipv6_is_a_syntax_error_with_a_position(tmp_path: Path) -> None:
    step = "{op: bind, sock: a, addr: ::1, port: P}"
    line, column, msg = only_problem(tmp_path, scenario(step))
    assert (line, column) == (6, col(step, "::1"))
    assert msg.startswith("YAML syntax error: expected the node content, but found ':'")


def test_several_documents(tmp_path: Path) -> None:
    assert only_problem(tmp_path, scenario() + "---\nsuite: u\n") == (6, 1, (
        "YAML syntax error: but found another document (expected a single document in the stream at line 1, column 1)"))


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert only_problem(tmp_path, text) == (1, 1, "empty file: expected a mapping with suite: and scenarios:")


def test_binary_garbage(tmp_path: Path) -> None:
    assert only_problem(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == (
        1, 1, "not UTF-8 text (byte 0x89): is this a binary file?")
    assert only_problem(tmp_path, b"suite: t\nsc\xc3\xa9narios: \xff") == (  # é counts as one column
        2, 12, "not UTF-8 text (byte 0xff): is this a binary file?")
    assert only_problem(tmp_path, b"suite: t\nab\x00c") == (
        2, 3, "character U+0000 is not allowed in YAML: is this a binary file?")
    assert only_problem(tmp_path, b"[" * 5000) == (1, 1, "YAML error: nested too deeply")
    # deep enough to crash libyaml's recursive composer, closed so that it would parse: never sent there
    assert only_problem(tmp_path, b"[" * 100_000 + b"]" * 100_000) == (1, 1, "YAML error: nested too deeply")
    assert only_problem(tmp_path, b"suite: t\nscenarios:\n" + b"- " * 60_000 + b"a") == (
        1, 1, "YAML error: nested too deeply")


@pytest.mark.parametrize("text, shown", [("- a\n- b\n", "a list"), ("just words\n", "'just words'")])
def test_top_level_not_a_mapping(tmp_path: Path, text: str, shown: str) -> None:
    assert only_problem(tmp_path, text) == (1, 1, f"the top level (suite:, scenarios:) must be a mapping, not {shown}")


def test_file_structure_problems(tmp_path: Path) -> None:
    text = "suite: Reuse Port\ndescription: [x]\nscenario: []\n"
    assert problems(tmp_path, text) == [
        (1, 1, "the file is missing required field 'scenarios'"),
        (1, 8, "suite name 'Reuse Port' must match [a-z0-9_.-]+ (lower-case letters, digits, '_', '.', '-')"),
        (2, 14, "description must be a string, not a list"),
        (3, 1, "unknown top-level key 'scenario' (did you mean scenarios? allowed: description, families, scenarios, suite)"),
    ]
    assert only_problem(tmp_path, "scenarios: [{name: s, steps: [{op: sleep, ms: 1}]}]\n") == (
        1, 1, "the file is missing required field 'suite'")
    assert only_problem(tmp_path, "suite: t\nscenarios: []\n") == (
        2, 12, "scenarios must be a non-empty list, not an empty list")


def test_scenario_structure_problems(tmp_path: Path) -> None:
    text = """\
    suite: t
    scenarios:
      - name: Bad_Name
        tags: [tcp, 7, yes]
        only: [linux, windows]
        step: []
      - name: ok
        steps: {op: sleep}
    """
    found = problems(tmp_path, text)
    assert [(line, column) for line, column, _ in found] == [(3, 5), (3, 11), (4, 20), (5, 19), (6, 5), (8, 12)]
    assert found[0][2] == "scenario is missing required field 'steps'"
    assert found[2][2] == "each of tags must be a string, not yes (YAML reads that as a boolean: quote it)"
    assert found[4][2].startswith("unknown scenario key 'step' (did you mean steps?")
    assert found[5][2] == "steps must be a non-empty list, not a mapping"


def test_all_problems_of_a_file_are_reported_in_order(tmp_path: Path) -> None:
    steps = ["{op: bnd, sock: a}",
             "{op: listen, sock: a, backlog: -5}",
             "{op: connect, sock: z, addr: 8.8.8.8, port: P}",
             "{op: listen, sock: a, expect: {linux<<3: ok}}"]
    text = scenario(*steps)
    found = problems(tmp_path, text)
    assert [(line, column) for line, column, _ in found] == [
        (6, col(steps[0], "bnd")), (7, col(steps[1], "-5")), (8, col(steps[2], "z,")),
        (8, col(steps[2], "8.8")), (9, col(steps[3], "linux"))]
    with pytest.raises(ScenarioFileError) as info:
        load_suite(write(tmp_path, text))
    lines = str(info.value).splitlines()
    known = ", ".join(sorted(ops.OPS))
    assert len(lines) == 5
    assert lines[0] == f"{tmp_path / 't.yaml'}:6:14: unknown op 'bnd' (did you mean bind? known: {known})"


def test_step_without_op_and_outcome_maps_with_booleans(tmp_path: Path) -> None:
    step = "{op: listen, sock: a, expect: {linux: yes, default: ok}}"
    assert problems(tmp_path, scenario("{sock: a}", step)) == [
        (6, 9, "step has no op (known: " + ", ".join(sorted(ops.OPS)) + ")"),
        (7, col(step, "yes"), "expected an outcome (ok, unsupported, timeout, an errno name such as EADDRINUSE, any), "
                              "not yes (YAML reads that as a boolean: quote it)"),
    ]


def test_tags_and_only_may_be_one_string(tmp_path: Path) -> None:
    text = HEAD.replace("    steps:", "    tags: tcp\n    only: macos>=13\n    steps:")
    sc = load_suite(write(tmp_path, text)).scenarios[0]
    assert sc.tags == ["tcp"] and sc.only == [Selector("darwin", ">=", (13,), "macos>=13")]


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioFileError) as info:
        load_suite(path)
    assert [str(p) for p in info.value.problems] == [f"{path}:1:1: cannot read file: No such file or directory"]


def test_suite_name_clash_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, scenario(), "a.yaml")
    second = write(tmp_path, "# the same suite again\n" + scenario(), "b.yaml")
    with pytest.raises(ScenarioFileError) as info:
        load_files([first, second])
    assert info.value.problems == [Problem(Pos(second, 2, 8), f"suite name 't' is already used by {first}")]


def test_load_files_collects_problems_of_every_file(tmp_path: Path) -> None:
    bad1 = write(tmp_path, scenario("{op: bnd}"), "a.yaml")
    bad2 = write(tmp_path, "", "b.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioFileError) as info:
        load_files([bad2, bad1, str(tmp_path / "empty")])
    assert [(os.path.basename(p.pos.file), p.pos.line, p.pos.col) for p in info.value.problems] == [
        ("a.yaml", 6, 14), ("b.yaml", 1, 1), ("empty", 1, 1)]
