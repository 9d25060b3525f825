"""A distribute step's predicted shape from who may receive: `single:s3`, `spread`, `each`, `none`.

The agent (harness/agent.py distribute) sends `count` connections or datagrams from fresh client
sockets, each with its own source port, and counts what the sockets of `over` receive; what reaches
any other socket is lost. A listener of `over` also accepts (and resets) what already waited in its
queue, without counting it. The shape is what a report compares (harness/observation.py signature).
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
    if every or len(found) <= 1:
        new = inside
    elif outside:
        raise Unknown("the connections are hashed over a group only part of which is in `over`", rules)
    elif len(found) * float(len(found)) ** -count >= SPREAD_DOUBT:
        raise Unknown(f"{count} connections over {len(found)} sockets may all land on one (rule A7)", rules + ["A7"])
    else:
        new, rules = inside, rules + ["A7"]
    if _drain_queues(w, over):
        rules.append("A8")
    got = list(dict.fromkeys(new))
    if every and len(got) == len(over) > 1:
        return Answer("each", tuple(rules))
    return Answer("none" if not got else f"single:{got[0]}" if len(got) == 1 else "spread", tuple(rules))


def _drain_queues(w: World, over: list[tuple[str, Optional[Sock]]]) -> list[str]:
    """The sockets of `over` with connections waiting to be accepted: the agent accepts them during the step
    and closes each with RST, so their clients are reset; they are not the step's own, so they are not
    counted (rule A8)."""
    names = []
    for name, s in over:
        if s is None or not s.queue:
            continue
        if any(child.k.get("maybe") for child in s.queue):
            raise Unknown(f"{name}'s queue may hold a connection a group gave it")
        names.append(name)
        for child in list(s.queue):
            if child.other is not None:
                w.reset(child.other)
            w.remove(child)
        s.queue.clear()
    return names
