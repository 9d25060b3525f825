"""What a person reads on the terminal and in CI logs: one line per event, a matrix at the end."""
from __future__ import annotations

import io
import re

from harness.judge.verdict import judge, skipped
from harness.model import Identity, ScenarioRun, StepRun
from harness.report import console
from harness.scenario.loader import load_suite
from harness.targets.base import Availability, Target, TargetInfo
from harness.terminal import Output, Styled

LEGACY = Identity(system="Linux", release="3.8 (emulated)", version="3.8", family="linux",
                  emulated_on="Linux 6.1.0")


class Named(Target):
    def __init__(self, name: str) -> None:
        self.info = TargetInfo(name, "test", name)

    def availability(self) -> Availability:
        return Availability(True)

    def launch(self, needs_root: bool = False):
        raise NotImplementedError


def suite(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("suite: c\nscenarios:\n  - name: opt\n    steps:\n      - {op: socket, sock: a, type: tcp}\n"
                    "      - {op: setsockopt, sock: a, opt: SO_REUSEPORT, expect: {linux<3.9: ENOPROTOOPT}}\n")
    return load_suite(str(path)).scenarios


def test_a_log_gets_one_plain_line_per_event(tmp_path):
    buffer = io.StringIO()
    sc = suite(tmp_path)[0]
    target = Named("legacy")
    with console.ConsoleListener(Output(stderr=True, stream=buffer)) as listener:  # not a terminal: CI log
        listener.target_started(target, 1)
        listener.target_phase(target, "booting")
        listener.target_ready(target, LEGACY, None)
        listener.verdict(judge(sc, "legacy", LEGACY, ScenarioRun("ran", [StepRun("ok"), StepRun("ok")])))
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "legacy: booting"
    assert lines[1] == "legacy: linux 3.8, emulated on Linux 6.1.0"
    assert lines[2].split() [:3] == ["fail", "legacy", "c/opt:"]
    assert "expected ENOPROTOOPT [linux<3.9], observed ok" in lines[2] and len(lines) == 3


def test_summary_table_marks_emulated_targets_and_counts(tmp_path):
    sc = suite(tmp_path)[0]
    verdicts = [judge(sc, "legacy", LEGACY, ScenarioRun("ran", [StepRun("ok"), StepRun("ENOPROTOOPT")])),
                skipped(sc, "gone", "target unavailable: no box")]
    table = console.summary_table([sc], [Named("legacy"), Named("gone")], verdicts, {"legacy": LEGACY, "gone": None})
    buffer = io.StringIO()
    Output(stderr=False, stream=buffer).print(table)  # a log: plain columns
    text = buffer.getvalue()
    assert "(emulated)" in text and "c/opt" in text and "pass" in text and "skipped" in text
    assert console.counts_line(verdicts) == "1 passed, 0 failed, 1 skipped, 0 errors"


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a person's would."""

    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_rich_drawing_and_a_log_plain_columns(tmp_path):
    sc = suite(tmp_path)[0]
    verdicts = [judge(sc, "legacy", LEGACY, ScenarioRun("ran", [StepRun("ok"), StepRun("ENOPROTOOPT")]))]
    table = console.summary_table([sc], [Named("legacy")], verdicts, {"legacy": LEGACY})
    screen, log = Terminal(), io.StringIO()
    Output(stderr=False, stream=screen).print(table)
    Output(stderr=False, stream=log).print(table)
    assert "┃" in screen.getvalue() and "pass" in screen.getvalue()  # rich's box, on a terminal
    assert log.getvalue().splitlines()[1:] == ["scenario  legacy linux 3.8 (emulated)", "c/opt     pass"]


def test_messages_are_never_markup_on_either(tmp_path):
    for stream in (Terminal(), io.StringIO()):
        Output(stderr=True, stream=stream).print(["[red]x[/] ", Styled(":100:", "bold")])
        assert "[red]x[/] :100:" in re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())  # colour codes aside
