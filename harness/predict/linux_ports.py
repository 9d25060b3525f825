"""Linux: which owners of a port conflict with a bind or a listen (rules L14-L19, L21, L34).

A socket is seen as the kernel's conflict checks see it: its family, IPV6_V6ONLY, its IPv4 receive
address (`inet_rcv_saddr`: the address, the one inside a v4-mapped address, 0 for ::, 127.0.0.6 for
any other IPv6 address) and its IPv6 address. The functions mirror inet_rcv_saddr_equal,
inet_bind_conflict and udp_lib_lport_inuse (written anew from the rules, not copied).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

from .addrs import Addr
from .world import LISTEN, TIME_WAIT, Sock

ANY4 = ipaddress.IPv4Address("0.0.0.0")
LOOPBACK4_IPV6 = ipaddress.IPv4Address("127.0.0.6")  # include/net/ipv6.h: what an IPv6 socket's inet_rcv_saddr holds


@dataclass(frozen=True)
class View:
    """What the conflict and lookup code reads of one socket (or of one about to bind)."""

    family: str
    v6only: bool
    addr: Addr

    @classmethod
    def of(cls, s: Sock, addr: Optional[Addr] = None) -> "View":
        """The socket as it is, or (with `addr`) as it would be bound there: __inet6_bind makes a socket
        bound to an IPv6 address that is neither :: nor v4-mapped IPv6-only (a connect does not)."""
        v6only = s.family == "inet6" and s.v6only
        if addr is not None and s.family == "inet6" and not addr.wildcard and addr.mapped is None:
            v6only = True
        return cls(s.family, v6only, addr or s.addr)

    @property
    def rcv4(self) -> ipaddress.IPv4Address:
        if self.family == "inet":
            return self.addr.ip
        if self.addr.mapped is not None:
            return self.addr.mapped
        return ANY4 if self.addr.wildcard else LOOPBACK4_IPV6

    @property
    def kind6(self) -> str:
        """ANY, MAPPED or UNICAST (an AF_INET socket reads as MAPPED to the IPv6 code)."""
        if self.family == "inet" or self.addr.mapped is not None:
            return "MAPPED"
        return "ANY" if self.addr.wildcard else "UNICAST"


def _v4_equal(a: ipaddress.IPv4Address, b: ipaddress.IPv4Address, b_v6only: bool, wild1: bool, wild2: bool) -> bool:
    if b_v6only:
        return False
    return a == b or (wild1 and a == ANY4) or (wild2 and b == ANY4)


def overlap(sk: View, sk2: View, wild: bool = True, wild2: Optional[bool] = None) -> bool:
    """inet_rcv_saddr_equal(sk, sk2, wild) (L14): do the two addresses meet? With `wild2` apart, the
    asymmetric test of sk_reuseport_match (a wildcard `sk` covers `sk2`, not the other way round)."""
    wild1, wild2 = wild, wild if wild2 is None else wild2
    if sk.family == "inet":
        return _v4_equal(sk.rcv4, sk2.rcv4, sk2.v6only, wild1, wild2)
    t1, t2 = sk.kind6, sk2.kind6
    if t1 == "MAPPED" and t2 == "MAPPED":
        return _v4_equal(sk.rcv4, sk2.rcv4, sk2.v6only, wild1, wild2)
    if t1 == "ANY" and t2 == "ANY":
        return True
    if t2 == "ANY" and wild2 and not (sk2.v6only and t1 == "MAPPED"):
        return True
    if t1 == "ANY" and wild1 and not (sk.v6only and t2 == "MAPPED"):
        return True
    return sk2.family == "inet6" and sk.addr.ip == sk2.addr.ip


def tcp_pair_conflicts(sk: Sock, view: View, sk2: Sock, reuseport: bool, tw_reuseport: Optional[bool]) -> Optional[bool]:
    """inet_bind_conflict + the address test for one owner (L15); None where the answer rests on a
    TIME_WAIT entry's SO_REUSEPORT the version does not record (L34)."""
    reuse = sk.on("SO_REUSEADDR") and sk2.on("SO_REUSEADDR") and sk2.state != LISTEN
    if reuse:
        return False
    if reuseport and sk.on("SO_REUSEPORT"):
        if sk2.state == TIME_WAIT:
            if tw_reuseport is None and sk2.on("SO_REUSEPORT"):
                return None if overlap(view, View.of(sk2)) else False
            if tw_reuseport and sk2.on("SO_REUSEPORT"):
                return False
        elif sk2.on("SO_REUSEPORT") and sk.uid == sk2.uid:
            return False
    return overlap(view, View.of(sk2))


def udp_decides(sk: Sock, view: View, owners: list[Sock], reuseport: bool, first_decides: bool) -> tuple[bool, Optional[Sock]]:
    """udp_lib_lport_inuse (L19): (conflict?, the owner that decided). From 4.5 the newest overlapping
    owner without SO_REUSEADDR on both decides alone; before, any conflicting owner refuses."""
    for sk2 in owners:  # newest first: the primary hash chain
        if sk.on("SO_REUSEADDR") and sk2.on("SO_REUSEADDR"):
            continue
        if not overlap(view, View.of(sk2)):
            continue
        shares = reuseport and sk.on("SO_REUSEPORT") and sk2.on("SO_REUSEPORT") and sk.uid == sk2.uid
        if first_decides:
            return (not shares), sk2
        if not shares:
            return True, sk2
    return False, None
