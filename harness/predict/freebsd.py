"""FreeBSD 11-15 (model-bsd.md section 2): in_pcbbind_setup and in6_pcbbind, SO_REUSEPORT_LB groups,
the receive lookups before and after 14's SMR wild hash, no TIME_WAIT on loopback from 14.

Versions: 11 (before r334719, SO_REUSEPORT_LB, 12.0), 12-13, 14 (split exact/wild hashes,
nolocaltimewait), 15 (in_pcbbind_avail: no wildcard pass in the uid check).
"""
from __future__ import annotations

from typing import Optional

from .addrs import Addr
from .bsd import (ANY4, ANY6, BSD, Refuse, connected, hash_locked_lookup, laddr4, laddr6, lookup_local,
                  newest_exact_then, reuse_of)
from .bsd import vflags as _vf
from .kernel import Answer, Dest, Unknown
from .world import TIME_WAIT, Port, Sock, World

MAPPED_PCB_COST = 3  # INP_LOOKUP_MAPPED_PCB_COST: an AF_INET6 PCB seen by an IPv4 lookup


class FreeBSD(BSD):
    family, name = "freebsd", "FreeBSD"
    rule_v6only, rule_privileged = "F-5", "F-6"
    enotsup = "ENOTSUP"  # EOPNOTSUPP and ENOTSUP share 45; CPython names it ENOTSUP (rule A3)
    rule_listen = "F-16"
    rule_bound_only = "F-19"
    bound_only_syn = "refused"
    rule_multicast = "F-25"

    def __init__(self, version: tuple[int, ...]) -> None:
        super().__init__(version)
        self.lb = self.since(12)
        self.rule_refused_listener = "" if self.since(14) else "F-17"  # 14 moved the check (open question 6)
        self.rule_shutdown = "F-20" if self.since(12) else ""

    # -- options -------------------------------------------------------------------------------
    def sockopt_refused(self, s: Sock, opt: str, value: int) -> Optional[Answer]:
        if opt == "SO_REUSEPORT_LB" and not self.lb:
            return Answer.of("ENOPROTOOPT", "F-1")
        return None

    def getsockopt(self, w: World, s: Sock, opt: str, level: Optional[str]) -> Answer:
        if opt == "SO_REUSEPORT_LB" and not self.lb and level is None:
            return Answer.of("ENOPROTOOPT", "F-1")
        answer = super().getsockopt(w, s, opt, level)
        return Answer(answer.outcome, answer.rules + (("F-1",) if opt == "SO_REUSEPORT_LB" else ()))

    # -- bind ----------------------------------------------------------------------------------------
    def conflicts(self, w: World, s: Sock, addr: Addr, port: Port, others: list[Sock]) -> list[str]:
        wild = not reuse_of(s)
        if s.family == "inet" or addr.mapped is not None:
            return self._check4(s, addr, port, wild, others) + (["F-14"] if s.family == "inet6" else [])
        rules = self._check6(s, addr, wild, others)
        if not s.v6only and addr.wildcard:
            rules += self._dual4(s, wild, others)
        return rules

    def _lookup4(self, others: list[Sock], laddr, wild: bool) -> Optional[Sock]:
        return lookup_local(others, laddr4, laddr, wild, extra=lambda p: MAPPED_PCB_COST if "6" in _vf(p) else 0,
                            limit=3 + MAPPED_PCB_COST)

    def _uid_pass(self, addr_wild: bool, t: Sock, t_wild: bool) -> bool:
        """The uid check's one exemption (F-7, F-8, F-9): both wildcard, and (11) it has SO_REUSEPORT,
        (12-14) it has SO_REUSEPORT_LB and not SO_REUSEPORT, (15) never."""
        if not (addr_wild and t_wild) or self.since(15):
            return False
        if not self.lb:
            return t.on("SO_REUSEPORT")
        return t.on("SO_REUSEPORT_LB") and not t.on("SO_REUSEPORT")

    def _uid_rule(self) -> str:
        return "F-9" if self.since(15) else "F-7" if self.lb else "F-8"

    def _uid_check(self, s: Sock, t: Optional[Sock], addr_wild: bool, t_addr_wild: bool, exempt: bool = True) -> None:
        if t is None or (s.type == "tcp" and connected(t)):
            return  # a TCP connection, TIME_WAIT included, has a foreign address
        if exempt and self._uid_pass(addr_wild, t, t_addr_wild):
            return
        if self.uid_differs(s, t):
            raise Refuse("EADDRINUSE", self._uid_rule())

    def _main(self, s: Sock, addr: Addr, t: Optional[Sock], multicast: bool) -> bool:
        """F-10: does the found PCB refuse the newcomer's options?"""
        if t is None:
            return False
        reuseport = {"SO_REUSEPORT"} & reuse_of(s)
        reuse_lb = {"SO_REUSEPORT_LB"} & reuse_of(s) if self.lb else set()
        if multicast:
            if s.on("SO_REUSEADDR") or s.on("SO_REUSEPORT"):
                reuseport = {"SO_REUSEADDR", "SO_REUSEPORT"}
            if self.lb and (s.on("SO_REUSEADDR") or s.on("SO_REUSEPORT_LB")):
                reuse_lb = {"SO_REUSEADDR", "SO_REUSEPORT_LB"}
        return not (reuseport & reuse_of(t)) and not (reuse_lb & reuse_of(t))

    def _check4(self, s: Sock, addr: Addr, port: Port, wild: bool, others: list[Sock]) -> list[str]:
        v4 = addr.v4
        multicast = addr.multicast
        if multicast and not self.lb:
            raise Unknown("FreeBSD 11's multicast trigger for SO_REUSEADDR was not read (open question 1)")
        if not multicast and self.uid_checked(s, others):
            t = self._lookup4(others, v4, True)
            self._uid_check(s, t, v4 == ANY4, t is not None and laddr4(t) == ANY4)
        t = self._lookup4(others, v4, wild)
        if self._main(s, addr, t, multicast):
            both_v6 = s.family == "inet6" and t.family == "inet6"
            if not (v4 == ANY4 and laddr4(t) == ANY4 and both_v6):
                raise Refuse("EADDRINUSE", *(["F-10", "B3", "B4"] + (["F-11"] if t.state == TIME_WAIT else [])
                                             + (["F-13"] if "6" in _vf(t) else [])))
        return ["F-10", "B3", "B4"]

    def _check6(self, s: Sock, addr: Addr, wild: bool, others: list[Sock]) -> list[str]:
        if addr.ip.is_multicast:
            raise Unknown("IPv6 multicast binds are not modelled")
        if self.uid_checked(s, others):
            t = lookup_local(others, laddr6, addr.ip, True)
            self._uid_check(s, t, addr.wildcard, t is not None and laddr6(t) == ANY6)
        t = lookup_local(others, laddr6, addr.ip, wild)
        if self._main(s, addr, t, False):
            raise Refuse("EADDRINUSE", "F-10", "B3", "B4", *(["F-11"] if t.state == TIME_WAIT else []))
        return ["F-10", "B3", "B4"]

    def _dual4(self, s: Sock, wild: bool, others: list[Sock]) -> list[str]:
        """F-12: a dual-stack :: is checked again against the IPv4 PCBs of 0.0.0.0."""
        if self.uid_checked(s, others):
            t = self._lookup4(others, ANY4, True)
            self._uid_check(s, t, True, False, exempt=False)
        t = self._lookup4(others, ANY4, wild)
        if self._main(s, Addr(ANY4), t, False) and (laddr4(t) != ANY4 or t.family == "inet6"):
            raise Refuse("EADDRINUSE", "F-12", "B3")
        return ["F-12"]

    # -- groups --------------------------------------------------------------------------------------
    def bound(self, w: World, s: Sock) -> None:
        """F-24: a PCB with SO_REUSEPORT_LB joins its address's group when it is bound (a dual-stack
        :: does not)."""
        if self.lb and s.on("SO_REUSEPORT_LB") and not ("4" in _vf(s) and "6" in _vf(s)):
            s.k["lb"] = True

    # -- listen, connect, shutdown -------------------------------------------------------------------
    def shutdown_unconnected(self, w: World, s: Sock, how: str) -> Answer:
        if not self.rule_shutdown:
            raise Unknown("FreeBSD 11's shutdown of an unconnected socket was not read (open question 2)")
        if s.type == "tcp" and s.state in ("listening",):
            w.unsure(s)  # it wakes accept with ECONNABORTED: later steps on it are not modelled
        elif s.type == "udp":
            w.unsure(s)  # the shutdown is performed although ENOTCONN is returned
        return Answer.of("ENOTCONN", self.rule_shutdown)

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        if self.since(14):
            return 0, "F-26"  # nolocaltimewait: loopback connections leave no TIME_WAIT
        return 60_000, "F-26"

    # -- who receives ----------------------------------------------------------------------------------
    def receivers(self, w: World, dest: Dest, proto: str) -> tuple[list[Sock], list[str]]:
        pcbs = self.unconnected(w, dest, proto)
        v4 = dest.family == "inet"
        older, addr_of, target = hash_locked_lookup(pcbs, dest)
        if self.lb:
            for laddr in (target, ANY4 if v4 else ANY6):
                group = [p for p in pcbs if p.k.get("lb") and addr_of(p) == laddr]
                if group:
                    return group, ["F-24"]
        if self.since(14):
            if v4 and _mixed_wildcards(pcbs, target):
                raise Unknown("FreeBSD 14+: an AF_INET 0.0.0.0 and a dual-stack [::] on one port: their order in the "
                              "wild hash was inferred, not read (F-23)")
            found = newest_exact_then(pcbs, addr_of, target, "newest")
            return ([found] if found else []), ["F-22"]
        return older, ["F-21"]

    def multicast(self, w: World, dest: Dest) -> tuple[list[Sock], list[str]]:
        return self.walk_multicast(w, dest, membership=True), ["F-25"]

    def leaving(self, w: World, s: Sock) -> None:
        s.k.pop("lb", None)


def _mixed_wildcards(pcbs: list[Sock], target) -> bool:
    if any(laddr4(p) == target for p in pcbs):
        return False
    wild = [p for p in pcbs if laddr4(p) == ANY4]
    return any(p.family == "inet" for p in wild) and any(p.family == "inet6" for p in wild)
