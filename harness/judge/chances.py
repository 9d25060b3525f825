"""Which steps never got their chance: they act on a socket that was never made on this target.

A step names its sockets (`sock`, a list such as distribute's `over`, accept's `or`); a socket
exists once a step that defines it (`socket`'s `sock`, `accept`'s `as`) returned `ok`. When
that step failed or timed out (the kernel gave the connection to another listener, or refused
the socket), the agent has no such socket and answers the later steps itself (EBADF "no open
socket named ..."): no kernel saw them. Pure: the scenario's steps and the target's outcomes
in, a reason per step that never ran out.
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..model import Step, StepRun
from ..scenario.ops import OPS, describe


def missed(steps: Sequence[Step], runs: Sequence[Optional[StepRun]]) -> dict[int, str]:
    """Step index -> why it never ran, for the steps whose sockets were never made."""
    made: set[str] = set()
    failed: dict[str, str] = {}  # socket name -> how its defining step ended
    out: dict[int, str] = {}
    for step, run in zip(steps, runs):
        fields = OPS[step.op].fields
        used = [name for key, f in fields.items() if f.kind in ("sock", "socks")
                for name in _names(step.args.get(key))]
        never = [name for name in used if name not in made and name in failed]
        if never:
            out[step.index] = f"{never[0]} was never made ({failed[never[0]]})"
        for key, f in fields.items():
            name = step.args.get(key)
            if f.kind != "sock_new" or not name:
                continue
            if run is not None and run.outcome == "ok" and step.index not in out:
                made.add(name)
                failed.pop(name, None)
            elif name not in made:
                outcome = "it never ran" if step.index in out else f"observed {run.outcome if run else 'nothing'}"
                failed[name] = f"step {step.index}, {describe(step.op, step.args)}: {outcome}"
    return out


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []
