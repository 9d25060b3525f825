"""Plain data that flows through the harness: scenario -> plan -> observation -> verdict.

Everything here is a dataclass without behaviour beyond small derived views, so
the pure core (loader, selectors, verdicts) can be tested without any target.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

# Every verdict a scenario can get on a target, in the order reports count them.
VERDICTS = ("pass", "fail", "error", "skipped")


@dataclass(frozen=True)
class Pos:
    """Where something was written: 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Selector:
    """`family[op version]`, e.g. `linux<3.9`; family `default` matches all."""

    family: str
    op: Optional[str] = None
    version: Optional[tuple[int, ...]] = None
    text: str = ""

    def __str__(self) -> str:
        return self.text or self.family


@dataclass(frozen=True)
class Outcome:
    """An expected outcome.

    kind is one of: ok, errno, unsupported, timeout, any, spread, single, each,
    none, value.  `arg` holds the errno name, the socket of `single:<sock>` or
    the integer of `{value: N}`.
    """

    kind: str
    arg: Union[str, int, None] = None

    def __str__(self) -> str:
        if self.kind == "errno":
            return str(self.arg)
        if self.kind == "single" and self.arg is not None:
            return f"single:{self.arg}"
        if self.kind == "value":
            return f"value={self.arg}"
        return self.kind


@dataclass(frozen=True)
class Rule:
    selector: Selector
    outcome: Outcome


@dataclass(frozen=True)
class Expectation:
    """Rules tried in written order; the first whose selector matches wins."""

    rules: tuple[Rule, ...]
    pos: Optional[Pos] = None


@dataclass
class Step:
    index: int  # 1-based, as a reader counts steps
    op: str
    args: dict[str, Any]  # the op's fields, defaults filled in
    actor: str  # the actor that executes it (owner of its socket)
    expect: Expectation
    note: Optional[str]
    pos: Pos


@dataclass
class Actor:
    name: str
    user: Optional[str] = None


@dataclass
class Scenario:
    suite: str
    name: str
    description: Optional[str]
    tags: list[str]
    only: list[Selector]
    actors: dict[str, Actor]
    steps: list[Step]
    pos: Pos
    params: dict[str, str] = field(default_factory=dict)  # a variant's parameters: family, matrix values
    # (selector, reason): systems where this variant cannot run (`default`: none can), skipped with the reason
    excluded: list[tuple[Selector, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"


@dataclass
class Suite:
    name: str
    description: Optional[str]
    path: str
    scenarios: list[Scenario]


@dataclass(frozen=True)
class Identity:
    """What a target is, as its agent observed it (or as it emulates, or as it is declared).

    `family`/`version` are what selectors compare; for an emulated target they
    are the emulated ones and `emulated_on` names the real kernel underneath.
    A declared identity is the system a target stands for when no agent ran
    (`freebsd 14` for the FreeBSD VM): it picks expectations to show as
    expectations, never as observations.
    """

    system: str
    release: str
    version: str
    family: str
    machine: str = ""
    python: str = ""
    hostname: str = ""
    emulated_on: Optional[str] = None
    declared: bool = False
    netns: str = ""  # whether scenarios can get a network namespace each there, or why not

    @classmethod
    def of_system(cls, family: str, version: str) -> "Identity":
        """The declared identity of a system such as (`freebsd`, `14`): nothing of it was measured."""
        return cls(system=family, release="", version=version, family=family, declared=True)

    @property
    def emulated(self) -> bool:
        return self.emulated_on is not None

    @property
    def version_tuple(self) -> tuple[int, ...]:
        out = []
        for piece in self.version.split("."):
            digits = "".join(ch for ch in piece if ch.isdigit())
            if not digits:
                break
            out.append(int(digits))
        return tuple(out)

    def label(self) -> str:
        base = f"{self.family} {self.version}".strip()
        if self.declared:
            return f"{base}, not measured"
        return f"{base}, emulated on {self.emulated_on}" if self.emulated_on else f"{base} ({self.release})"


@dataclass
class StepRun:
    """What the agent observed for one step (see docs/agent-protocol.md)."""

    outcome: str
    ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # value, histogram, data, errno, detail...

    @property
    def record(self) -> dict[str, Any]:
        """The observation as results.json holds it, which harness/observation.py reads."""
        return {"outcome": self.outcome, "ms": self.ms, **self.extra}


@dataclass
class ScenarioRun:
    """One scenario as the agent returned it, or the reason it did not run."""

    status: str  # ran | error | skipped
    steps: list[StepRun]
    reason: Optional[str] = None
    ports: dict[str, int] = field(default_factory=dict)
    ms: float = 0.0


@dataclass
class StepVerdict:
    """One step judged on one target; `rule` is the index of the expectation rule that applied
    (None where no rule matches or the target's system is unknown), also for steps not run.
    Where no kernel answered, `predicted` holds the model's prediction shown instead of a written
    `any` (or of every step, in a model column), and `agreement` whether it agrees with what was
    written (harness/predict/attach.py); never an observation, never judged."""

    step: Step
    rule: Optional[int]
    observed: Optional[StepRun]
    ok: bool
    not_run: Optional[str] = None  # why it never got its chance (its socket was never made); then not observed
    predicted: Optional[Any] = None  # harness.predict.engine.Prediction
    agreement: Optional[str] = None  # agree | disagree | unknown | unchecked

    @property
    def applied(self) -> Optional[Rule]:
        return None if self.rule is None else self.step.expect.rules[self.rule]

    @property
    def expected(self) -> Optional[Outcome]:
        return None if self.applied is None else self.applied.outcome

    @property
    def selector(self) -> Optional[Selector]:
        return None if self.applied is None else self.applied.selector


@dataclass
class ScenarioVerdict:
    scenario: Scenario
    target: str
    verdict: str  # pass | fail | error | skipped
    reason: Optional[str]
    steps: list[StepVerdict]
    run: Optional[ScenarioRun] = None

    @property
    def mismatches(self) -> list[StepVerdict]:
        return [s for s in self.steps if not s.ok and s.not_run is None]

    @property
    def not_run(self) -> list[StepVerdict]:
        """Steps that never got their chance on a target that ran the scenario."""
        return [s for s in self.steps if s.not_run is not None]


@dataclass(frozen=True)
class BaselineMark:
    """One observed step against the baseline: same, changed, new (no entry), or gone (not observed now)."""

    state: str
    old: Optional[str]
    new: Optional[str]
    flaky: bool = False
    expired: bool = False
    where: str = ""  # file:line of the entry

    @property
    def fails(self) -> bool:
        """A changed kernel answer fails the run, unless the step is known to be flaky."""
        return self.state == "changed" and not self.flaky

    @property
    def vouches(self) -> bool:
        """The entry still stands for this observation (a known mismatch it covers does not fail)."""
        return self.state == "same" and not self.expired


@dataclass
class BaselineComparison:
    """Runs compared with a baseline: each observed step's mark by (source, target, scenario id, step),
    the failed scenarios whose mismatches the baseline knows, the targets it has no file for, and
    one line per target not compared with a file of its own system (another minor version, a new
    major, none at all, no baseline folder), for every report to print."""

    marks: dict[tuple[str, str, str, int], BaselineMark] = field(default_factory=dict)
    known: set[tuple[str, str, str]] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[tuple[tuple[str, str, str, int], BaselineMark]]:
        return [(key, mark) for key, mark in self.marks.items() if mark.fails]
