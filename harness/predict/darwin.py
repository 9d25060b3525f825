"""macOS / XNU (model-bsd.md section 3): in_pcbbind and in6_pcbbind with their uid checks, IPV6_V6ONLY off
by default, dropped SYNs to bound-only sockets, TIME_WAIT of 30 s on loopback too.

Read in xnu-11417 (macOS 15.5) and older tags; the rules hold from macOS 10.9 (xnu-2422), the
wildcard exemption of privileged ports from 10.14 (xnu-4903).
"""
from __future__ import annotations

from typing import Optional

from .addrs import Addr
from .bsd import ANY4, ANY6, BSD, Refuse, hash_locked_lookup, laddr4, laddr6, lookup_local, reuse_of
from .kernel import Answer, Dest, Unknown
from .world import Port, Sock, World


class Darwin(BSD):
    family, name, oldest = "darwin", "macOS", (10, 9)
    rule_v6only = "X-3"
    v6only_default_value = False
    rule_listen = "X-10"
    rule_refused_listener = "X-10"
    rule_shutdown = "X-12"
    bound_only_syn = "timeout"
    rule_bound_only = "X-13"
    rule_multicast = "X-15"

    def sockopt_refused(self, s: Sock, opt: str, value: int) -> Optional[Answer]:
        if {"rd", "wr"} <= s.shut:
            return Answer.of("EINVAL", "X-2")
        return None

    def conflicts(self, w: World, s: Sock, addr: Addr, port: Port, others: list[Sock]) -> list[str]:
        wild = not reuse_of(s)
        reuseport = self.trigger(s, addr, ("SO_REUSEADDR",))
        if s.family == "inet" or addr.mapped is not None:
            v4 = addr.v4
            if not addr.multicast and self.uid_checked(s, others):
                t = lookup_local(others, laddr4, v4, True)
                if t is not None and (v4 != ANY4 or laddr4(t) != ANY4) and self.uid_differs(s, t):
                    raise Refuse("EADDRINUSE", "X-5")
            t = lookup_local(others, laddr4, v4, wild)
            if t is not None and not (reuseport & reuse_of(t)):
                if not (v4 == ANY4 and laddr4(t) == ANY4 and s.family == "inet6" and t.family == "inet6"):
                    raise Refuse("EADDRINUSE", "X-7", "B3", "B4")
            return ["X-7", "B3", "B4"]
        if addr.ip.is_multicast:
            raise Unknown("IPv6 multicast binds are not modelled")
        dual = addr.wildcard and not s.v6only
        if self.uid_checked(s, others):
            t = lookup_local(others, laddr6, addr.ip, True)
            if t is not None and (not addr.wildcard or laddr6(t) != ANY6 or not t.on("SO_REUSEPORT")) \
                    and self.uid_differs(s, t):
                raise Refuse("EADDRINUSE", "X-6")
            t4 = lookup_local(others, laddr4, ANY4, True) if dual else None
            if t4 is not None and not t4.on("SO_REUSEPORT") and self.uid_differs(s, t4) \
                    and (laddr4(t4) != ANY4 or t4.family == "inet6"):
                raise Refuse("EADDRINUSE", "X-6")
        t = lookup_local(others, laddr6, addr.ip, wild)
        if t is not None and not (reuseport & reuse_of(t)):
            raise Refuse("EADDRINUSE", "X-7", "B3", "B4")
        if dual:
            t4 = lookup_local(others, laddr4, ANY4, wild)
            if t4 is not None and not (reuseport & reuse_of(t4)) and (laddr4(t4) != ANY4 or t4.family == "inet6"):
                raise Refuse("EADDRINUSE", "X-7", "B3")
        return ["X-7", "B3", "B4"]

    def shutdown_unconnected(self, w: World, s: Sock, how: str) -> Answer:
        return Answer.of("ENOTCONN", "X-12")

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        return 30_000, "X-8"

    def receivers(self, w: World, dest: Dest, proto: str) -> tuple[list[Sock], list[str]]:
        return hash_locked_lookup(self.unconnected(w, dest, proto), dest)[0], ["X-14"]

    def multicast(self, w: World, dest: Dest) -> tuple[list[Sock], list[str]]:
        if dest.addr.v4 is not None and str(dest.addr.v4) == "224.0.0.1":
            raise Unknown("224.0.0.1 skips the membership test on XNU: not modelled")
        return self.walk_multicast(w, dest, membership=True), ["X-15"]
