"""Selector grammar and first-match resolution against target identities."""
import pytest

from harness.judge.expectations import matches, resolve
from harness.model import Expectation, Identity, Outcome, Rule
from harness.scenario.selector import SelectorError, parse_selector


def ident(family: str, version: str, emulated_on=None) -> Identity:
    return Identity(system=family, release=version, version=version, family=family, emulated_on=emulated_on)


LINUX_3_2 = ident("linux", "3.2.0")
LINUX_3_9 = ident("linux", "3.9")
LINUX_3_10 = ident("linux", "3.10.0")
LINUX_6 = ident("linux", "6.1.0")
FREEBSD_14 = ident("freebsd", "14.0")
DARWIN_14 = ident("darwin", "14.1.2")


@pytest.mark.parametrize(
    "text, target, expected",
    [
        ("linux", LINUX_3_2, True),
        ("linux", FREEBSD_14, False),
        ("linux<3.9", LINUX_3_2, True),
        ("linux<3.9", LINUX_3_9, False),
        ("linux>=3.9", LINUX_3_9, True),
        ("linux>=3.9", LINUX_3_10, True),  # numeric, not string, comparison: 3.10 > 3.9
        ("linux<3.9", LINUX_3_10, False),
        ("linux>3.9", LINUX_3_9, False),
        ("linux==3.9.0", LINUX_3_9, True),  # missing components count as zero
        ("linux!=6.1", LINUX_6, False),
        ("freebsd>=12", FREEBSD_14, True),
        ("freebsd<12", FREEBSD_14, False),
        ("bsd", FREEBSD_14, True),
        ("bsd", DARWIN_14, True),
        ("bsd", LINUX_6, False),
        ("macos", DARWIN_14, True),
        ("macos>=14", DARWIN_14, True),
        ("darwin<13", DARWIN_14, False),
        ("default", FREEBSD_14, True),
    ],
)
def test_selector_matches(text, target, expected):
    assert matches(parse_selector(text), target) is expected


@pytest.mark.parametrize("text", ["linu", "linux<", "linux<3.x", "bsd>=1", "default<2", "linux 3.9", "Linux", ""])
def test_bad_selectors_are_rejected_with_a_reason(text):
    with pytest.raises(SelectorError, match="bad selector"):
        parse_selector(text)


def test_emulated_identity_is_matched_on_what_it_emulates():
    legacy = ident("linux", "3.8", emulated_on="Linux 6.1.0")
    assert matches(parse_selector("linux<3.9"), legacy)
    assert legacy.emulated and "emulated on Linux 6.1.0" in legacy.label()


def test_first_matching_rule_wins_in_written_order():
    rules = tuple(
        Rule(parse_selector(s), Outcome(k, a))
        for s, k, a in [("linux<3.9", "errno", "ENOPROTOOPT"), ("linux", "ok", None), ("default", "errno", "EINVAL")]
    )
    exp = Expectation(rules)
    assert resolve(exp, LINUX_3_2) == 0 and str(rules[0].outcome) == "ENOPROTOOPT"
    assert resolve(exp, LINUX_6) == 1
    assert resolve(exp, FREEBSD_14) == 2
    assert resolve(Expectation(rules[:2]), FREEBSD_14) is None
