"""Reading an observation: what one step returned on one target, as results.json holds it.

The one place that says how an observation reads (`text`), what two targets
must share to count as behaving alike (`signature`), how a mismatch is worded
and whether an observation satisfies an expected outcome (`satisfies`). Both
readings come from the op's row (its `compare` fields), and the verdict, the
terminal, JUnit, the HTML page and baselines all use these, so the same
observation reads the same everywhere.
An observation is the dict of docs/results.md: `outcome`, `ms`, and per op
`value`, `histogram`/`lost`, `data`...
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from . import errnos
from .model import Outcome, listed
from .scenario.ops import DISTRIBUTION, OPS, Op

Observed = Mapping[str, Any]
# How a results file's op that this harness does not know (a newer one wrote it) is read.
UNKNOWN_OP = Op({}, lambda a: "", compare=("value",))


def receivers(observed: Observed) -> list[str]:
    """The sockets of a distribute step that received anything, in histogram order."""
    return [sock for sock, n in (observed.get("histogram") or {}).items() if n > 0]


def _called(row: Op, observed: Observed) -> str:
    """A system call's reading: its outcome, and when it worked the fields its op row compares."""
    outcome = str(observed.get("outcome"))
    if outcome != "ok":
        return outcome
    return " ".join([outcome] + [f"{name}={listed(observed[name])}" for name in row.compare if name in observed])


def signature(op: str, observed: Optional[Observed]) -> Optional[str]:
    """What two targets must share to count as behaving alike: a call's reading, or the shape of a
    distribution (`spread`, `single:s3`, `none`: its counts vary by chance)."""
    if observed is None:
        return None
    row = OPS.get(op, UNKNOWN_OP)
    if str(observed.get("outcome")) == "ok" and (row.distributes or "histogram" in observed):
        got = receivers(observed)
        return "none" if not got else f"single:{got[0]}" if len(got) == 1 else "spread"
    return _called(row, observed)


def text(op: str, observed: Optional[Observed]) -> str:
    """What a person reads, in the terminal, JUnit, the HTML page and baselines alike: the signature,
    except that a distribution shows its counts (`s0=3 s1=29 lost=2`)."""
    if observed is None:
        return "(not run)"
    if "histogram" in observed:
        outcome = str(observed.get("outcome"))
        hist = " ".join(f"{sock}={n}" for sock, n in observed["histogram"].items())
        lost = f" lost={observed['lost']}" if observed.get("lost") else ""
        return f"{outcome}: {hist}{lost}" if outcome != "ok" else f"{hist}{lost}"
    return _called(OPS.get(op, UNKNOWN_OP), observed)


def mismatch_line(index: int, step_text: str, line: int, expected: Any, selector: Any, op: str,
                  observed: Optional[Observed]) -> str:
    """`step 7 (bind b 127.0.0.1:P) at line 12: expected EADDRINUSE [linux<3.9], observed ok`: the one
    wording of a mismatch, for the terminal and JUnit."""
    return (f"step {index} ({step_text}) at line {line}: expected {expected} [{selector}], "
            f"observed {text(op, observed)}")


def expected_signature(expected: Optional[str]) -> Optional[str]:
    """The signature an observation satisfying this expected outcome (as text) would have, where one
    signature would: `value=1` -> `ok value=1`, `each` -> `spread`; None for `any`, a bare `single`
    and the outcomes many observations satisfy (a port test, receipt conditions)."""
    if expected in (None, "any", "single", "value=nonzero") or expected.startswith(("port", "at_least", "of=",
                                                                                     "only=", "lost=")):
        return None
    if expected.startswith(("value=", "events=")):
        return f"ok {expected}"
    return "spread" if expected == "each" else expected


def satisfies(expected: Outcome, observed: Observed, args: Mapping[str, Any], system: Optional[str] = None) -> bool:
    """Does the observation satisfy the expected outcome?  Errnos compare by the number each name has
    on the target's `system` (EOPNOTSUPP is ENOTSUP on Linux, not on macOS: harness/errnos.py)."""
    outcome = str(observed.get("outcome"))
    if expected.kind == "any":
        return True
    if expected.kind == "errno":
        return errnos.same(system, str(expected.arg), outcome)
    if expected.kind in ("ok", "unsupported", "timeout"):
        return outcome == expected.kind
    if outcome != "ok":
        return False
    if expected.kind in DISTRIBUTION:
        return _distribution(expected, observed, args["over"], args["count"])
    return _READINGS[expected.kind](expected.arg, observed)


def _value(arg: Any, observed: Observed) -> bool:
    """`{value: N}` exactly as the kernel returned it; a pair compares as a list; `nonzero`: set at all."""
    value = observed.get("value")
    if arg == "nonzero":
        return isinstance(value, int) and not isinstance(value, bool) and value != 0
    return value == (list(arg) if isinstance(arg, tuple) else arg)


def _port(arg: tuple, observed: Observed) -> bool:
    """A port test against getsockname's observation: its number, the port names it equals, the
    system's ephemeral range as the agent read it where the step ran."""
    port, names = observed.get("port"), observed.get("names") or []
    if arg[0] == "ephemeral":
        span = observed.get("range")
        return bool(span) and span[0] <= port <= span[1]
    if arg[0] == "in":
        return arg[1] <= port <= arg[2]
    equal = port == arg[1] if isinstance(arg[1], int) else arg[1] in names
    return equal if arg[0] == "eq" else not equal


def _events(arg: tuple, observed: Observed) -> bool:
    return sorted(observed.get("events") or []) == sorted(arg)


_READINGS = {"value": _value, "port": _port, "events": _events}


def _distribution(expected: Outcome, observed: Observed, over: list[str], count: int) -> bool:
    hist: Mapping[str, int] = observed.get("histogram") or {}
    got = receivers(observed)
    lost = int(observed.get("lost") or 0)
    if expected.kind == "none":
        return not got
    if expected.kind == "spread":
        return len(got) >= 2
    if expected.kind == "single":
        return len(got) == 1 and lost == 0 and expected.arg in (None, got[0])
    if expected.kind == "receipts":
        return _receipts(dict(expected.arg or ()), hist, got, lost, over)
    return all(hist.get(sock, 0) == count for sock in over)  # each


def _receipts(cond: Mapping[str, Any], hist: Mapping[str, int], got: list[str], lost: int, over: list[str]) -> bool:
    """Every condition written holds: each of `of` (default: over) got at least `at_least`; only the
    sockets in `only` received, and some did; exactly `lost` were lost."""
    if "at_least" in cond and any(hist.get(sock, 0) < cond["at_least"] for sock in cond.get("of") or over):
        return False
    if "only" in cond and not (got and set(got) <= set(cond["only"])):
        return False
    return "lost" not in cond or lost == cond["lost"]
