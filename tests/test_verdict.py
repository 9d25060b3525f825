"""Verdicts: comparison of observed outcomes with the resolved expectation."""
from harness.judge.verdict import judge, not_applicable, skipped
from harness.model import Expectation, Identity, Outcome, Pos, Rule, Scenario, ScenarioRun, Step, StepRun
from harness.scenario.selector import parse_selector

LINUX = Identity(system="Linux", release="6.1.0", version="6.1.0", family="linux")
LEGACY = Identity(system="Linux", release="3.8", version="3.8", family="linux", emulated_on="Linux 6.1.0")
FREEBSD = Identity(system="FreeBSD", release="14.0-RELEASE", version="14.0", family="freebsd")


def expect(*rules) -> Expectation:
    """expect(("linux<3.9", "errno", "ENOPROTOOPT"), ...) in written order."""
    return Expectation(tuple(Rule(parse_selector(sel), Outcome(kind, arg)) for sel, kind, arg in rules))


def step(index, op, exp, **args) -> Step:
    return Step(index=index, op=op, args=args, actor="main", expect=exp, note=None, pos=Pos("t.yaml", index + 3, 9))


def scenario(*steps, only=()) -> Scenario:
    return Scenario(suite="s", name="n", description=None, tags=[], only=[parse_selector(o) for o in only],
                    actors={}, steps=list(steps), pos=Pos("t.yaml", 3, 5))


SETSOCKOPT = step(1, "setsockopt", expect(("linux<3.9", "errno", "ENOPROTOOPT"), ("default", "ok", None)),
                  sock="a", opt="SO_REUSEPORT", value=1)
DISTRIBUTE = step(2, "distribute", expect(("linux>=3.9", "spread", None), ("bsd", "single", None)),
                  to={"addr": "loopback", "port": "P"}, over=["a", "b"], count=4, type="tcp")


def ran(*steps: StepRun) -> ScenarioRun:
    return ScenarioRun(status="ran", steps=list(steps))


def test_pass_when_every_step_matches_the_selector_for_the_target():
    sc = scenario(SETSOCKOPT)
    assert judge(sc, "local", LINUX, ran(StepRun("ok"))).verdict == "pass"
    assert judge(sc, "legacy", LEGACY, ran(StepRun("ENOPROTOOPT"))).verdict == "pass"


def test_fail_names_the_step_the_expected_and_the_observed_outcome():
    v = judge(scenario(SETSOCKOPT), "legacy", LEGACY, ran(StepRun("ok")))
    assert v.verdict == "fail"
    assert "step 1 (setsockopt a SO_REUSEPORT=1)" in v.reason
    assert "expected ENOPROTOOPT [linux<3.9], observed ok" in v.reason


def test_distribution_outcomes():
    sc = scenario(DISTRIBUTE)
    spread = StepRun("ok", extra={"histogram": {"a": 3, "b": 1}, "lost": 0})
    single = StepRun("ok", extra={"histogram": {"a": 0, "b": 4}, "lost": 0})
    assert judge(sc, "l", LINUX, ran(spread)).verdict == "pass"
    assert judge(sc, "l", LINUX, ran(single)).verdict == "fail"
    assert judge(sc, "f", FREEBSD, ran(single)).verdict == "pass"
    assert judge(sc, "f", FREEBSD, ran(spread)).verdict == "fail"
    lossy = StepRun("ok", extra={"histogram": {"a": 0, "b": 3}, "lost": 1})
    assert judge(sc, "f", FREEBSD, ran(lossy)).verdict == "fail"  # "single" means it got everything


def test_infrastructure_errors_are_never_behaviour():
    sc = scenario(SETSOCKOPT)
    err = judge(sc, "l", LINUX, ScenarioRun(status="error", steps=[StepRun("ok")], reason="step 1 timed out"))
    assert (err.verdict, err.reason) == ("error", "step 1 timed out")
    short = judge(sc, "l", LINUX, ScenarioRun(status="ran", steps=[]))
    assert short.verdict == "error"
    skip = judge(sc, "l", LINUX, ScenarioRun(status="skipped", steps=[], reason="no user nobody"))
    assert (skip.verdict, skip.reason) == ("skipped", "no user nobody")


def test_no_matching_expectation_is_an_error_naming_the_place():
    v = judge(scenario(SETSOCKOPT, DISTRIBUTE), "x", Identity("Plan9", "4", "4", "plan9"), ran(StepRun("ok"), StepRun("ok")))
    assert v.verdict == "error" and "t.yaml:5:9" in v.reason


def test_every_step_records_the_rule_that_applied_also_when_not_run():
    sc = scenario(SETSOCKOPT, DISTRIBUTE)
    v = judge(sc, "legacy", LEGACY, ScenarioRun(status="error", steps=[StepRun("ENOPROTOOPT")], reason="died"))
    assert [s.rule for s in v.steps] == [0, None]  # linux<3.9 applies; no rule of the distribute matches 3.8
    assert v.steps[0].ok and v.steps[1].observed is None
    bsd = skipped(sc, "f", "only for linux", FREEBSD)
    assert [s.rule for s in bsd.steps] == [1, 1] and [str(s.expected) for s in bsd.steps] == ["ok", "single"]
    assert all(s.observed is None and not s.ok for s in bsd.steps)
    unknown = skipped(sc, "gone", "target unavailable")
    assert [s.rule for s in unknown.steps] == [None, None]


def test_only_excludes_targets_with_a_reason():
    sc = scenario(SETSOCKOPT, only=["bsd"])
    assert not_applicable(sc, FREEBSD) is None
    assert "only for bsd" in not_applicable(sc, LINUX)


ANY = expect(("default", "any", None))


def test_a_step_on_a_socket_that_was_never_made_never_ran_and_the_scenario_cannot_pass():
    """The recorded nginx replay: the stand-in's connection went to another listener, the accept timed
    out, and the steps on the connection it would have made got the agent's own EBADF, all `any`."""
    sc = scenario(step(1, "accept", ANY, sock="l", **{"as": "c"}, timeout_ms=100),
                  step(2, "setsockopt", ANY, sock="c", opt="TCP_NODELAY", value=1),
                  step(3, "accept", ANY, sock="c", **{"as": "d"}),
                  step(4, "close", ANY, sock="l"))
    v = judge(sc, "local", LINUX, ran(StepRun("timeout"), StepRun("EBADF"), StepRun("EBADF"), StepRun("ok")))
    assert v.verdict == "error"
    assert [s.not_run for s in v.steps] == [
        None, "c was never made (step 1, accept l as c: observed timeout)",
        "c was never made (step 1, accept l as c: observed timeout)", None]
    assert [s.observed for s in v.steps][1:3] == [None, None]  # the agent's EBADF is no kernel's answer
    assert "step 2 (setsockopt c TCP_NODELAY=1) at line 5 never ran: c was never made" in v.reason
    made = judge(sc, "local", LINUX, ran(StepRun("ok"), StepRun("ok"), StepRun("timeout"), StepRun("ok")))
    assert made.verdict == "pass" and not made.not_run


def test_a_step_that_never_ran_is_listed_with_the_mismatches_of_a_failure():
    sc = scenario(step(1, "socket", expect(("default", "ok", None)), sock="a", type="tcp"),
                  step(2, "bind", ANY, sock="a", addr="loopback", port="P"))
    v = judge(sc, "local", LINUX, ran(StepRun("EMFILE"), StepRun("EBADF")))
    assert v.verdict == "fail"
    assert "expected ok [default], observed EMFILE" in v.reason
    assert "step 2 (bind a loopback:P) at line 5 never ran: a was never made (step 1, socket a: observed EMFILE)" \
        in v.reason
