"""Reading an observation: what one step returned on one target, as results.json holds it.

The one place that says how an observation reads (`text`), what two targets
must share to count as behaving alike (`signature`) and whether it satisfies
an expected outcome (`satisfies`). The verdict, the terminal, JUnit and the
HTML page all use these, so the same observation reads the same everywhere.
An observation is the dict of docs/results.md: `outcome`, `ms`, and per op
`value`, `histogram`/`lost`, `data`...
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from .model import Outcome
from .scenario.ops import OPS, Op

Observed = Mapping[str, Any]
# How a results file's op that this harness does not know (a newer one wrote it) is read.
UNKNOWN_OP = Op({}, lambda a: "", compare=("value",))


def receivers(observed: Observed) -> list[str]:
    """The sockets of a distribute step that received anything, in histogram order."""
    return [sock for sock, n in (observed.get("histogram") or {}).items() if n > 0]


def signature(op: str, observed: Optional[Observed]) -> Optional[str]:
    """What two targets must share to count as behaving alike (histogram counts vary by chance)."""
    if observed is None:
        return None
    outcome = str(observed.get("outcome"))
    row = OPS.get(op, UNKNOWN_OP)
    if outcome != "ok":
        return outcome
    if row.distributes or "histogram" in observed:
        got = receivers(observed)
        return "none" if not got else f"single:{got[0]}" if len(got) == 1 else "spread"
    return " ".join([outcome] + [f"{name}={observed[name]}" for name in row.compare if name in observed])


def expected_signature(expected: Optional[str]) -> Optional[str]:
    """The signature an observation satisfying this expected outcome (as text) would have, where one
    signature would: `value=1` -> `ok value=1`, `each` -> `spread`; None for `any` and a bare `single`."""
    if expected in (None, "any", "single", "value=nonzero"):
        return None
    if expected.startswith("value="):
        return f"ok {expected}"
    return "spread" if expected == "each" else expected


def text(observed: Optional[Observed]) -> str:
    """A short human reading for terminals and JUnit: `s0=3 s1=29`, `ok value=1`, `EADDRINUSE`."""
    if observed is None:
        return "(not run)"
    outcome = str(observed.get("outcome"))
    if "histogram" in observed:
        hist = " ".join(f"{sock}={n}" for sock, n in observed["histogram"].items())
        lost = f" lost={observed['lost']}" if observed.get("lost") else ""
        return f"{outcome}: {hist}{lost}" if outcome != "ok" else f"{hist}{lost}"
    if "value" in observed and outcome == "ok":
        return f"ok value={observed['value']}"
    return outcome


def satisfies(expected: Outcome, observed: Observed, args: Mapping[str, Any]) -> bool:
    """Does the observation satisfy the expected outcome?  Errnos compare by name."""
    outcome = str(observed.get("outcome"))
    if expected.kind == "any":
        return True
    if expected.kind in ("spread", "single", "each", "none"):
        return outcome == "ok" and _distribution(expected, observed, args["over"], args["count"])
    if expected.kind == "value" and expected.arg == "nonzero":
        value = observed.get("value")
        return outcome == "ok" and isinstance(value, int) and value != 0
    if expected.kind == "value":
        return outcome == "ok" and observed.get("value") == expected.arg
    return outcome == str(expected)


def _distribution(expected: Outcome, observed: Observed, over: list[str], count: int) -> bool:
    hist: Mapping[str, int] = observed.get("histogram") or {}
    got = receivers(observed)
    if expected.kind == "none":
        return not got
    if expected.kind == "spread":
        return len(got) >= 2
    if expected.kind == "single":
        lost = int(observed.get("lost") or 0)
        return len(got) == 1 and lost == 0 and expected.arg in (None, got[0])
    return all(hist.get(sock, 0) == count for sock in over)  # each
