"""A finding as a scenario file: the shrunk steps, each expecting what each target returned.

Where every target gave one answer the step expects it plainly; where they
differ, a selector per target, made from its identity (`netbsd`, `linux`, or
`linux<3.9` and `linux>=3.9` for two versions of one system), so that the file
passes on each target that found it. Two targets no selector can tell apart
(the same system and version) that answered differently get `any` and a note
with both answers. Notes say where each step came from: the generated
sequence and step, and what shrinking changed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ..model import Identity
from ..observation import UNKNOWN_OP
from ..scenario.ops import OPS
from .findings import Finding
from .sequence import SUITE, Sequence, flow, scenario_lines


@dataclass(frozen=True)
class Exploration:
    """How the findings were made, for their notes."""

    seed: int
    budget: int
    targets: tuple[str, ...]
    identities: Mapping[str, Optional[Identity]]
    command: str

    def label(self, target: str) -> str:
        """`local (linux 6.18.44)`, `local-legacy (linux 3.8, emulated)`, `model:linux-6 (linux 6, predicted)`."""
        ident = self.identities.get(target)
        if ident is None:
            return target
        how = ", emulated" if ident.emulated else ", predicted" if ident.declared else ""
        return f"{target} ({ident.family} {ident.version}{how})"


def selectors(identities: Mapping[str, Optional[Identity]]) -> dict[str, Optional[str]]:
    """A selector per target (None where its identity is unknown), in the order rules must be written:
    within a system, ascending versions, each but the highest `linux<3.9` (the first rule that matches
    wins), the highest `linux>=3.9`. Targets of one system and version share a selector."""
    versions: dict[str, list[tuple[int, ...]]] = {}
    for ident in identities.values():
        if ident is not None:
            versions.setdefault(ident.family, [])
            if ident.version_tuple not in versions[ident.family]:
                versions[ident.family].append(ident.version_tuple)
    for found in versions.values():
        found.sort()
    out: dict[str, tuple[tuple, Optional[str]]] = {}
    for target, ident in identities.items():
        if ident is None:
            out[target] = (("",), None)
            continue
        found = versions[ident.family]
        at = found.index(ident.version_tuple)
        if len(found) == 1:
            selector = ident.family
        elif at < len(found) - 1:
            selector = f"{ident.family}<{_dotted(_between(found[at], found[at + 1]))}"
        else:
            selector = f"{ident.family}>={_dotted(_between(found[at - 1], found[at]))}"
        out[target] = ((ident.family, at), selector)
    return {t: sel for t, (_, sel) in sorted(out.items(), key=lambda item: item[1][0])}


def _between(low: tuple[int, ...], high: tuple[int, ...]) -> tuple[int, ...]:
    """The version just after `low` (its last component plus one) that is not after `high`: 3.8 -> 3.9."""
    version = low or (0,)
    while True:
        bumped = version[:-1] + (version[-1] + 1,)
        if bumped <= high:
            return bumped
        version = version + (0,)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def outcome(op: str, answer: str) -> tuple[Any, str]:
    """(the expected outcome as a file writes it, a remark where it cannot say everything the answer says)."""
    if not answer.startswith("ok "):
        return answer, ""
    fields = dict(part.split("=", 1) for part in answer.split()[1:])
    if set(fields) == {"value"} and _is_int(fields["value"]):
        return {"value": int(fields["value"])}, ""
    return "ok", f"it compares {answer[3:]}, which no expected outcome states"


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def expectation(op: str, answers: Mapping[str, str], rules: Mapping[str, Optional[str]]) -> tuple[Any, str]:
    """(`expect:` for a step the targets answered so, or None to leave it out; a remark for its note)."""
    distinct = dict.fromkeys(answers.values())
    if len(distinct) == 1:
        value, remark = outcome(op, next(iter(distinct)))
        default = OPS.get(op, UNKNOWN_OP).default_expect
        return (None if value == default else value), remark
    by_selector: dict[str, list[str]] = {}
    for target in sorted(answers, key=lambda t: list(rules).index(t) if t in rules else len(rules)):
        by_selector.setdefault(rules.get(target) or "", []).append(answers[target])
    if "" in by_selector or any(len(set(a)) > 1 for a in by_selector.values()):
        told = ", ".join(f"{t} {a}" for t, a in answers.items())
        return "any", f"no selector tells these targets apart, and they answered: {told}"
    out, remarks = {}, []
    for selector, found in by_selector.items():
        out[selector], remark = outcome(op, found[0])
        remarks += [remark] if remark else []
    return out, "; ".join(remarks)


def render(finding: Finding, how: Exploration, name: str) -> str:
    """The finding's scenario file."""
    seq, shown = finding.sequence, finding.shown
    rules = selectors({t: how.identities.get(t) for t in how.targets})
    diff = finding.difference
    steps = []
    for index, call in enumerate(seq.calls):
        answers = {t: str(a[index]) for t, a in shown.answers.items()}
        expect, remark = expectation(call.op, answers, rules)
        note = call.origin
        if index == diff.index:
            note += "; the first step where the targets differ: " + ", ".join(
                f"{how.label(t)} {a}" for t, a in diff.answers)
        note += f"; {remark}" if remark else ""
        steps.append({"op": call.op, **call.fields, **({"expect": expect} if expect is not None else {}),
                      "note": note})
    count = f"{finding.count} of the {how.budget} sequences" if finding.count else "one sequence"
    description = (f"Found by harness explore (seed {how.seed}, budget {how.budget}, targets "
                   f"{', '.join(how.targets)}) in {count}; shrunk from {len(finding.raw.calls)} steps "
                   f"({finding.raw.name}) to {len(seq.calls)}. {finding.title()}")
    renamed = Sequence(name, seq.calls, seq.users)
    lines = [f"# Found by `{how.command}`: where {' and '.join(how.targets)} first answer differently.",
             "# Each step expects what each target returned (selectors from each target's identity);",
             "# before this goes into the library, each non-Linux expectation's note should cite its kernel source.",
             f"suite: {name}",
             f"description: {flow(f'{finding.title()} (found by harness explore)')}",
             "scenarios:",
             *scenario_lines(renamed, steps, {"description": description, "tags": ["explored"]})]
    return "\n".join(lines) + "\n"


def check_text(finding: Finding, how: Exploration) -> str:
    """The finding's file as the suite the exploration runs to check it (suite name: SUITE)."""
    text = render(finding, how, finding.slug())
    return text.replace(f"suite: {finding.slug()}\n", f"suite: {SUITE}-check\n", 1)
