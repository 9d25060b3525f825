"""`harness explore`'s pure parts: the generator, the comparison, shrinking, grouping, the files it writes.

No target runs here (tests/test_explore_run.py runs explorations): what a target would answer is
given, or played by a small function of the sequence.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from harness.explore import choices, generate as gen
from harness.explore.compare import first_difference
from harness.explore.draft import Draft
from harness.explore.findings import Book, Finding, Raw, features
from harness.explore.generate import generate
from harness.explore.sequence import Call, Loader, Sequence
from harness.explore.shrink import Shown, rename, renaming, shrink, simpler, without
from harness.explore.write import Exploration, expectation, render, selectors
from harness.judge.verdict import judge
from harness.model import Identity, ScenarioRun, StepRun
from harness.scenario import ops
from harness.scenario.loader import load_suite

LINUX = Identity("Linux", "6.18.44", "6.18.44", "linux")
LEGACY = Identity("Linux", "3.8 (emulated)", "3.8", "linux", emulated_on="Linux 6.18.44")
NETBSD = Identity("NetBSD", "7.99.34", "7.99.34", "netbsd")


@pytest.fixture()
def loader():
    made = Loader()
    yield made
    made.close()


def test_sequence_n_of_a_seed_is_always_the_same_and_seeds_differ():
    assert generate(1, 17) == generate(1, 17)
    assert generate(1, 17) != generate(2, 17)
    assert len({repr(generate(1, i).calls) for i in range(50)}) == 50


def test_every_generated_sequence_loads_sockets_defined_before_use(loader):
    seqs = [replace(generate(seed, i), name=f"s{seed}-{i}") for seed in (1, 7) for i in range(300)]
    scenarios = loader.load(seqs)  # the loader raises, listing every problem, on any invalid sequence
    assert [sc.name for sc in scenarios] == [s.name for s in seqs]
    for seq in seqs:
        defined: set[str] = set()
        for call in seq.calls:
            assert set(call.uses()) <= defined, (seq.name, call)
            defined.update(call.defines())


def test_most_sequences_exercise_address_sharing():
    seqs = [generate(1, i) for i in range(400)]
    shared = 0
    for seq in seqs:
        ports = Counter(c.fields["port"] for c in seq.calls if c.op == "bind")
        shared += any(n >= 2 for n in ports.values())
    assert shared / len(seqs) > 0.5
    drawn = Counter(c.op for s in seqs for c in s.calls)
    assert set(drawn) == set(ops.OPS)  # every op of the table is explored
    addrs = Counter(c.fields.get("addr") for s in seqs for c in s.calls if c.op == "bind")
    assert {"loopback", "loopback2", "any", "loopback6", "any6", "::ffff:127.0.0.1", "::ffff:0.0.0.0"} <= set(addrs)
    assert any(c.fields.get("actor") == choices.OTHER_ACTOR for s in seqs for c in s.calls)
    options = Counter(c.fields["opt"] for s in seqs for c in s.calls if c.op == "setsockopt")
    assert options.most_common(2)[0][0] in ("SO_REUSEADDR", "SO_REUSEPORT")
    after_bind = 0  # an option set on a socket after its bind
    for seq in seqs:
        bound: set[str] = set()
        for c in seq.calls:
            after_bind += c.op == "setsockopt" and c.fields["sock"] in bound
            bound |= {c.fields["sock"]} if c.op == "bind" else set()
    assert after_bind > 20


def test_a_new_op_is_explored_without_touching_the_generator(monkeypatch, loader):
    row = ops.Op({"sock": ops.SOCK, "flag": ops.Field("bool", required=True)}, lambda a: str(a["sock"]))
    monkeypatch.setitem(ops.OPS, "frobnicate", row)
    seqs = [generate(3, i) for i in range(300)]
    made = [c for s in seqs for c in s.calls if c.op == "frobnicate"]
    assert made and all(isinstance(c.fields["flag"], bool) for c in made)
    loader.load([s for s in seqs if any(c.op == "frobnicate" for c in s.calls)])


def test_the_draft_knows_which_sockets_share_a_port():
    draft = Draft()
    for call in [Call("socket", {"sock": "a", "type": "tcp"}), Call("socket", {"sock": "b", "type": "tcp"}),
                 Call("bind", {"sock": "a", "addr": "any", "port": "P"}),
                 Call("bind", {"sock": "b", "addr": "loopback", "port": "P"}), Call("close", {"sock": "b"})]:
        draft.add(call)
    assert [s.name for s in draft.on_port("P")] == ["a"] and draft.shared_ports() == []


# --- what targets answered -------------------------------------------------------------------------

SCENARIO_TEXT = """suite: t
scenarios:
  - name: n
    steps:
      - {op: socket, sock: a, type: tcp}
      - {op: setsockopt, sock: a, opt: SO_REUSEPORT}
      - {op: bind, sock: a, addr: loopback, port: P}
      - {op: distribute, to: {addr: loopback, port: P}, over: [a]}
"""


@pytest.fixture()
def scenario(tmp_path):
    (tmp_path / "t.yaml").write_text(SCENARIO_TEXT)
    return load_suite(str(tmp_path / "t.yaml")).scenarios[0]


def verdict(scenario, target, ident, *outcomes, status="ran"):
    steps = [StepRun(o) if isinstance(o, str) else StepRun("ok", extra=o) for o in outcomes]
    return judge(scenario, target, ident, ScenarioRun(status=status, steps=steps))


def test_the_first_step_whose_answers_differ_is_the_disagreement(scenario):
    same = {"local": verdict(scenario, "local", LINUX, "ok", "ok", "ok", {"histogram": {"a": 32}}),
            "local@2": verdict(scenario, "local@2", LINUX, "ok", "ok", "ok", {"histogram": {"a": 31}, "lost": 1})}
    assert first_difference(same) == (None, True)  # a distribution compares by its shape
    legacy = verdict(scenario, "local-legacy", LEGACY, "ok", "ENOPROTOOPT", "EADDRINUSE", {"histogram": {"a": 0}})
    diff, answered = first_difference({"local": same["local"], "local-legacy": legacy})
    assert answered and (diff.index, diff.op) == (1, "setsockopt")
    assert diff.answers == (("local", "ok"), ("local-legacy", "ENOPROTOOPT"))


def test_an_agent_error_is_infrastructure_never_a_disagreement(scenario):
    broken = verdict(scenario, "rump", NETBSD, "ok", status="error")
    assert broken.verdict == "error"
    fine = verdict(scenario, "local", LINUX, "ok", "ok", "ok", {"histogram": {"a": 32}})
    assert first_difference({"local": fine, "rump": broken}) == (None, False)


# --- shrinking ---------------------------------------------------------------------------------------

def call(op, **fields):
    return Call(op, fields, f"test step {op}")


NOISY = Sequence("seq-9", (
    call("socket", sock="s0", type="tcp", actor="other"),
    call("socket", sock="s1", type="tcp"),
    call("setsockopt", sock="s0", opt="SO_RCVBUF", value=4096),
    call("setsockopt", sock="s1", opt="SO_REUSEADDR"),
    call("socket", sock="s2", type="udp"),
    call("bind", sock="s0", addr="loopback2", port="Q"),
    call("setsockopt", sock="s0", opt="SO_REUSEADDR"),
    call("bind", sock="s2", addr="any", port="Q"),
    call("bind", sock="s1", addr="loopback2", port="Q"),
    call("listen", sock="s1"),
), {"other": "nobody"})


def play(seq: Sequence):
    """A pretend pair of kernels: they differ at a bind over another socket's bind of the same address and
    port when both set SO_REUSEADDR (one refuses it: EADDRINUSE), and nowhere else."""
    opts: dict[str, set] = {}
    bound: dict[tuple, str] = {}
    answers_a, answers_b = [], []
    for i, c in enumerate(seq.calls):
        a = b = "ok"
        if c.op == "setsockopt":
            opts.setdefault(c.fields["sock"], set()).add(c.fields["opt"])
        if c.op == "bind":
            where = (c.fields["addr"], c.fields["port"])
            other = bound.get(where)
            if other and {"SO_REUSEADDR"} <= opts.get(other, set()) & opts.get(c.fields["sock"], set()):
                b = "EADDRINUSE"
            bound.setdefault(where, c.fields["sock"])
        answers_a.append(a)
        answers_b.append(b)
    from harness.explore.compare import Difference
    diff = next((Difference(i, seq.calls[i].op, (("x", a), ("y", b)))
                 for i, (a, b) in enumerate(zip(answers_a, answers_b)) if a != b), None)
    return Shown(diff, {"x": answers_a, "y": answers_b})


def test_shrinking_keeps_the_same_disagreement_and_drops_everything_else(loader):
    batches = []

    def run(seqs):
        batches.append(len(seqs))
        return [play(s) for s in seqs]

    shown = play(NOISY)
    assert shown.difference.index == 8
    done = shrink(NOISY, shown, run, lambda s: loader.valid(s) is not None)
    steps = [(c.op, dict(c.fields)) for c in done.sequence.calls]
    assert steps == [("socket", {"sock": "a", "type": "tcp"}), ("socket", {"sock": "b", "type": "tcp"}),
                     ("setsockopt", {"sock": "b", "opt": "SO_REUSEADDR"}),
                     ("bind", {"sock": "a", "addr": "loopback", "port": "P"}),
                     ("setsockopt", {"sock": "a", "opt": "SO_REUSEADDR"}),  # an option set after bind counts
                     ("bind", {"sock": "b", "addr": "loopback", "port": "P"})]
    assert done.shown.difference.op == "bind" and done.runs == len(batches)
    assert "addr loopback2 simplified to loopback" in done.sequence.calls[3].origin
    assert done.sequence.actors() == {}  # the other user's actor went with the simplification


def test_removing_a_step_removes_what_depends_on_it():
    seq = Sequence("s", (call("socket", sock="a", type="tcp"), call("socket", sock="b", type="tcp"),
                         call("bind", sock="a", addr="any", port="P"), call("bind", sock="b", addr="any", port="P"),
                         call("distribute", to={"addr": "loopback", "port": "P"}, over=["a", "b"])))
    fewer = without(seq, {1})
    assert [c.op for c in fewer.calls] == ["socket", "bind", "distribute"]
    assert fewer.calls[-1].fields["over"] == ["a"]
    assert without(seq, {0, 1}) is None  # the last call (the difference) would go


def test_simpler_arguments_by_field_kind():
    seq = Sequence("s", (call("socket", sock="s4", type="tcp", family="inet6", v6only=True),
                         call("bind", sock="s4", addr="any6", port="Q"), call("sleep", ms=2500)))
    changed = {(i, k, str(v)) for cand in simpler(seq) for i, c in enumerate(cand.calls)
               for k, v in c.fields.items() if seq.calls[i].fields.get(k) != v}
    dropped = {(i, k) for cand in simpler(seq) for i, c in enumerate(cand.calls)
               for k in seq.calls[i].fields if k not in c.fields}
    assert {(1, "addr", "loopback6"), (1, "port", "P"), (2, "ms", "10")} <= changed
    assert {(0, "family"), (0, "v6only")} <= dropped
    socks, ports = renaming(seq)
    assert socks == {"s4": "a"} and ports == {"Q": "P"}
    assert rename(seq, socks, ports).calls[1].fields == {"sock": "a", "addr": "any6", "port": "P"}


# --- grouping -----------------------------------------------------------------------------------------

def raw(seq: Sequence) -> Raw:
    return Raw(seq, play(seq))


def test_a_disagreement_that_contains_a_findings_steps_is_counted_with_it():
    book = Book()
    small = Sequence("seq-1", (call("socket", sock="s0", type="tcp"), call("socket", sock="s1", type="tcp"),
                               call("setsockopt", sock="s1", opt="SO_REUSEADDR"),
                               call("bind", sock="s1", addr="loopback2", port="Q"),
                               call("setsockopt", sock="s0", opt="SO_REUSEADDR"),
                               call("bind", sock="s0", addr="loopback2", port="Q")))
    finding = Finding(small, play(small), small)
    assert book.add(finding, raw(small)) is finding and finding.count == 1
    assert book.count(raw(NOISY))  # NOISY has every ingredient of the finding, and more
    assert finding.instances == ["seq-1", "seq-9"]
    other = replace(NOISY, name="seq-10", calls=tuple(c for c in NOISY.calls if c.fields.get("opt") != "SO_RCVBUF"))
    assert features(other) != features(NOISY) and book.explain(raw(other)) is finding
    lacking = replace(small, name="seq-12", calls=small.calls[:2] + small.calls[3:4] + small.calls[4:])
    assert play(lacking).difference is None  # without one of its ingredients, no disagreement at all
    again = Finding(small, play(small), small)
    assert book.add(again, raw(replace(small, name="seq-11"))) is finding and len(book.findings) == 1
    assert finding.count == 3 and book.repeats == {finding.key: 1}


# --- the file a finding becomes ------------------------------------------------------------------------

def test_selectors_come_from_each_targets_identity():
    assert selectors({"local": LINUX, "local-legacy": LEGACY, "rump": NETBSD}) == \
        {"local-legacy": "linux<3.9", "local": "linux>=3.9", "rump": "netbsd"}
    assert list(selectors({"a": LINUX, "b": replace(LINUX, version="6.18.44")}).values()) == ["linux", "linux"]
    rules = selectors({"local": LINUX, "rump": NETBSD})
    assert expectation("getsockopt", {"local": "ok value=1", "rump": "ok value=4"}, rules) == \
        ({"linux": {"value": 1}, "netbsd": {"value": 4}}, "")
    assert expectation("bind", {"local": "ok", "rump": "ok"}, rules) == (None, "")  # ok is a step's default
    assert expectation("distribute", {"local": "spread", "rump": "single:b"}, rules)[0] == \
        {"linux": "spread", "netbsd": "single:b"}
    same = selectors({"a": LINUX, "b": LINUX})
    written, remark = expectation("bind", {"a": "ok", "b": "EINVAL"}, same)
    assert written == "any" and "a ok, b EINVAL" in remark


def test_a_finding_file_validates_expects_what_each_target_returned_and_says_where_each_step_came_from(tmp_path):
    seq = Sequence("seq-3", (call("socket", sock="a", type="tcp"),
                             call("setsockopt", sock="a", opt="SO_REUSEPORT")))
    from harness.explore.compare import Difference
    shown = Shown(Difference(1, "setsockopt", (("local", "ok"), ("local-legacy", "ENOPROTOOPT"))),
                  {"local": ["ok", "ok"], "local-legacy": ["ok", "ENOPROTOOPT"]})
    finding = Finding(seq, shown, replace(seq, calls=seq.calls * 3), instances=["seq-3", "seq-8"])
    how = Exploration(1, 200, ("local", "local-legacy"), {"local": LINUX, "local-legacy": LEGACY},
                      "harness explore --targets local,local-legacy --seed 1 --budget 200")
    path = tmp_path / "found.yaml"
    path.write_text(render(finding, how, "found"))
    sc = load_suite(str(path)).scenarios[0]
    assert "explored" in sc.tags and "seed 1, budget 200" in sc.description and "in 2 of the 200" in sc.description
    assert all(step.note and step.note.startswith("test step") for step in sc.steps)
    assert "local-legacy (linux 3.8, emulated) ENOPROTOOPT" in sc.steps[1].note
    ok = judge(sc, "local", LINUX, ScenarioRun("ran", [StepRun("ok"), StepRun("ok")]))
    old = judge(sc, "local-legacy", LEGACY, ScenarioRun("ran", [StepRun("ok"), StepRun("ENOPROTOOPT")]))
    assert ok.verdict == old.verdict == "pass"
    assert judge(sc, "local-legacy", LEGACY, ScenarioRun("ran", [StepRun("ok"), StepRun("ok")])).verdict == "fail"


def test_weights_and_choices_name_only_what_the_table_has():
    assert set(gen.OP_WEIGHTS) <= set(ops.OPS)
    assert set(choices.CHOOSERS) == set(__import__("harness.scenario.fields", fromlist=["FIELD_KINDS"]).FIELD_KINDS)
    assert set(choices.OPTION_WEIGHTS) <= set(ops.OPTIONS) and set(choices.PREFER) <= set(ops.OPS)
    for profile in gen.PROFILES.values():
        assert profile.ops is None or profile.ops <= set(ops.OPS)
        assert profile.options is None or profile.options <= set(ops.OPTIONS)
