"""The model's rules as records: what each decides, for which system and versions, and where it was read.

Every prediction names the rules that decided it (`L15`, `F-10`...); this is where a reader (the
HTML report, `harness predict`, docs/model.md) finds each rule's source. The ids are those of the
research notes the rules came from (model-linux.md: L1-L40; model-bsd.md: F-, X-, O-, N-, D- and
the shared 4.4BSD B- rules), so a rule can be traced to the note that argues it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Source:
    """One place a rule was read: a repository, a file, a function, the versions it holds for."""

    repo: str
    path: str
    function: str
    versions: str = ""

    def __str__(self) -> str:
        at = f" ({self.versions})" if self.versions else ""
        return f"{self.repo} {self.path} {self.function}{at}"


@dataclass(frozen=True)
class Rule:
    """One rule: `condition -> outcome` in a line, its sources, and how sure the reading is.

    confidence: `verified` (run on a real kernel: this machine's Linux, or the rump NetBSD 7.99),
    `high` (read in the current source), `medium` (read in a nearby version, or inferred);
    a rule of lower confidence is not a rule: the model predicts `unknown` there instead.
    """

    id: str
    system: str  # family it belongs to: linux, freebsd, darwin, openbsd, netbsd, dragonfly, bsd, agent
    text: str
    sources: tuple[Source, ...]
    confidence: str = "high"

    def cited(self) -> str:
        """`F-10 (FreeBSD): text. Source: ...`: one rule as a line of a report."""
        return f"{self.id}: {self.text} [{'; '.join(map(str, self.sources))}] ({self.confidence})"

    def record(self) -> dict[str, object]:
        """The rule as results.json and `harness predict --json` hold it."""
        return {"id": self.id, "system": self.system, "text": self.text, "confidence": self.confidence,
                "sources": [str(s) for s in self.sources]}


RULES: dict[str, Rule] = {}


def rules(system: str, rows: Iterable[tuple]) -> None:
    """Register a family's rules: rows of (id, text, confidence, source...), each source a tuple
    (repo, path, function[, versions])."""
    for rid, text, confidence, *sources in rows:
        if rid in RULES:
            raise ValueError(f"rule {rid} registered twice")
        RULES[rid] = Rule(rid, system, text, tuple(Source(*s) for s in sources), confidence)


def rule(rid: str) -> Rule:
    return RULES[rid]
