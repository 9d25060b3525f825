"""Shrink a sequence that shows a disagreement to a small one that still shows it.

Pure: running candidates is the caller's `run` (a batch on every target, each
candidate's first difference, or None). A candidate counts only if it shows
the same difference: the same op and the same answer on every target. The
steps after the difference are dropped at once (they cannot change it); then
delta debugging over the steps (Zeller's ddmin, every complement of one
granularity run as one batch), then simpler arguments one field at a time
(SIMPLER: a plainer address, port P, the default of an optional field, one
socket fewer in a list), until neither changes anything; last, sockets are
renamed a, b, c and ports P, Q in order of use. Removing a step removes what
depends on it: the steps using a socket only it defined.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Optional

from ..scenario.ops import OPS, Field
from .choices import ADDRESSES, GROUP, INTS
from .compare import Difference
from .sequence import Call, Sequence

ROUNDS = 4  # ddmin then simplification, at most this many times over


@dataclass(frozen=True)
class Shown:
    """What one run of a candidate showed: its first difference, and every step's answer per target."""

    difference: Optional[Difference]
    answers: Mapping[str, list[Optional[str]]]


Run = Callable[[list[Sequence]], list[Optional[Shown]]]  # None where a candidate did not run everywhere


@dataclass
class Shrunk:
    sequence: Sequence
    shown: Shown  # its last run
    runs: int  # batches run while shrinking


def shrink(seq: Sequence, shown: Shown, run: Run, valid: Callable[[Sequence], bool]) -> Shrunk:
    """The smallest sequence found that shows `shown.difference`'s shape, with what its last run showed."""
    state = _State(run, valid, shown.difference.shape())
    best = Shrunk(truncated(seq, shown.difference.index), shown, 0)
    for _ in range(ROUNDS):
        before = best.sequence
        best = state.ddmin(best)
        best = state.simplify(best)
        if best.sequence == before:
            break
    return state.canonical(best)


def truncated(seq: Sequence, index: int) -> Sequence:
    """The calls up to and including `index`."""
    return replace(seq, calls=seq.calls[:index + 1])


def without(seq: Sequence, drop: set[int]) -> Optional[Sequence]:
    """The sequence without the calls at `drop` and what depends on them; None if that takes its last call."""
    calls: list[Call] = []
    defined: set[str] = set()
    for i, call in enumerate(seq.calls):
        if i in drop:
            continue
        kept = _keep_defined(call, defined)
        if kept is None:
            if i == len(seq.calls) - 1:
                return None
            continue
        calls.append(kept)
        defined.update(kept.defines())
    return replace(seq, calls=tuple(calls))


def _keep_defined(call: Call, defined: set[str]) -> Optional[Call]:
    """The call using only sockets in `defined`: a list loses the others, a call that needs one goes."""
    changes: dict[str, Any] = {}
    for name, fld in OPS[call.op].fields.items():
        value = call.fields.get(name)
        if fld.kind == "sock" and value is not None and value not in defined:
            return None
        if fld.kind == "socks" and value:
            left = [s for s in value if s in defined]
            if not left:
                return None
            if left != list(value):
                changes[name] = left
    return call.with_fields(changes) if changes else call


# Plainer first: what a simplified address becomes.
PLAIN = ["loopback", "any", "loopback2", "loopback6", "any6", *ADDRESSES["inet6"], GROUP]


def _plainer(addr: Any, family: str) -> list[Any]:
    order = [a for a in PLAIN if a in ADDRESSES[family]]
    return order[:order.index(addr)] if addr in order else []


Simpler = Callable[[Call, str, Field, Any, str], list[Any]]  # (call, field, its Field, value, socket family)


def _addr(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    return _plainer(value, family)


DEST_PLAIN = ["loopback", "loopback2", "loopback6", GROUP]  # where a client sends, plainer first


def _dest(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    order = DEST_PLAIN[:DEST_PLAIN.index(value["addr"])] if value["addr"] in DEST_PLAIN else []
    return [{**value, "addr": a} for a in order]


def _port(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    return ["P"] if value != "P" else []


def _default(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    return [] if fld.required else [None]


def _smaller(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    """A smaller value of the field's own choices (a shorter sleep); waits keep the generator's."""
    table = INTS.get(name)
    if not isinstance(table, dict) or "" in table:
        return []
    return sorted(v for v in table if v < value)


def _fewer(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    return [[s for s in value if s != drop] for drop in value] if len(value) > 1 else []


def _none(call: Call, name: str, fld: Field, value: Any, family: str) -> list[Any]:
    return []


SIMPLER: dict[str, Simpler] = {
    "addr": _addr, "dest": _dest, "port": _port, "socks": _fewer, "int": _smaller,
    "actor": _default, "bool": _default, "value": _default, "choice": _default, "sock_new": _default,
    "sock": _none, "opt": _none, "level": _default, "text": _none,
}


class _State:
    def __init__(self, run: Run, valid: Callable[[Sequence], bool], shape: tuple) -> None:
        self.run, self.valid, self.shape = run, valid, shape

    def first_showing(self, candidates: list[Sequence], shape: Optional[tuple] = None) -> Optional[Shrunk]:
        """The first candidate (in order) that shows the difference, truncated at it; None if none does."""
        candidates = [c for c in candidates if self.valid(c)]
        if not candidates:
            return None
        for cand, shown in zip(candidates, self.run(candidates)):
            if shown is not None and shown.difference is not None and shown.difference.shape() == (shape or self.shape):
                return Shrunk(truncated(cand, shown.difference.index), shown, 0)
        return None

    def ddmin(self, best: Shrunk) -> Shrunk:
        granularity = 2
        runs = best.runs
        while True:
            units = list(range(len(best.sequence.calls) - 1))  # the last call is the difference
            if not units:
                break
            granularity = min(granularity, len(units))
            chunks = [units[i::granularity] for i in range(granularity)]
            candidates = [c for c in (without(best.sequence, set(chunk)) for chunk in chunks) if c is not None]
            found = self.first_showing(candidates)
            runs += 1
            if found is not None:
                best = replace(found, runs=runs)
                granularity = max(granularity - 1, 2)
            elif granularity >= len(units):
                break
            else:
                granularity = min(granularity * 2, len(units))
        return replace(best, runs=runs)

    def simplify(self, best: Shrunk) -> Shrunk:
        runs = best.runs
        while True:
            candidates = simpler(best.sequence)
            if not candidates:
                break
            found = self.first_showing(candidates)
            runs += 1
            if found is None:
                break
            best = replace(found, runs=runs)
        return replace(best, runs=runs)

    def canonical(self, best: Shrunk) -> Shrunk:
        """Sockets a, b, c... and ports P, Q in order of use, if the renamed sequence still shows it."""
        socks, ports = renaming(best.sequence)
        renamed = rename(best.sequence, socks, ports)
        if renamed == best.sequence:
            return best
        shape = (self.shape[0], tuple(_rename_answer(a, socks) for a in self.shape[1]))
        found = self.first_showing([renamed], shape)
        return replace(found, runs=best.runs + 1) if found else replace(best, runs=best.runs + 1)


def simpler(seq: Sequence) -> list[Sequence]:
    """Every sequence one field simpler than `seq` (SIMPLER by field kind), and each with one address
    plainer wherever it is used (two binds that meet on an address keep meeting)."""
    families = {name: c.fields.get("family", "inet") for c in seq.calls for name in c.defines()}
    out = _everywhere(seq, families)
    for i, call in enumerate(seq.calls):
        family = families.get(call.fields.get("sock", ""), "inet")
        for name, fld in OPS[call.op].fields.items():
            if name not in call.fields:
                continue
            value = call.fields[name]
            if fld.kind == "sock_new" and (fld.required or any(value in c.uses() for c in seq.calls[i + 1:])):
                continue
            for new in SIMPLER[fld.kind](call, name, fld, value, family):
                why = f"{name} {_show(value)} simplified to {_show(new) if new is not None else 'its default'}"
                calls = list(seq.calls)
                calls[i] = call.with_fields({name: new}, why)  # None: the field left out
                out.append(replace(seq, calls=tuple(calls)))
    return out


def _everywhere(seq: Sequence, families: Mapping[str, str]) -> list[Sequence]:
    """For each address the sequence's `addr` fields use more than once, the sequence with a plainer
    one (for every socket that uses it) in all of them."""
    uses: dict[Any, list[str]] = {}  # address -> the family of each socket that uses it
    for call in seq.calls:
        for name in _addr_fields(call):
            uses.setdefault(call.fields[name], []).append(families.get(call.fields.get("sock", ""), "inet"))
    out = []
    for addr, fams in uses.items():
        if len(fams) < 2:
            continue
        for new in [a for a in PLAIN if all(a in _plainer(addr, fam) for fam in fams)]:
            why = f"addr {addr} simplified to {new}"
            calls = tuple(c.with_fields({n: new for n in _addr_fields(c) if c.fields[n] == addr}, why)
                          if any(c.fields[n] == addr for n in _addr_fields(c)) else c for c in seq.calls)
            out.append(replace(seq, calls=calls))
    return out


def _addr_fields(call: Call) -> list[str]:
    """The names of the call's `addr` fields that it writes."""
    return [n for n, f in OPS[call.op].fields.items() if f.kind == "addr" and n in call.fields]


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ":".join(str(v) for v in value.values())
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def renaming(seq: Sequence) -> tuple[dict[str, str], dict[str, str]]:
    """Socket names -> a, b, c... in order of definition; symbolic ports -> P, Q... in order of use."""
    socks: dict[str, str] = {}
    ports: dict[str, str] = {}
    for call in seq.calls:
        for name in call.defines():
            socks.setdefault(name, _letters(len(socks)))
        for name, fld in OPS[call.op].fields.items():
            value = call.fields.get(name)
            port = value.get("port") if fld.kind == "dest" and value else value if fld.kind == "port" else None
            if isinstance(port, str):
                ports.setdefault(port, "PQRSTUVW"[len(ports)] if len(ports) < 8 else port)
    return socks, ports


def _letters(n: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[n] if n < 26 else f"s{n}"


def rename(seq: Sequence, socks: Mapping[str, str], ports: Mapping[str, str]) -> Sequence:
    calls = []
    for call in seq.calls:
        changes: dict[str, Any] = {}
        for name, fld in OPS[call.op].fields.items():
            value = call.fields.get(name)
            if value is None:
                continue
            if fld.kind in ("sock", "sock_new"):
                changes[name] = socks.get(value, value)
            elif fld.kind == "socks":
                changes[name] = [socks.get(s, s) for s in value]
            elif fld.kind == "port":
                changes[name] = ports.get(value, value)
            elif fld.kind == "dest":
                changes[name] = {**value, "port": ports.get(value["port"], value["port"])}
        calls.append(replace(call, fields={**call.fields, **changes}))
    return replace(seq, calls=tuple(calls))


def _rename_answer(answer: str, socks: Mapping[str, str]) -> str:
    return re.sub(r"^single:(.+)$", lambda m: f"single:{socks.get(m.group(1), m.group(1))}", answer)
