"""SO_REUSEPORT groups: the reason a server binds several sockets to one port, made a step.

nginx, unbound and socat open one socket per worker on a shared port so that the kernel
spreads the load. Whether it does is what differs most across systems (Linux 3.9+ hashes
over the group; FreeBSD without SO_REUSEPORT_LB, macOS, NetBSD, OpenBSD give one socket
everything), so after the last listen (TCP) or bind (UDP) of a group the recording gets a
`distribute` over it, expecting what Linux does: `spread`. Pure: steps in, steps out.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Union

from .naming import port_value
from .recording import ANY, Comment, Sock, Step

SPREAD_NOTE = ("SO_REUSEPORT group: Linux 3.9+ spreads connections/datagrams over it (as on the kernel "
               "recorded); each target shows its own distribution")
STEERED_NOTE = "SO_REUSEPORT group whose choice a BPF program or SO_INCOMING_CPU steered: no claim"
LOOPBACK_FOR = {"any": "loopback", "any6": "loopback6", "0.0.0.0": "loopback", "::": "loopback6"}


def with_distribute_steps(items: list[Union[Step, Comment]], socks: list[Sock],
                          steered: set[int]) -> tuple[list[Union[Step, Comment]], int]:
    """The items with a distribute step after each group's set-up; and how many groups got one.
    `steered`: ids of sockets whose group choice a program made (SO_ATTACH_REUSEPORT_*)."""
    groups = defaultdict(list)
    for sock in socks:
        if sock.kept and sock.reuseport and sock.bound and (sock.listening or sock.type == "udp"):
            key = (sock.type, sock.family, sock.bound[0], port_value(sock.bound[1]))
            groups[key].append(sock)
    inserts: dict[int, list[Step]] = defaultdict(list)
    for (kind, family, addr, _), members in groups.items():
        if len(members) < 2:
            continue
        ready = _last_setup(items, members, "listen" if kind == "tcp" else "bind")
        open_then = [s for s in members if _open_after(items, s, ready)]
        if len(open_then) < 2:
            continue
        step = Step("distribute", {"to": {"addr": LOOPBACK_FOR.get(addr, addr), "port": members[0].bound[1]},
                                   "over": open_then, "type": kind}, "spread", SPREAD_NOTE)
        if any(id(s) in steered for s in open_then):
            step.linux, step.note = ANY, STEERED_NOTE
        inserts[ready].append(step)
    out: list[Union[Step, Comment]] = []
    for i, item in enumerate(items):
        out.append(item)
        out += inserts.get(i, [])
    return out, sum(map(len, inserts.values()))


def _last_setup(items: list, members: list[Sock], op: str) -> int:
    """Where the group is complete: the last successful listen (or bind) of any member."""
    ids = {id(s) for s in members}
    return max(i for i, item in enumerate(items)
               if isinstance(item, Step) and item.op == op and item.linux == "ok" and id(item.args.get("sock")) in ids)


def _open_after(items: list, sock: Sock, position: int) -> bool:
    """Not closed at or before `position`."""
    return not any(isinstance(item, Step) and item.op == "close" and item.args.get("sock") is sock
                   for item in items[:position + 1])
