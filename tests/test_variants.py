"""Variants (docs/variants.md): address families and parameter matrices, from the YAML to a kernel's answer."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, harness, needs_root, results

from harness.scenario.ops import describe
from harness.judge.verdict import not_applicable
from harness.model import Identity, Scenario
from harness.scenario.loader import ScenarioFileError, load_suite
from harness.scenario.expand import MAX_COMBINATIONS

FAMILIES = ("inet", "inet6", "inet6-mapped")
ONE_SOCKET_IN_EVERY_FAMILY = """
        suite: s
        families: [inet, inet6, inet6-mapped]
        scenarios:
          - name: x
            steps:
              - {op: socket, sock: a, type: tcp}"""  # indented as the tests' own text, which follows


def load(tmp_path: Path, text: str) -> list[Scenario]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text))
    return load_suite(str(path)).scenarios


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as e:
        load(tmp_path, text)
    return [f"{p.pos.line}:{p.pos.col}: {p.message}" for p in e.value.problems]


def ident(family: str, version: str) -> Identity:
    return Identity(system=family, release=version, version=version, family=family)


def test_each_family_is_its_own_scenario_with_translated_sockets_and_addresses(tmp_path):
    scenarios = load(tmp_path, ONE_SOCKET_IN_EVERY_FAMILY + """
              - {op: bind, sock: a, addr: loopback, port: P}
              - {op: listen, sock: a}
              - {op: socket, sock: c, type: tcp}
              - {op: connect, sock: c, addr: any, port: P}
              - {op: distribute, to: {addr: loopback, port: P}, over: [a]}
    """)
    assert [s.id for s in scenarios] == ["s/x[inet]", "s/x[inet6]", "s/x[inet6-mapped]"]
    table = {s.params["family"]: [(st.args.get("family"), st.args.get("v6only"), st.args.get("addr"),
                                   (st.args.get("to") or {}).get("addr")) for st in s.steps] for s in scenarios}
    assert table["inet"][:2] == [("inet", None, None, None), (None, None, "loopback", None)]
    assert table["inet6"][0] == ("inet6", True, None, None)
    assert [row[2] for row in table["inet6"]][1:5] == ["loopback6", None, None, "any6"]
    assert table["inet6"][5][3] == "loopback6"  # IPv6 clients
    assert table["inet6-mapped"][0] == ("inet6", False, None, None)
    assert [row[2] for row in table["inet6-mapped"]][1:5] == ["::ffff:127.0.0.1", None, None, "any6"]
    assert table["inet6-mapped"][5][3] == "loopback"  # IPv4 clients to AF_INET6 receivers
    assert describe(scenarios[1].steps[0].op, scenarios[1].steps[0].args) == "socket a inet6 v6only=1"


def test_what_a_family_cannot_express_is_skipped_with_its_reason(tmp_path):
    two, group, lb = load(tmp_path, """
        suite: s
        families: [inet, inet6, inet6-mapped]
        scenarios:
          - name: two
            families: [inet6]
            steps:
              - {op: socket, sock: a, type: tcp}
              - {op: bind, sock: a, addr: loopback2, port: P}
          - name: group
            families: [inet6-mapped]
            steps:
              - {op: socket, sock: a, type: udp}
              - {op: setsockopt, sock: a, opt: IP_ADD_MEMBERSHIP, value: 239.1.2.3}
          - name: lb
            families: [inet6-mapped]
            steps:
              - {op: socket, sock: a, type: udp}
    """)
    linux = ident("linux", "6.1")
    assert "single loopback address" in not_applicable(two, linux)
    assert "IP_ADD_MEMBERSHIP is IPv4 only" in not_applicable(group, linux)
    assert not_applicable(lb, linux) is None
    assert "no IPv4-mapped" in not_applicable(lb, ident("openbsd", "7.6"))
    assert not_applicable(lb, ident("freebsd", "14.3")) is None


def test_expectations_narrowed_to_a_family(tmp_path):
    scenarios = load(tmp_path, ONE_SOCKET_IN_EVERY_FAMILY + """
              - op: bind
                sock: a
                addr: loopback
                port: P
                expect: {"netbsd[inet6]": EACCES, "freebsd<12[inet6-mapped]": EINVAL, freebsd<12: ok, default: ok}
    """)
    rules = {s.params["family"]: [(str(r.selector), str(r.outcome)) for r in s.steps[1].expect.rules]
             for s in scenarios}
    assert rules["inet"] == [("freebsd<12", "ok"), ("default", "ok")]
    assert rules["inet6"] == [("netbsd", "EACCES"), ("freebsd<12", "ok"), ("default", "ok")]
    assert rules["inet6-mapped"] == [("freebsd<12", "EINVAL"), ("default", "ok")]


@pytest.mark.parametrize("body, message", [
    ("families: [inet7]", "3:12: unknown family 'inet7'"),
    ("families: inet", "3:11: families must be a list"),
    ("families: [inet, inet]", "3:18: family 'inet' is listed twice"),
])
def test_bad_families(tmp_path, body, message):
    found = problems(tmp_path, f"""
        suite: s
        {body}
        scenarios:
          - name: x
            steps: [{{op: socket, sock: a, type: tcp}}]
    """)
    assert any(p.startswith(message) for p in found), found


def test_a_family_scenario_writes_symbolic_ipv4_addresses_only(tmp_path):
    found = problems(tmp_path, """
        suite: s
        families: [inet6]
        scenarios:
          - name: x
            steps:
              - {op: socket, sock: a, type: tcp, family: inet6}
              - {op: bind, sock: a, addr: loopback6, port: P}
              - {op: bind, sock: a, addr: 127.0.0.1, port: P}
    """)
    assert found[0].startswith("7:42: family comes from the variant (inet6)")
    assert found[1].startswith("8:35: a scenario with families: writes the IPv4 symbolic addresses")
    assert found[2].startswith("9:35:") and "not '127.0.0.1'" in found[2]


TEMPLATE = """
    suite: s
    scenarios:
      - name: t-${row.id}-${reuse}-${state}
        description: a on ${row.first}
        matrix:
          row:
            - {id: same, first: loopback, kind: same}
            - {id: wild, first: any, kind: overlap, reuse: off}
          reuse: [off, on]
          state: [bound, listening]
        steps:
          - {op: socket, sock: a, type: tcp}
          - {op: setsockopt, sock: a, opt: SO_REUSEADDR, value: "${reuse}", if: {reuse: on}}
          - {op: bind, sock: a, addr: "${row.first}", port: P}
          - {op: listen, sock: a, if: {state: listening}}
          - op: bind
            sock: a
            addr: loopback
            port: P
            if: {row.kind: [same, overlap]}
            expect: {"linux[state=listening, reuse=on]": EADDRINUSE, default: EINVAL}
"""


def test_a_matrix_expands_in_written_order_with_pins_conditions_and_typed_references(tmp_path):
    scenarios = load(tmp_path, TEMPLATE)
    assert [s.name for s in scenarios] == ["t-same-off-bound", "t-same-off-listening", "t-same-on-bound",
                                           "t-same-on-listening", "t-wild-off-bound", "t-wild-off-listening"]
    by = {s.name: s for s in scenarios}
    on = by["t-same-on-listening"]
    assert [st.op for st in on.steps] == ["socket", "setsockopt", "bind", "listen", "bind"]
    assert [st.index for st in on.steps] == [1, 2, 3, 4, 5]  # numbered after if: dropped steps
    assert on.steps[1].args["value"] == 1  # "${reuse}" is the boolean `on`, quoted or not
    assert [st.op for st in by["t-wild-off-bound"].steps] == ["socket", "bind", "bind"]
    assert by["t-wild-off-bound"].steps[1].args["addr"] == "any"
    assert by["t-wild-off-bound"].description == "a on any"
    assert [str(r.selector) for r in on.steps[-1].expect.rules] == ["linux", "default"]
    assert [str(r.selector) for r in by["t-same-on-bound"].steps[-1].expect.rules] == ["default"]
    assert on.params == {"row": "id=same, first=loopback, kind=same", "reuse": "on", "state": "listening"}
    assert on.pos.line == 4  # the template's place


@pytest.mark.parametrize("old, new, message", [
    # a mistake in one value is reported where that value is written
    ("first: any, kind: overlap", "first: anyy, kind: overlap", "9:29: addr 'anyy' is neither"),
    # an unknown parameter, at the reference
    ('addr: "${row.first}"', 'addr: "${row.firts}"', "15:35: row.firts: this value of 'row' has no field"),
    ("if: {state: listening}", "if: {stat: listening}", "16:36: unknown parameter 'stat'"),
    ("description: a on ${row.first}", "description: a on ${row.first", "5:18: '${' must start a reference"),
    ("- name: t-${row.id}-${reuse}-${state}", "- name: t-${row.id}-${reuse}",
     "4:11: duplicate scenario name 't-same-off'"),
    ("reuse: [off, on]", "reuse: off", "10:14: matrix parameter 'reuse' needs a non-empty list"),
    ("reuse: [off, on]", "family: [off, on]", "10:7: parameter name 'family' must match"),
])
def test_matrix_mistakes_point_into_the_template(tmp_path, old, new, message):
    assert old in TEMPLATE
    found = problems(tmp_path, TEMPLATE.replace(old, new))
    assert any(p.startswith(message) for p in found), found


def test_a_matrix_is_bounded(tmp_path):
    axes = "".join(f"\n      p{i}: [a, b, c, d, e, f, g, h]" for i in range(5))
    path = tmp_path / "s.yaml"
    path.write_text("suite: s\nscenarios:\n  - name: x-${p0}\n    matrix:" + axes + "\n    steps: [{op: sleep, ms: 1}]\n")
    with pytest.raises(ScenarioFileError) as e:
        load_suite(str(path))
    assert str(e.value) == f"{path}:5:7: matrix has {8 ** 5} combinations; at most {MAX_COMBINATIONS} are allowed"


def test_if_and_conditions_need_parameters(tmp_path):
    found = problems(tmp_path, """
        suite: s
        scenarios:
          - name: x
            steps:
              - {op: socket, sock: a, type: tcp, if: {state: bound}}
    """)
    assert found == ["6:46: if: needs parameters: a matrix:, families: or an enclosing repeat:"]


def test_seed_002_table_as_a_matrix_is_the_table_written_out():
    """scenarios/reuseaddr.yaml's template expands, in its inet variants, to the 24 scenarios of the
    written-out table (tests/data/reuseaddr-table.yaml): same names, steps, arguments and expectations."""
    def shape(sc: Scenario) -> tuple:
        return (sc.name.removesuffix("[inet]"), sc.tags,
                [(st.index, st.op, st.actor, st.args, [(str(r.selector), str(r.outcome)) for r in st.expect.rules])
                 for st in sc.steps])

    table = [shape(sc) for sc in load_suite(str(ROOT / "tests" / "data" / "reuseaddr-table.yaml")).scenarios]
    expanded = [shape(sc) for sc in load_suite(str(ROOT / "scenarios" / "reuseaddr.yaml")).scenarios
                if sc.params.get("family") == "inet" and "row" in sc.params]
    assert len(table) == 24 and expanded == table


@needs_root
def test_v6only_reaches_the_kernel(tmp_path):
    """The socket step's v6only is really set: Linux refuses a v4-mapped bind on a v6-only socket
    (net/ipv6/af_inet6.c __inet6_bind: EINVAL) and allows it otherwise."""
    path = tmp_path / "v6only.yaml"
    path.write_text(textwrap.dedent("""
        suite: v6only
        scenarios:
          - name: mapped-bind
            steps:
              - {op: socket, sock: a, type: tcp, family: inet6, v6only: true}
              - {op: bind, sock: a, addr: "::ffff:127.0.0.1", port: P, expect: EINVAL}
              - {op: socket, sock: b, type: tcp, family: inet6, v6only: false}
              - {op: bind, sock: b, addr: "::ffff:127.0.0.1", port: P}
    """))
    proc = harness("run", str(path), "--targets", "local", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (result,) = results(tmp_path / "out")["results"]
    assert [s["observed"]["outcome"] for s in result["steps"]] == ["ok", "EINVAL", "ok", "ok"]


def test_if_merged_into_a_step_counts_like_its_own(tmp_path):
    scenarios = load(tmp_path, """
        suite: s
        scenarios:
          - name: x-${state}
            matrix: {state: [bound, listening]}
            steps:
              - {op: socket, sock: a, type: tcp}
              - &listening {op: listen, sock: a, if: {state: listening}}
              - {<<: *listening, backlog: 4}
    """)
    assert [[st.op for st in s.steps] for s in scenarios] == [["socket"], ["socket", "listen", "listen"]]
