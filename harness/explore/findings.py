"""Findings: disagreements grouped by signature, so that a thousand instances of one rule are one finding.

A finding's signature is the op and each target's answer at the first step
where they differ (socket names and numbers aside: one option read back as
212992 and 41600, or as 8192 and 4096, is one finding), plus the options its
shrunk sequence names. Shrinking is costly, so a new disagreement is first
matched against the findings made: it is an instance of one when its first
difference reads the same (socket names aside) and it contains everything the
finding's shrunk sequence is made of (`features`: its options, addresses,
families, actors, ops). Only one that no finding explains is shrunk; once a
first difference has been shrunk SHRINKS_PER_KEY times, or REPEATS times
into a finding already made (unless it lacks two ingredients or more of every
finding made), the rest that share it are counted with the finding closest to
them, as alike but not proven. Addresses count by kind (ADDRESS_KINDS): a
finding on 127.0.0.1 stands for one on 127.0.0.2.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..scenario.ops import OPS
from .compare import Difference
from .sequence import Sequence
from .shrink import Shown

SHRINKS_PER_KEY = 16
REPEATS = 6
NOVEL = 2  # ingredients missing from every finding of its first difference that make one worth shrinking anyway
ADDRESS_KINDS = {"loopback": "v4", "loopback2": "v4", "127.0.0.1": "v4", "any": "v4-any", "0.0.0.0": "v4-any",
                 "loopback6": "v6", "::1": "v6", "any6": "v6-any", "::": "v6-any",
                 "::ffff:127.0.0.1": "mapped", "::ffff:127.0.0.2": "mapped", "::ffff:0.0.0.0": "mapped-any"}
Key = tuple[str, tuple[str, ...]]  # op, each target's answer without socket names


def step_type(seq: Sequence, index: int) -> str:
    """tcp/udp: the type of the socket(s) the step acts on (distribute: what it sends), or `-`."""
    call = seq.calls[index]
    if call.fields.get("type"):
        return str(call.fields["type"])
    types = seq.socket_types()
    used = sorted({types.get(s, "") for s in call.uses()} - {""})
    return "/".join(used) or "-"


def key(diff: Difference) -> Key:
    return diff.loose()


def features(seq: Sequence, upto: Optional[int] = None) -> frozenset[str]:
    """What a sequence is made of, by field kind: ops, options set (to a non-zero value), addresses,
    families, v6only settings, actors; the ingredients a finding's instances must all have."""
    out: set[str] = set()
    for call in seq.calls[:None if upto is None else upto + 1]:
        out.add(f"op:{call.op}")
        for name, fld in OPS[call.op].fields.items():
            value = call.fields.get(name)
            if value is None:
                continue
            if fld.kind == "opt" and call.fields.get("value", 1) not in (0, False):
                out.add(f"opt:{value}")
            elif fld.kind == "addr":
                out.add(f"addr:{ADDRESS_KINDS.get(value, value)}")
            elif fld.kind == "dest":
                out.add(f"addr:{ADDRESS_KINDS.get(value['addr'], value['addr'])}")
            elif fld.kind == "actor":
                out.add(f"actor:{value}")
            elif name in ("family", "v6only", "type"):
                out.add(f"{name}:{value}")
    return frozenset(out)


def options(seq: Sequence) -> tuple[str, ...]:
    return tuple(sorted(f[4:] for f in features(seq) if f.startswith("opt:")))


@dataclass
class Raw:
    """A sequence whose targets disagreed, and what its run showed."""

    sequence: Sequence
    shown: Shown

    @property
    def difference(self) -> Difference:
        assert self.shown.difference is not None
        return self.shown.difference

    @property
    def key(self) -> Key:
        return key(self.difference)

    @property
    def features(self) -> frozenset[str]:
        """Its ingredients up to the first difference."""
        return features(self.sequence, self.difference.index)


@dataclass
class Finding(Raw):
    """A disagreement shrunk (`sequence` ends at its first difference) and re-run, with every generated
    sequence it stands for."""

    raw: Sequence  # the generated sequence it was shrunk from
    runs: int = 0  # batches its shrinking took
    instances: list[str] = field(default_factory=list)  # generated sequences that contain it
    alike: list[str] = field(default_factory=list)  # same first difference, counted here unproven

    @property
    def count(self) -> int:
        return len(self.instances) + len(self.alike)

    def signature(self) -> tuple[Any, ...]:
        op, answers = self.difference.loose()
        return op, tuple(zip((t for t, _ in self.difference.answers), answers)), options(self.sequence)

    def title(self) -> str:
        """`bind (tcp): local ok · rump EADDRINUSE [SO_REUSEADDR]`: the signature as its shrunk sequence showed
        it, and the socket type of that step."""
        op, answers, opts = self.difference.op, self.difference.answers, options(self.sequence)
        kind = step_type(self.sequence, self.difference.index)
        head = f"{op} ({kind})" if kind != "-" else op
        tail = f" [{', '.join(opts)}]" if opts else ""
        return f"{head}: " + " · ".join(f"{t} {a}" for t, a in answers) + tail

    def slug(self) -> str:
        """A file and scenario name: `bind-tcp-ok-vs-eaddrinuse-so-reuseaddr`."""
        op, answers, opts = self.difference.op, self.difference.answers, options(self.sequence)
        words = [op, "-vs-".join(dict.fromkeys(a for _, a in answers)), *opts]
        return re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-")[:80]


class Book:
    """The findings so far, and which raw disagreements each stands for."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.shrinks: dict[Key, int] = {}
        self.repeats: dict[Key, int] = {}  # shrinks that gave a finding already made
        self.unproven: list[Raw] = []  # disagreements that did not reproduce, or whose shrinking failed

    def explain(self, raw: Raw) -> Optional[Finding]:
        """The finding this disagreement is an instance of (the most specific one), if any."""
        fits = [f for f in self.findings if f.key == raw.key and f.features <= raw.features]
        return max(fits, key=lambda f: len(f.features), default=None)

    def wants_shrinking(self, raw: Raw) -> bool:
        return self.shrinks.get(raw.key, 0) < SHRINKS_PER_KEY and (
            self.repeats.get(raw.key, 0) < REPEATS or self.novelty(raw) >= NOVEL)

    def novelty(self, raw: Raw) -> int:
        """How many ingredients of the nearest finding of its first difference it lacks (0: none made)."""
        return min((len(f.features - raw.features) for f in self.findings if f.key == raw.key), default=0)

    def closest(self, raw: Raw) -> Optional[Finding]:
        fits = [f for f in self.findings if f.key == raw.key]
        return max(fits, key=lambda f: len(f.features & raw.features), default=None)

    def count(self, raw: Raw) -> bool:
        """Count the disagreement with the finding it is an instance of, or (when its first difference
        has been shrunk enough) the closest one; False if neither applies."""
        found = self.explain(raw)
        if found is not None:
            found.instances.append(raw.sequence.name)
            return True
        if not self.wants_shrinking(raw) and (near := self.closest(raw)) is not None:
            near.alike.append(raw.sequence.name)
            return True
        return False

    def add(self, finding: Finding, raw: Raw) -> Finding:
        """A new shrunk finding, or the existing one of the same signature (which then counts the raw)."""
        self.shrinks[raw.key] = self.shrinks.get(raw.key, 0) + 1
        same = next((f for f in self.findings if f.signature() == finding.signature()), None)
        target = same or finding
        if same is None:
            self.findings.append(finding)
        else:
            self.repeats[raw.key] = self.repeats.get(raw.key, 0) + 1
        target.instances.append(raw.sequence.name)
        return target

    def failed(self, raw: Raw) -> None:
        """A disagreement that did not reproduce, or whose shrunk file did not pass: not a finding."""
        self.unproven.append(raw)

    def shrink_failed(self, raw: Raw) -> None:
        self.shrinks[raw.key] = self.shrinks.get(raw.key, 0) + 1
        self.failed(raw)

    def ranked(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: -f.count)
