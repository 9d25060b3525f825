"""NetBSD 7.99 (the rump kernel, where most of these rules were run) and NetBSD 10 (read: the same logic
under new names), model-bsd.md section 5.

AF_INET and AF_INET6 PCBs share a table but are looked up apart (in_pcblookup_port,
in6_pcblookup_port); AF_INET6 binds meet no uid check; accepted connections stay in the hash bucket
of port 0, so only a port that is a multiple of 128 sees them (N-9): where that decides an answer
and the port's number is not given, the answer is unknown.
"""
from __future__ import annotations

import ipaddress
from typing import Optional

from .addrs import Addr
from .bsd import ANY4, BSD, Refuse, connected, laddr4, lookup_local, newest_exact_then, reuse_of
from .kernel import Answer, Dest, Unknown
from .world import Port, Sock, World

MAPPED_ANY = ipaddress.IPv6Address("::ffff:0.0.0.0")


class NetBSD(BSD):
    family, name, oldest = "netbsd", "NetBSD", (7, 99)
    rule_v6only, rule_privileged = "N-2", "N-3"
    flag_readback = False  # sogetopt1 normalises to 1
    rule_getsockopt = "N-1"
    rule_listen = "N-12"
    rule_refused_listener = "N-12"
    rule_shutdown = "N-13"
    bound_only_syn = "timeout"
    rule_bound_only = "N-14"
    rule_multicast = "N-16"

    # -- bind ----------------------------------------------------------------------------------------
    def conflicts(self, w: World, s: Sock, addr: Addr, port: Port, others: list[Sock]) -> list[str]:
        hidden = [p for p in others if p.k.get("accepted")]
        if not hidden:
            return self._conflicts(s, addr, others)
        number = w.ports.get(port) if isinstance(port, str) else port
        if number is not None:
            seen = others if number % 128 == 0 else [p for p in others if not p.k.get("accepted")]
            return self._conflicts(s, addr, seen) + ["N-9"]
        outcomes = set()
        for seen in (others, [p for p in others if not p.k.get("accepted")]):
            try:
                outcomes.add(("ok", tuple(self._conflicts(s, addr, seen))))
            except Refuse as refused:
                outcomes.add((refused.errno, refused.rules))
        if len({o for o, _ in outcomes}) > 1:
            raise Unknown(f"an accepted connection holds the port: NetBSD sees it only if {port}'s number is a "
                          "multiple of 128 (N-9), and the number is not known", ["N-9"])
        errno, rules = outcomes.pop()
        if errno != "ok":
            raise Refuse(errno, *rules, "N-9")
        return list(rules) + ["N-9"]

    def _conflicts(self, s: Sock, addr: Addr, others: list[Sock]) -> list[str]:
        wild = not reuse_of(s)
        reuseport = self.trigger(s, addr, ("SO_REUSEADDR", "SO_REUSEPORT"))
        inet = [p for p in others if p.family == "inet"]
        inet6 = [p for p in others if p.family == "inet6"]
        if s.family == "inet":
            if not addr.multicast and self.uid_checked(s, others):
                t = lookup_local(inet, laddr4, addr.v4, True)
                if t is not None and (addr.v4 != ANY4 or laddr4(t) != ANY4 or not t.on("SO_REUSEPORT")) \
                        and self.uid_differs(s, t):
                    raise Refuse("EADDRINUSE", "N-4")
            t6 = _lookup6(inet6, ipaddress.IPv6Address(f"::ffff:{addr.v4}"), wild)
            if t6 is not None and not (reuseport & reuse_of(t6)):
                raise Refuse("EADDRINUSE", "N-6", "B3")
            t = lookup_local(inet, laddr4, addr.v4, wild)
            if t is not None and not (reuseport & reuse_of(t)):
                raise Refuse("EADDRINUSE", "N-6", "B3", "B4")
            return ["N-6", "B3", "B4"]
        if addr.mapped is not None and any(p.family == "inet" for p in others):
            raise Unknown("a v4-mapped AF_INET6 bind beside AF_INET PCBs on the port was not read for NetBSD")
        if addr.ip.is_multicast:
            raise Unknown("IPv6 multicast binds are not modelled")
        t = _lookup6(inet6, addr.ip, wild)
        if t is not None and not (reuseport & reuse_of(t)):
            raise Refuse("EADDRINUSE", "N-6", "N-8", "B3", "B4")
        return ["N-5", "N-6", "N-8", "B3", "B4"]

    def shutdown_unconnected(self, w: World, s: Sock, how: str) -> Answer:
        if s.state == "listening":
            raise Unknown("shutdown of a NetBSD listener (tcp_usrclosed closes the PCB) was read, not run")
        w.unsure(s)
        return Answer.of("ok", "N-13")

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        if s.addr is not None and s.addr.v4 is not None and s.addr.v4.is_loopback:
            return (2_000 if str(s.addr.v4) == "127.0.0.1" else 10_000), "N-10"
        return None, ""

    # -- who receives --------------------------------------------------------------------------------
    def receivers(self, w: World, dest: Dest, proto: str) -> tuple[list[Sock], list[str]]:
        pcbs = self.unconnected(w, dest, proto)
        if dest.family == "inet":
            inet = [p for p in pcbs if p.family == "inet"]
            found = newest_exact_then(inet, laddr4, dest.addr.v4, "newest")
            if found is None:
                inet6 = [p for p in pcbs if p.family == "inet6" and not p.v6only]
                mapped = ipaddress.IPv6Address(f"::ffff:{dest.addr.v4}")
                found = newest_exact_then(inet6, lambda p: p.addr.ip, mapped, "newest")
            return ([found] if found else []), ["N-15"]
        inet6 = [p for p in pcbs if p.family == "inet6" and p.addr.mapped is None]
        found = newest_exact_then(inet6, lambda p: p.addr.ip, dest.addr.ip, "newest")
        return ([found] if found else []), ["N-15"]

    def multicast(self, w: World, dest: Dest) -> tuple[list[Sock], list[str]]:
        return self.walk_multicast(w, dest, membership=False), ["N-16"]


def _lookup6(pcbs: list[Sock], laddr: ipaddress.IPv6Address, wild: bool) -> Optional[Sock]:
    """in6_pcblookup_port (N-6, N-8): a v4-mapped lookup meets mapped PCBs, and a dual-stack :: only as a
    wildcard; any other lookup passes over mapped PCBs."""
    best, best_cost = None, 3
    mapped = laddr.ipv4_mapped is not None
    for p in pcbs:
        pa = p.addr.ip
        if mapped:
            if p.v6only and pa.ipv4_mapped is None:
                continue
            if pa.ipv4_mapped is not None:
                if laddr == MAPPED_ANY or pa == MAPPED_ANY:
                    if pa != laddr:
                        raise Unknown("a v4-mapped wildcard (::ffff:0.0.0.0) in NetBSD's in6_pcblookup_port was not read")
                cost = 0 if pa == laddr else None
            elif pa.is_unspecified:
                cost = 1
            else:
                cost = None
        else:
            if pa.ipv4_mapped is not None:
                continue
            cost = 0 if pa == laddr else 1 if (pa.is_unspecified or laddr.is_unspecified) else None
        if cost is None:
            continue
        cost += int(connected(p))
        if not wild:
            if cost == 0:
                return p
            continue
        if cost < best_cost:
            best, best_cost = p, cost
    return best
