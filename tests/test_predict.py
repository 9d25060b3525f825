"""The model (harness/predict) against what authors wrote, and `harness predict`: pure, no kernel.

Every system's predictions must reproduce the library's written, sourced expectations: no step may
disagree, and the steps the model leaves unknown are exactly the ones docs/model.md lists. The
model's kernels are held against real ones in tests/test_model_kernels.py.
"""
from __future__ import annotations

import json

import pytest
from conftest import ROOT, harness

from harness.model import Outcome
from harness.predict import System, predict
from harness.predict.agree import implies, with_observation
from harness.predict.compare import with_expectations
from harness.predict.generate import Sequence, sequences, shrink, suite_text
from harness.predict.rulebook import RULES
from harness.scenario.loader import load_files

LIBRARY = [sc for suite in load_files([str(ROOT / "scenarios")]) for sc in suite.scenarios]
QUIRKS = ROOT / "tests" / "data" / "model" / "linux-quirks.yaml"
# Steps of the library the model cannot decide, per system, each for the reason docs/model.md gives.
UNKNOWN = {"freebsd-11": 7, "openbsd-7.6": 1, "netbsd-10": 4, "netbsd-7.99": 4, "dragonfly-6.4": 135}
SYSTEMS = ["freebsd-11", "freebsd-12", "freebsd-13", "freebsd-14", "freebsd-15", "macos-14", "openbsd-7.6",
           "netbsd-10", "netbsd-7.99", "dragonfly-6.4", "linux-3.8", "linux-4.4", "linux-4.14", "linux-5.4",
           "linux-6", "linux-6.18"]


@pytest.mark.parametrize("system", SYSTEMS)
def test_predictions_reproduce_every_written_expectation_of_the_library(system):
    tally = with_expectations(LIBRARY, System.parse(system))
    assert tally.disagreements == [], "\n".join(map(str, tally.disagreements))
    assert len(tally.unknown) == UNKNOWN.get(system, 0), "\n".join(map(str, tally.unknown))
    assert tally.counts["agree"] > 900


def test_the_unknown_steps_are_the_documented_ones():
    """docs/model.md names why each is unknown; the reasons are the model's own words."""
    why = {str(d) for system in ("freebsd-11", "openbsd-7.6", "netbsd-10")
           for d in with_expectations(LIBRARY, System.parse(system)).unknown}
    assert any("multicast trigger" in w for w in why)  # FreeBSD 11, open question 1
    assert any("multicast delivery is not modelled for OpenBSD" in w for w in why)
    assert any("multiple of 128" in w for w in why)  # NetBSD N-9: the port's number decides
    doc = " ".join((ROOT / "docs" / "model.md").read_text().split())
    for phrase in ("multicast trigger", "multiple of 128", "OpenBSD's UDP multicast", "DragonFly"):
        assert phrase in doc


def test_linux_quirks_file_is_predicted_as_written():
    scenarios = [sc for suite in load_files([str(QUIRKS)]) for sc in suite.scenarios]
    for system in ("linux-6.18.44", "linux-3.8", "linux-4.20", "linux-6"):
        tally = with_expectations(scenarios, System.parse(system))
        assert tally.disagreements == [] and tally.unknown == [], system


def test_a_prediction_names_its_rules_and_every_rule_its_source():
    sc = next(s for s in LIBRARY if s.id == "reuseport/distribute-tcp-wildcard-four-listeners[inet]")
    last = {name: predict(sc, System.parse(name))[-1] for name in ("freebsd-13", "freebsd-14", "macos-14", "linux-6")}
    assert {k: p.outcome for k, p in last.items()} == {"freebsd-13": "single:s0", "freebsd-14": "single:s3",
                                                     "macos-14": "single:s0", "linux-6": "spread"}
    assert "F-21" in last["freebsd-13"].rules and "F-22" in last["freebsd-14"].rules and "L35" in last["linux-6"].rules
    for rule in RULES.values():
        assert rule.sources and all(s.repo and s.path and s.function for s in rule.sources), rule.id
        assert rule.confidence in ("verified", "high", "medium"), rule.id


def test_versions_the_notes_did_not_read_are_unknown_not_guessed():
    sc = next(s for s in LIBRARY if s.id == "reuseaddr/udp-multicast-no-reuseaddr[inet]")
    assert predict(sc, System.parse("freebsd-11"))[1].outcome == "unknown"  # multicast trigger before 12
    assert predict(sc, System.parse("freebsd-12"))[1].outcome == "ok"
    assert {p.outcome for p in predict(sc, System.parse("openbsd-6.9"))} == {"unknown"}
    assert all(p.why for p in predict(sc, System.parse("openbsd-6.9")))


def test_agreement_rules():
    assert implies("single:s3", Outcome("single")) and not implies("single:s3", Outcome("single", "s0"))
    assert implies("value=512", Outcome("value", "nonzero")) and not implies("value=0", Outcome("value", "nonzero"))
    assert implies("each", Outcome("spread")) and not implies("spread", Outcome("each"))
    assert with_observation("bind", "ok", {"outcome": "ok"}) == "agree"
    assert with_observation("getsockopt", "value=1", {"outcome": "ok", "value": 512}) == "disagree"
    assert with_observation("distribute", "spread", {"outcome": "ok", "histogram": {"a": 3, "b": 29}}) == "agree"
    assert with_observation("distribute", "single:a", {"outcome": "ok", "histogram": {"a": 0, "b": 32}}) == "disagree"
    assert with_observation("bind", "unknown", {"outcome": "ok"}) == "unknown"


def test_generated_sequences_are_seeded_and_load(tmp_path):
    assert suite_text(sequences(5, 30)) == suite_text(sequences(5, 30))
    assert suite_text(sequences(5, 30)) != suite_text(sequences(6, 30))
    path = tmp_path / "g.yaml"
    path.write_text(suite_text(sequences(5, 200)))
    loaded = [sc for suite in load_files([str(path)]) for sc in suite.scenarios]
    assert len(loaded) == 200
    ops = {st.op for sc in loaded for st in sc.steps}
    assert {"bind", "listen", "connect", "setsockopt", "distribute", "accept", "close"} <= ops
    assert all(st.expect.rules[0].outcome.kind == "any" for sc in loaded for st in sc.steps)


def test_shrink_keeps_what_still_fails():
    seq = Sequence("x", [{"op": "socket", "sock": f"s{i}"} for i in range(10)])
    small = shrink(seq, lambda s: any(st["sock"] == "s7" for st in s.steps) and any(st["sock"] == "s2" for st in s.steps))
    assert [st["sock"] for st in small.steps] == ["s2", "s7"]


def test_harness_predict_prints_each_system_and_the_rules_cited():
    proc = harness("predict", "reuseport", "--system", "freebsd-14,macos-14", "--tags", "distribute")
    assert proc.returncode == 0, proc.stderr
    assert "freebsd-14:" in proc.stdout and "0 disagree" in proc.stdout and "rules cited" in proc.stdout
    assert "F-22" in proc.stdout and "in_pcblookup_hash_wild_smr" in proc.stdout


def test_harness_predict_json(tmp_path):
    proc = harness("predict", str(QUIRKS), "--system", "linux-6.18.44", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "harness-predictions/1" and doc["systems"] == ["linux-6.18.44"]
    cell = doc["scenarios"][0]["steps"][9]["predictions"]["linux-6.18.44"]
    assert cell == {"outcome": "ok", "rules": ["L14", "L15", "L18a"], "why": None, "written": "ok",
                    "selector": "default", "agrees": "agree"}
    assert "L18a" in doc["rules"] and doc["rules"]["L18a"]["sources"]


def test_harness_predict_bad_input_and_check(tmp_path):
    bad = harness("predict", "reuseport", "--system", "plan9-4")
    assert bad.returncode == 2 and "--system 'plan9-4' is not a system" in bad.stderr
    assert harness("predict", "nosuchsuite", "--system", "linux-6").returncode == 2
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("suite: w\nscenarios:\n  - name: w\n    steps:\n      - {op: socket, sock: a, type: udp}\n"
                     "      - {op: listen, sock: a, expect: {freebsd: EOPNOTSUPP, default: any}}\n")
    proc = harness("predict", str(wrong), "--system", "freebsd-14", "--check")
    assert proc.returncode == 1 and "✗ ENOTSUP" in proc.stdout  # the agent names FreeBSD's 45 ENOTSUP (rule A3)
    assert harness("predict", str(wrong), "--system", "freebsd-14").returncode == 0


def test_docs_list_every_rule_as_the_model_holds_it():
    from harness.predict.listing import rules_markdown
    doc = (ROOT / "docs" / "model.md").read_text()
    start = doc.index("<!-- rules:")
    start = doc.index("\n", start) + 1
    assert doc[start:doc.index("<!-- end of rules -->")] == rules_markdown(), \
        "regenerate the table of docs/model.md with `harness predict --rules`"
