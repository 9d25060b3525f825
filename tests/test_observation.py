"""Reading observations: the same text, signature and matching for verdicts and every report."""
import pytest

from harness import agent, observation
from harness.model import Outcome
from harness.scenario import ops
from harness.scenario.selector import OS_FAMILIES

OVER = {"over": ["a", "b"], "count": 4}


def obs(outcome="ok", **extra):
    return {"outcome": outcome, "ms": 0.1, **extra}


def test_distribution_outcomes_are_judged_by_who_received():
    spread, single = obs(histogram={"a": 3, "b": 1}, lost=0), obs(histogram={"a": 0, "b": 4}, lost=0)
    assert observation.satisfies(Outcome("spread"), spread, OVER)
    assert not observation.satisfies(Outcome("spread"), single, OVER)
    assert observation.satisfies(Outcome("single"), single, OVER)
    assert observation.satisfies(Outcome("single", "b"), single, OVER)
    assert not observation.satisfies(Outcome("single", "a"), single, OVER)
    assert not observation.satisfies(Outcome("single"), obs(histogram={"a": 0, "b": 3}, lost=1), OVER)
    assert observation.satisfies(Outcome("each"), obs(histogram={"a": 4, "b": 4}), OVER)
    assert not observation.satisfies(Outcome("each"), single, OVER)
    assert observation.satisfies(Outcome("none"), obs(histogram={"a": 0, "b": 0}, lost=4), OVER)
    assert not observation.satisfies(Outcome("spread"), obs("EINVAL"), OVER)


def test_values_errnos_and_any():
    assert observation.satisfies(Outcome("value", 1), obs(value=1), {})
    assert not observation.satisfies(Outcome("value", 1), obs(value=0), {})
    assert not observation.satisfies(Outcome("value", 1), obs("ENOPROTOOPT"), {})
    assert observation.satisfies(Outcome("errno", "EADDRINUSE"), obs("EADDRINUSE"), {})
    assert not observation.satisfies(Outcome("ok"), obs("EADDRINUSE"), {})
    assert observation.satisfies(Outcome("any"), obs("EWHATEVER"), {})


def test_signature_is_what_targets_must_share():
    assert observation.signature("distribute", obs(histogram={"s0": 9, "s1": 23})) == "spread"
    assert observation.signature("distribute", obs(histogram={"s0": 0, "s1": 32})) == "single:s1"
    assert observation.signature("distribute", obs(histogram={"s0": 0, "s1": 0})) == "none"
    assert observation.signature("distribute", obs("EINVAL")) == "EINVAL"
    assert observation.signature("getsockopt", obs(value=512, raw=512)) == "ok value=512"
    assert observation.signature("bind", obs("EADDRINUSE", errno=98)) == "EADDRINUSE"
    assert observation.signature("bind", None) is None
    assert observation.signature("an-op-from-a-newer-harness", obs(value=3)) == "ok value=3"


def test_text_reads_the_same_observation_for_people():
    assert observation.text("distribute", obs(histogram={"s0": 3, "s1": 29}, lost=0)) == "s0=3 s1=29"
    assert observation.text("distribute", obs(histogram={"s0": 3}, lost=29)) == "s0=3 lost=29"
    assert observation.text("getsockopt", obs(value=1)) == "ok value=1"
    assert observation.text("setsockopt", obs("ENOPROTOOPT", errno=92)) == "ENOPROTOOPT"
    assert observation.text("bind", None) == "(not run)"


# --- guards: one vocabulary on both sides of the protocol ------------------------------------

def test_every_op_of_the_table_has_an_agent_handler_and_no_more():
    assert agent.known_ops() == sorted(ops.OPS)


def test_harness_and_agent_share_options_and_addresses():
    assert agent.OPTION_LEVELS == ops.OPTIONS
    assert agent.ADDRESSES == ops.ADDRESSES
    linux_lacks = {opt for opt, systems in ops.OPTION_SYSTEMS.items() if "linux" not in systems}
    assert set(ops.LEVELS) <= set(agent.LINUX) and set(ops.OPTIONS) == set(agent.LINUX) - set(ops.LEVELS) | linux_lacks


@pytest.mark.parametrize("family", OS_FAMILIES)
def test_the_agent_has_an_option_table_for_every_system_a_selector_can_name(family):
    """A target of any family the selector grammar knows gets numbers for every level, and for every
    option either a number or a clear `unsupported` (never a KeyError in the middle of a run)."""
    assert family in agent.OPTION_TABLES  # else the agent guesses from its Python's socket module
    table = agent.option_table(family, "x86_64")
    assert set(ops.LEVELS) <= set(table)
    assert set(ops.OPTIONS) - set(table) <= set(ops.OPTION_SYSTEMS)  # others: a number, or None said outright
    for opt, systems in ops.OPTION_SYSTEMS.items():  # the options only some systems define: exactly those
        assert (table.get(opt) is not None) == (family in systems), (opt, family)


def test_every_op_describes_itself_in_one_line():
    examples = {"socket": {"sock": "a"}, "setsockopt": {"sock": "a", "opt": "SO_REUSEPORT", "value": 1},
                "getsockopt": {"sock": "a", "opt": "SO_RCVBUF"}, "bind": {"sock": "a", "addr": "::1", "port": "P"},
                "listen": {"sock": "a", "backlog": 4}, "accept": {"sock": "a", "as": "c"},
                "distribute": {"count": 2, "type": "tcp", "to": {"addr": "loopback", "port": "P"}, "over": ["a"]}}
    assert [ops.describe(op, args) for op, args in examples.items()] == [
        "socket a", "setsockopt a SO_REUSEPORT=1", "getsockopt a SO_RCVBUF", "bind a [::1]:P",
        "listen a backlog=4", "accept a as c", "distribute 2x tcp to loopback:P over a"]


def test_value_nonzero_accepts_any_set_value_whichever_number_the_system_uses():
    nonzero = Outcome("value", "nonzero")
    assert observation.satisfies(nonzero, obs(value=512), {}) and observation.satisfies(nonzero, obs(value=1), {})
    assert not observation.satisfies(nonzero, obs(value=0), {})
    assert not observation.satisfies(nonzero, obs("ENOPROTOOPT"), {})
    assert not observation.satisfies(Outcome("value", 1), obs(value=512), {})  # exactly what the kernel returned


# --- issue 26: errnos by number, ports, poll events, pairs, receipts -------------------------------------

@pytest.mark.parametrize("system, expected, observed, same", [
    ("linux", "EOPNOTSUPP", "ENOTSUP", True),  # 95 on Linux: one number, two names (glibc's alias)
    ("linux", "ENOTSUP", "EOPNOTSUPP", True),
    ("freebsd", "ENOTSUP", "EOPNOTSUPP", True),  # 45 on FreeBSD (sys/errno.h: ENOTSUP is EOPNOTSUPP)
    ("darwin", "ENOTSUP", "EOPNOTSUPP", False),  # 45 and 102 on macOS
    ("netbsd", "EOPNOTSUPP", "ENOTSUP", False),  # 45 and 86 on NetBSD
    ("openbsd", "EWOULDBLOCK", "EAGAIN", True),
    ("linux", "EDEADLOCK", "EDEADLK", True),
    ("freebsd", "EDEADLOCK", "EDEADLK", False),
    (None, "EOPNOTSUPP", "ENOTSUP", False),  # a system nobody knows: names must be equal
    ("linux", "EADDRINUSE", "EADDRNOTAVAIL", False),
])
def test_errnos_compare_by_the_number_each_name_has_on_the_target(system, expected, observed, same):
    assert observation.satisfies(Outcome("errno", expected), obs(observed), {}, system) is same


def test_the_agent_names_a_number_as_the_system_documents_it():
    import errno as errno_module
    assert agent.errno_name(errno_module.EOPNOTSUPP) == "EOPNOTSUPP"  # not glibc's last alias, ENOTSUP
    assert agent.errno_name(errno_module.EAGAIN) == "EAGAIN" and agent.errno_name(errno_module.EDEADLK) == "EDEADLK"
    assert agent.errno_name(errno_module.EADDRINUSE) == "EADDRINUSE"
    from harness import errnos
    for system, groups in errnos.ALIASES.items():
        for group in groups:
            assert errnos.canonical(system, group[-1]) == group[0]
    assert set(agent.CANONICAL_ERRNOS) == {g[0] for gs in errnos.ALIASES.values() for g in gs}  # one list, two copies


def test_port_outcomes_read_getsockname():
    seen = obs(addr="127.0.0.1", port=40123, names=["W"], range=[32768, 60999], port_is="W")
    assert observation.satisfies(Outcome("port", ("eq", "W")), seen, {})
    assert not observation.satisfies(Outcome("port", ("eq", "P")), seen, {})
    assert observation.satisfies(Outcome("port", ("not", "P")), seen, {})
    assert observation.satisfies(Outcome("port", ("eq", 40123)), seen, {})
    assert observation.satisfies(Outcome("port", ("not", 0)), seen, {})
    assert observation.satisfies(Outcome("port", ("ephemeral",)), seen, {})
    assert not observation.satisfies(Outcome("port", ("ephemeral",)), dict(seen, range=[40000, 40010]), {})
    assert not observation.satisfies(Outcome("port", ("ephemeral",)), dict(seen, range=None), {})  # unknown: no
    assert observation.satisfies(Outcome("port", ("in", 40000, 40123)), seen, {})
    assert not observation.satisfies(Outcome("port", ("in", 40000, 40122)), seen, {})
    assert not observation.satisfies(Outcome("port", ("eq", "W")), obs("EBADF"), {})
    assert observation.text("getsockname", seen) == "ok addr=127.0.0.1 port_is=W"


def test_poll_events_value_pairs_and_their_readings():
    assert observation.satisfies(Outcome("events", ("in", "out")), obs(events=["out", "in"]), {})
    assert not observation.satisfies(Outcome("events", ("in",)), obs(events=["in", "out"]), {})
    assert observation.satisfies(Outcome("events", ()), obs(events=[]), {})
    assert observation.text("poll", obs(events=["in", "out"])) == "ok events=in,out"
    assert observation.text("poll", obs(events=[])) == "ok events=none"
    assert observation.satisfies(Outcome("value", (40000, 40007)), obs(value=[40000, 40007]), {})
    assert not observation.satisfies(Outcome("value", (40000, 40007)), obs(value=[40000, 40008]), {})
    assert observation.signature("getsockopt", obs(value=[1, 2])) == "ok value=1,2"
    assert observation.expected_signature(str(Outcome("value", (1, 2)))) == "ok value=1,2"
    assert observation.expected_signature(str(Outcome("events", ("in",)))) == "ok events=in"
    assert observation.expected_signature(str(Outcome("port", ("eq", "W")))) is None


def test_receipt_conditions_of_a_distribution():
    over = {"over": ["a", "b", "c"], "count": 12}
    spread = obs(histogram={"a": 5, "b": 4, "c": 3}, lost=0)
    assert observation.satisfies(Outcome("receipts", (("at_least", 3),)), spread, over)
    assert not observation.satisfies(Outcome("receipts", (("at_least", 4),)), spread, over)
    assert observation.satisfies(Outcome("receipts", (("at_least", 4), ("of", ("a", "b")))), spread, over)
    assert observation.satisfies(Outcome("receipts", (("lost", 0), ("only", ("a", "b", "c")))), spread, over)
    assert not observation.satisfies(Outcome("receipts", (("only", ("a", "b")),)), spread, over)
    assert not observation.satisfies(Outcome("receipts", (("only", ("a",)),)), obs(histogram={"a": 0}, lost=12), over)
    assert not observation.satisfies(Outcome("receipts", (("lost", 0),)), obs(histogram={"a": 11}, lost=1), over)
    assert observation.satisfies(Outcome("receipts", (("lost", 1),)), obs(histogram={"a": 11}, lost=1), over)
    assert not observation.satisfies(Outcome("receipts", (("at_least", 0),)), obs("EINVAL"), over)
