"""Linux: which socket gets a connection or a datagram (rules L35-L40), by version.

The answer is a list of candidates, each equally likely: one socket (`single`), the members of a
SO_REUSEPORT group, whose pick depends on a hash of the connection, or none. Chains are kept in
the order the kernel keeps them: `World.k["lchain"]` for TCP listeners (inet_hash), `["uchain"]`
for UDP sockets' address slots (udp_lib_get_port); both put a new socket first, except an AF_INET6
socket with SO_REUSEPORT, which goes last (4.6+).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .kernel import Dest, Unknown
from .linux_ports import ANY4, View
from .world import CONNECTED, LISTEN, Sock, World


@dataclass(eq=False)
class Group:
    """A SO_REUSEPORT group (net/core/sock_reuseport.c): who a hash picks among."""

    members: list[Sock] = field(default_factory=list)


def group_of(s: Sock) -> Optional[Group]:
    return s.k.get("group")


def leave_group(s: Sock) -> None:
    group = s.k.pop("group", None)
    if group is not None and s in group.members:
        group.members.remove(s)


def chain_insert(w: World, key: str, s: Sock, tail: bool) -> None:
    chain = w.k.setdefault(key, [])
    if s in chain:
        chain.remove(s)
    chain.append(s) if tail else chain.insert(0, s)


def chain_remove(w: World, key: str, s: Sock) -> None:
    chain = w.k.get(key, [])
    if s in chain:
        chain.remove(s)


def _matches(s: Sock, dest: Dest, phase: Optional[object]) -> bool:
    """Is `s` a candidate for packets to `dest` in this phase (the exact address, or the wildcard;
    None: any address that covers dest, for the one-scan lookups of older kernels)?"""
    view = View.of(s)
    if dest.family == "inet":
        if view.v6only:
            return False
        if phase is None:
            return view.rcv4 in (dest.addr.v4, ANY4)
        return view.rcv4 == phase
    if s.family != "inet6" or view.kind6 == "MAPPED":
        return False
    if phase is None:
        return view.addr.ip == dest.addr.ip or view.addr.wildcard
    return view.addr.ip == phase


def _phases(dest: Dest) -> list[object]:
    if dest.family == "inet":
        return [dest.addr.v4, ANY4]
    import ipaddress
    return [dest.addr.ip, ipaddress.IPv6Address("::")]


def _score(s: Sock, dest: Dest, udp: bool, exact_bonus: bool) -> int:
    """compute_score: AF_INET over AF_INET6 for IPv4 (TCP +1, UDP 2 against 1), +4 for a specific
    address in the one-scan lookups, +4 per peer field for a connected UDP socket."""
    score = 1
    if dest.family == "inet" and s.family == "inet":
        score += 1
    if exact_bonus and not View.of(s).addr.wildcard and View.of(s).rcv4 != ANY4:
        score += 4
    if udp and s.state == CONNECTED:
        score += 8
    return score


def _pick(s: Sock, rules: list[str]) -> Optional[list[Sock]]:
    """inet_lookup_reuseport: a socket with SO_REUSEPORT (now) in a group hands over to the group."""
    group = group_of(s)
    if s.on("SO_REUSEPORT") and group is not None and group.members:
        if any(m.state == CONNECTED for m in group.members):
            raise Unknown("a SO_REUSEPORT group with a connected member falls back to scoring "
                          "(reuseport_has_conns): not modelled")
        rules.append("L36")
        return list(group.members)
    return None


def candidates(kernel: "object", w: World, dest: Dest, udp: bool, source_port_peer: bool = False) -> tuple[list[Sock], list[str]]:
    """Who may get a connection (TCP) or a datagram (UDP) to dest from a fresh client, and why."""
    since = kernel.since  # type: ignore[attr-defined]
    if udp:
        pool = [s for s in w.k.get("uchain", []) if s.port == dest.port and s.type == "udp"
                and s.state != CONNECTED]  # a connected socket only hears its peer: never a fresh client
        ordered = pool if since(5, 0) else sorted(pool, key=lambda s: -s.seq)  # older: the port's chain
    else:
        ordered = [s for s in w.k.get("lchain", []) if s.port == dest.port and s.state == LISTEN]
    if any(s.k.get("cpu") for s in ordered):
        raise Unknown("a candidate received segments before it listened: its sk_incoming_cpu may break "
                      "ties (compute_score), which the model cannot tell")
    rules = ["L39" if udp else "L35"]
    if since(5, 0):
        for phase in _phases(dest):
            best, hiscore = None, 0
            for s in ordered:
                if not _matches(s, dest, phase):
                    continue
                score = _score(s, dest, udp, False)
                if score > hiscore:
                    group = _pick(s, rules)
                    if group is not None:
                        return group, rules
                    best, hiscore = s, score
            if best is not None:
                return [best], rules
        return [], rules
    rules = ["L39old" if udp else "L35old"]
    matching = [s for s in ordered if _matches(s, dest, None)]
    if len(matching) > 10:
        raise Unknown("more than 10 sockets on the port: older kernels switch to the address hash (not modelled)")
    if not kernel.has_reuseport:  # type: ignore[attr-defined]
        best = max(matching, key=lambda s: _score(s, dest, udp, True), default=None)
        return ([best] if best else []), rules
    grouped = since(4, 5) if udp else since(4, 6)
    best, hiscore, ties = None, 0, []
    for s in matching:
        score = _score(s, dest, udp, True)
        if score > hiscore:
            if grouped:
                group = _pick(s, rules)
                if group is not None:
                    return group, rules
            best, hiscore, ties = s, score, [s]
        elif score == hiscore:
            ties.append(s)
    if best is None:
        return [], rules
    if not grouped and best.on("SO_REUSEPORT"):
        return ties, rules  # 3.9-4.4/4.5: random among every equally good socket
    return [best], rules


def multicast_receivers(w: World, dest: Dest) -> tuple[list[Sock], list[str]]:
    """L40: every UDP socket on the port bound to 0.0.0.0 or the group, if some socket joined it."""
    joined = any(dest.addr.v4 in s.k.get("groups", ()) for s in w.socks if s.state != "gone")
    if not joined:
        return [], ["L40"]
    out = []
    for s in w.socks:
        if s.type != "udp" or s.port != dest.port or s.state == "gone" or s.addr is None:
            continue
        view = View.of(s)
        if view.v6only or view.rcv4 not in (ANY4, dest.addr.v4):
            continue
        if s.state == CONNECTED:
            continue  # its peer is never a fresh client
        out.append(s)
    return out, ["L40"]
