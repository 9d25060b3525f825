"""One exploration: generate, run, compare, re-run, shrink, check; what was found, as plain data.

Batches of generated sequences run on every target (bench.py). A sequence
whose targets disagree is first matched against the findings made (it is
then counted with its finding); otherwise it is re-run, and kept only if
every target answers as before (the flakiness guard), then shrunk, and the
shrunk sequence is written as a scenario file with each target's answers as
expectations and run twice more: a finding is one whose file passes on every
target both times. Ctrl-C (KeyboardInterrupt) ends the exploration where it
is: what was found stays found.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

from ..model import ScenarioVerdict
from ..scenario.loader import ScenarioFileError, load_suite
from .bench import Bench
from .compare import answers, first_difference
from .findings import Book, Finding, Raw
from .generate import generate
from .sequence import Loader, Sequence
from .shrink import Shown, shrink
from .write import Exploration, check_text

BATCH = 200  # generated sequences per batch: agents start once per batch and target
CHECKS = 2  # runs of a finding's own file that must pass on every target


@dataclass
class Counts:
    generated: int = 0
    answered: int = 0  # sequences every target ran through
    infrastructure: int = 0  # sequences some target did not run through (agent error, the harness's timeout)
    disagreed: int = 0
    explained: int = 0  # counted with a finding made before (no re-run needed)
    not_reproduced: int = 0  # the flakiness guard: a re-run answered otherwise
    shrunk: int = 0
    not_checked: int = 0  # shrunk, but its file did not pass on every target twice
    exploring_s: float = 0.0  # generating, running, comparing
    shrinking_s: float = 0.0  # re-running, shrinking, checking
    infra_reasons: dict[str, str] = field(default_factory=dict)  # target -> the first such sequence and why

    @property
    def rate(self) -> float:
        """Generated sequences run on every target per second of exploring."""
        return self.generated / self.exploring_s if self.exploring_s else 0.0


@dataclass
class Outcome:
    book: Book
    counts: Counts
    how: Exploration
    interrupted: bool = False
    unavailable: dict[str, str] = field(default_factory=dict)  # target -> why it answered nothing


Say = Callable[[str], None]


class Session:
    def __init__(self, bench: Bench, how: Exploration, seconds: Optional[float], say: Say,
                 progress: Callable[[Counts, Book], None] = lambda counts, book: None) -> None:
        self.bench, self.how, self.seconds, self.say, self.progress = bench, how, seconds, say, progress
        self.book = Book()
        self.counts = Counts()
        self.loader = Loader()
        self.unavailable: dict[str, str] = {}
        self.answered: set[str] = set()  # targets that answered some sequence
        self._tmp = tempfile.TemporaryDirectory(prefix="harness-explore-check-")

    def run(self) -> Outcome:
        interrupted = False
        try:
            self._explore()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.loader.close()
            self._tmp.cleanup()
        return Outcome(self.book, self.counts, self.how, interrupted, self.unavailable)

    def _explore(self) -> None:
        start = time.monotonic()
        for first in range(0, self.how.budget, BATCH):
            if self.seconds is not None and time.monotonic() - start >= self.seconds:
                self.say(f"--time {self.seconds:g} s reached after {self.counts.generated} sequences")
                break
            began = time.monotonic()
            seqs = [generate(self.how.seed, i) for i in range(first, min(first + BATCH, self.how.budget))]
            raws = self._batch(seqs)
            self.counts.exploring_s += time.monotonic() - began
            self.unavailable = {t.name: self.counts.infra_reasons.get(t.name, "no answer") for t in self.bench.targets
                                if t.name not in self.answered}
            if self.unavailable:  # a target that cannot run: nothing to compare it with
                return
            self.how = replace(self.how, identities={t: self.bench.identity(t) for t in self.how.targets})
            began = time.monotonic()
            self._examine(raws)
            self.counts.shrinking_s += time.monotonic() - began
            self.progress(self.counts, self.book)

    def _batch(self, seqs: list[Sequence]) -> list[Raw]:
        """Run generated sequences; the ones whose targets disagreed."""
        raws = []
        for seq, shown in zip(seqs, self.run_all(seqs)):
            self.counts.generated += 1
            if shown is None:
                self.counts.infrastructure += 1
            else:
                self.counts.answered += 1
                if shown.difference is not None:
                    self.counts.disagreed += 1
                    raws.append(Raw(seq, shown))
        return raws

    def _examine(self, raws: list[Raw]) -> None:
        """Count the disagreements findings explain; re-run, shrink and check the others."""
        pending = [r for r in raws if not self.book.count(r)]
        self.counts.explained += len(raws) - len(pending)
        if not pending:
            return
        # the ones least like any finding first: a shrinking budget spent on them finds most
        pending.sort(key=lambda r: -self.book.novelty(r))
        again = self.run_all([r.sequence for r in pending])
        for raw, shown in zip(pending, again):
            if shown is None or shown.difference is None or shown.difference.shape() != raw.difference.shape():
                self.counts.not_reproduced += 1
                self.book.failed(raw)
                continue
            if self.book.count(raw):  # a finding made from an earlier one of this batch explains it
                self.counts.explained += 1
                continue
            self._find(raw)

    def _find(self, raw: Raw) -> None:
        self.say(f"shrinking {raw.sequence.name} ({len(raw.sequence.calls)} steps): {raw.difference.text()}")
        shrunk = shrink(raw.sequence, raw.shown, self.run_all, lambda s: self.loader.valid(s) is not None)
        self.counts.shrunk += 1
        finding = Finding(shrunk.sequence, shrunk.shown, raw.sequence, shrunk.runs)
        if not self._check(finding):
            self.counts.not_checked += 1
            self.book.shrink_failed(raw)
            self.say(f"  not kept: its shrunk file ({len(shrunk.sequence.calls)} steps) did not pass on every "
                     f"target {CHECKS} times")
            return
        kept = self.book.add(finding, raw)
        if kept is finding:
            self.say(f"  finding: {finding.title()} ({len(finding.sequence.calls)} steps, {shrunk.runs} batches)")
        else:
            self.say(f"  the same as: {kept.title()}")

    def _check(self, finding: Finding) -> bool:
        """Whether the finding's file loads and passes on every target CHECKS times: each answers every
        step as the shrunk sequence's last run did, and no kernel's observation fails an expectation
        (a column that answers by prediction passes by answering alike: it is never judged)."""
        text = check_text(finding, self.how)
        path = Path(self._tmp.name) / f"{finding.slug()}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            scenario = load_suite(str(path)).scenarios[0]
        except ScenarioFileError as exc:  # a defect of write.py: say it, keep exploring
            self.say(f"  its file does not load: {exc}")
            return False
        copies = [replace(scenario, name=f"{scenario.name}.{n}") for n in range(CHECKS)]
        results = self.bench.run(copies)
        runs = [(t, v) for sc in copies for t, v in results[sc.id].items()]
        return len(runs) == CHECKS * len(self.bench.targets) and all(
            v.verdict != "fail" and answers(v) == finding.shown.answers[t] for t, v in runs)

    def run_all(self, seqs: list[Sequence]) -> list[Optional[Shown]]:
        """Each sequence's first difference and answers on every target; None where one did not run it through."""
        named = [replace(seq, name=f"c{i}") for i, seq in enumerate(seqs)]
        scenarios = self.loader.load(named)
        results = self.bench.run(scenarios)
        return [self._shown(results[sc.id], seq.name) for seq, sc in zip(seqs, scenarios)]

    def _shown(self, verdicts: dict[str, ScenarioVerdict], name: str) -> Optional[Shown]:
        missing = [t.name for t in self.bench.targets if t.name not in verdicts]
        self.answered.update(t for t, v in verdicts.items() if answers(v) is not None)
        diff, answered = first_difference(verdicts)
        if missing or not answered:
            for target, verdict in verdicts.items():
                if answers(verdict) is None:
                    self.counts.infra_reasons.setdefault(target, f"{name}: {verdict.reason or verdict.verdict}")
            return None
        return Shown(diff, {t: answers(v) or [] for t, v in verdicts.items()})
