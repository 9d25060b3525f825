"""Steps as they run (harness/scenario/stepgroups.py): repeated groups unrolled with their index and their
positions kept, together: groups marked and checked, and a step an `if:` removes never looked at."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from test_loader import problems, write

from harness.model import Outcome, Pos
from harness.scenario.loader import load_suite
from harness.scenario.stepgroups import MAX_STEPS


def suite(body: str, head: str = "") -> str:
    """A scenario whose steps are `body` (indented as steps), after the scenario keys in `head`."""
    return ("suite: t\nscenarios:\n  - name: s\n" + textwrap.indent(textwrap.dedent(head), "    ") +
            "    steps:\n" + textwrap.indent(textwrap.dedent(body), "      "))


def at(text: str, token: str, nth: int = 1) -> tuple[int, int]:
    """Line and column (1-based) of the nth occurrence of `token` in `text`."""
    offset = -1
    for _ in range(nth):
        offset = text.index(token, offset + 1)
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def load(tmp_path: Path, body: str, head: str = ""):
    return load_suite(write(tmp_path, suite(body, head))).scenarios


def test_repeat_unrolls_with_its_index_and_keeps_positions(tmp_path: Path) -> None:
    (sc,) = load(tmp_path, """\
        - repeat: 3
          steps:
            - {op: socket, sock: "s${i}", type: tcp}
            - {op: bind, sock: "s${i}", addr: loopback, port: P, expect: {"default[i=0]": ok, default: EADDRINUSE}}
        - {op: close, sock: s2}
        """)
    assert [(s.op, s.args["sock"]) for s in sc.steps] == [
        ("socket", "s0"), ("bind", "s0"), ("socket", "s1"), ("bind", "s1"), ("socket", "s2"), ("bind", "s2"),
        ("close", "s2")]
    path, text = str(tmp_path / "t.yaml"), (tmp_path / "t.yaml").read_text()
    socket, bind = Pos(path, *at(text, "{op: socket")), Pos(path, *at(text, "{op: bind"))
    assert [s.pos for s in sc.steps[:4]] == [socket, bind] * 2, "each copy is where it was written"
    assert [s.index for s in sc.steps] == list(range(1, 8))
    assert [s.expect.rules[0].outcome for s in sc.steps if s.op == "bind"] == [
        Outcome("ok"), Outcome("errno", "EADDRINUSE"), Outcome("errno", "EADDRINUSE")]


def test_repeat_takes_as_from_parameters_and_nests(tmp_path: Path) -> None:
    (sc,) = load(tmp_path, """\
        - repeat: "${m.n}"
          as: j
          from: 1
          steps:
            - repeat: 2
              steps:
                - {op: socket, sock: "s${j}-${i}", type: udp, if: {i: 1}}
        """, head="matrix: {m: [{n: 2}]}\n")
    assert [s.args["sock"] for s in sc.steps] == ["s1-1", "s2-1"]


def test_a_mistake_in_a_repeated_step_is_reported_once_where_it_was_written(tmp_path: Path) -> None:
    text = suite("""\
        - repeat: 50
          steps:
            - {op: socket, sock: "s${i}", type: sctp}
        """)
    assert problems(tmp_path, text) == [(*at(text, "sctp"), "type must be one of tcp, udp, not 'sctp'")]


@pytest.mark.parametrize("body, token, message", [
    ("- {repeat: 0, steps: [{op: sleep, ms: 1}]}", "0,", f"repeat must be an integer 1..{MAX_STEPS}, not 0"),
    ("- {repeat: x, steps: [{op: sleep, ms: 1}]}", "x,", f"repeat must be an integer 1..{MAX_STEPS}, not 'x'"),
    ("- {repeat: 2}", "{repeat", "a repeat: group needs steps: a non-empty list of steps"),
    ("- {repeat: 2, as: i, steps: [{repeat: 2, steps: [{op: sleep, ms: 1}]}]}", "{repeat: 2, steps",
     "the index 'i' is already a parameter here (an enclosing repeat's, or the matrix's): name it with as:"),
    ("- {repeat: 2, times: 3, steps: [{op: sleep, ms: 1}]}", "times",
     "unknown key 'times' of a repeat: group (allowed: as, from, if, repeat, steps)"),
    (f"- {{repeat: {MAX_STEPS}, steps: [{{op: sleep, ms: 1}}, {{op: sleep, ms: 2}}]}}", "{op: sleep, ms: 1}",
     f"the scenario unrolls to more than {MAX_STEPS} steps"),
])
def test_bad_repeats(tmp_path: Path, body: str, token: str, message: str) -> None:
    text = suite(body)
    assert problems(tmp_path, text) == [(*at(text, token), message)]


def test_together_marks_its_steps_and_needs_actors_that_may_run_at_once(tmp_path: Path) -> None:
    head = "actors: {x: {}, y: {}}\n"
    (sc,) = load(tmp_path, """\
        - {op: socket, sock: a, type: tcp, actor: x}
        - {op: socket, sock: b, type: tcp, actor: y}
        - together:
            - {op: bind, sock: a, addr: loopback, port: P}
            - repeat: 2
              steps:
                - {op: socket, sock: "c${i}", type: udp, actor: y}
            - {op: bind, sock: b, addr: loopback, port: P}
        - {op: close, sock: a}
        """, head)
    assert [(s.op, s.actor, s.group) for s in sc.steps] == [
        ("socket", "x", None), ("socket", "y", None), ("bind", "x", 1), ("socket", "y", 1), ("socket", "y", 1),
        ("bind", "y", 1), ("close", "x", None)]


@pytest.mark.parametrize("body, token, message", [
    ("""\
     - {op: socket, sock: a, type: tcp, actor: x}
     - together: [{op: bind, sock: a, addr: any, port: P}, {op: listen, sock: a}]
     """, "{op: bind", "a together: group runs the steps of several actors at once; all of this one's are x's"),
    ("""\
     - {op: socket, sock: a, type: tcp, actor: x}
     - together: [{op: sleep, ms: 1}, {op: listen, sock: a}]
     """, "{op: sleep", "sleep cannot run in a together: group (it is the scenario's, not an actor's)"),
    ("""\
     - together: [{op: socket, sock: a, type: tcp, actor: x}, {op: listen, sock: a, actor: y}]
     """, "actor: y", "unknown field 'actor' for listen (allowed: backlog, expect, if, note, op, sock)"),
    ("""\
     - {op: socket, sock: a, type: tcp, actor: x}
     - together: [{op: socket, sock: b, type: tcp, actor: y}, {op: bind, sock: b, addr: any, port: P},
                  {op: listen, sock: a}]
     """, None, None),
    ("- together: [{op: sleep, ms: 1}]", "[{op",
     "together: needs a list of at least two steps (of two actors or more), not a list"),
    ("- together: [{together: [{op: sleep, ms: 1}, {op: sleep, ms: 1}]}, {op: sleep, ms: 1}]", "together: [{op",
     "together: groups cannot be nested: their steps already run at once"),
])
def test_bad_together_groups(tmp_path: Path, body: str, token, message) -> None:
    text = suite(body, "actors: {x: {}, y: {}}\n")
    if message is None:  # b is y's, made in the group by y itself: allowed, then a's listen by x
        assert [s.group for s in load_suite(write(tmp_path, text)).scenarios[0].steps] == [None, 1, 1, 1]
        return
    found = problems(tmp_path, text)
    assert (*at(text, token), message) in found, found


def test_a_socket_made_in_a_together_group_is_its_maker_s_there(tmp_path: Path) -> None:
    text = suite("""\
        - {op: socket, sock: a, type: tcp, actor: x}
        - together:
            - {op: socket, sock: b, type: tcp, actor: y}
            - {op: socket, sock: c, type: tcp, actor: x}
            - {op: distribute, to: {addr: loopback, port: P}, over: [a, b]}
        """, "actors: {x: {}, y: {}}\n")
    found = problems(tmp_path, text)
    where = at(text, "{op: distribute")
    assert (*where, "distribute cannot run in a together: group (it is the scenario's, not an actor's)") in found
    assert (*where, "socket 'b' is made by actor y in the same together: group; main cannot use it there") in found


def test_a_step_an_if_removes_is_never_checked_in_that_combination(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        suite: t
        scenarios:
          - name: s-${row.id}
            matrix: {row: [{id: a, addr: loopback}, {id: b}]}
            steps:
              - {op: socket, sock: s, type: tcp}
              - {op: bind, sock: s, addr: "${row.addr}", port: P, if: {row.id: a}}
        """)
    scs = load_suite(write(tmp_path, text)).scenarios
    assert [[s.op for s in sc.steps] for sc in scs] == [["socket", "bind"], ["socket"]]
    broken = text.replace("if: {row.id: a}", "if: {row.id: b}")
    assert (*at(broken, '"${row.addr}"'), "row.addr: this value of 'row' has no field 'addr'") in problems(tmp_path, broken)
