"""A distribute step's predicted shape from who may receive: `single:s3`, `spread`, `each`, `none`.

The agent (harness/agent.py distribute) sends `count` connections or datagrams from fresh client
sockets, each with its own source port, and counts what the sockets of `over` receive; what reaches
any other socket is lost. The shape is what a report compares (harness/observation.py signature).
"""
from __future__ import annotations

from typing import Optional

from .kernel import Answer, Unknown
from .world import Sock, World

SPREAD_DOUBT = 1e-6  # rule A7: predict spread when all-on-one-member is less likely than this


def distribution(w: World, found: list[Sock], over: list[tuple[str, Optional[Sock]]], count: int,
                 rules: list[str], every: bool = False) -> Answer:
    """`found`: the receivers' candidates, each equally likely per connection (a group picks by hash),
    or with `every` each of them gets every datagram (multicast)."""
    named = {id(s): name for name, s in over if s is not None}
    outside = [s for s in found if id(s) not in named]
    for s in outside:
        w.unsure(s)  # what reached it waits in its queue: later steps on it are not modelled
    inside = [named[id(s)] for s in found if id(s) in named]
    rules = list(rules) + ["A6"]
    if every:
        if not inside:
            return Answer("none", tuple(rules))
        if len(inside) == len(over) and len(over) > 1:
            return Answer("each", tuple(rules))
        return Answer(f"single:{inside[0]}" if len(inside) == 1 else "spread", tuple(rules))
    if not found or not inside:
        return Answer("none", tuple(rules))
    if len(found) == 1:
        return Answer(f"single:{inside[0]}", tuple(rules))
    if outside:
        raise Unknown("the connections are hashed over a group only part of which is in `over`", rules)
    k = len(found)
    if k * float(k) ** -count >= SPREAD_DOUBT:
        raise Unknown(f"{count} connections over {k} sockets may all land on one (rule A7)", rules + ["A7"])
    return Answer("spread", tuple(rules + ["A7"]))
