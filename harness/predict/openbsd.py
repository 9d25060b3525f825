"""OpenBSD 7.x (model-bsd.md section 4): separate IPv4 and IPv6 tables, IPV6_V6ONLY always on, a uid
check without exemptions, privileged ports refused after the conflict checks.
"""
from __future__ import annotations

from typing import Optional

from .addrs import Addr
from .bsd import BSD, Refuse, laddr4, laddr6, lookup_local, newest_exact_then, reuse_of
from .kernel import Answer, Dest, Unknown
from .world import Port, Sock, World


class OpenBSD(BSD):
    family, name, oldest = "openbsd", "OpenBSD", (7,)
    rule_privileged, privileged_before = "O-7", False
    rule_listen = "O-11"
    rule_refused_listener = "O-11"
    rule_shutdown = "O-10"

    def set_v6only(self, s: Sock, value: int) -> Answer:
        if s.port is not None or not value:
            return Answer.of("EINVAL", "O-2")
        return Answer.of("ok", "O-2")

    def get_v6only(self, s: Sock) -> Answer:
        return Answer.of("value=1", "O-2")

    def address_check(self, s: Sock, addr: Addr) -> list[str]:
        if s.family == "inet6" and addr.mapped is not None:
            raise Refuse("EADDRNOTAVAIL", "O-2")
        return super().address_check(s, addr)

    def conflicts(self, w: World, s: Sock, addr: Addr, port: Port, others: list[Sock]) -> list[str]:
        same = [p for p in others if p.family == s.family]  # O-12: one table per family
        addr_of, laddr = (laddr4, addr.v4) if s.family == "inet" else (laddr6, addr.ip)
        if s.family == "inet6" and addr.ip.is_multicast:
            raise Unknown("IPv6 multicast binds are not modelled")
        if not addr.multicast and self.uid_checked(s, others):
            t = lookup_local(same, addr_of, laddr, True)
            if t is not None and self.uid_differs(s, t):
                raise Refuse("EADDRINUSE", "O-5")
        t = lookup_local(same, addr_of, laddr, not reuse_of(s))
        if t is not None and not (self.trigger(s, addr, ("SO_REUSEADDR", "SO_REUSEPORT")) & reuse_of(t)):
            raise Refuse("EADDRINUSE", "O-6", "B3", "B4", *(["O-8"] if t.state == "time_wait" else []))
        return ["O-6", "O-12", "B3", "B4"]

    def shutdown_unconnected(self, w: World, s: Sock, how: str) -> Answer:
        w.unsure(s)  # SHUT_RD flushes, SHUT_WR marks the socket: later steps on it are not modelled
        return Answer.of("ok", "O-10")

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        return 60_000, "O-8"

    def receivers(self, w: World, dest: Dest, proto: str) -> tuple[list[Sock], list[str]]:
        family = "inet" if dest.family == "inet" and not dest.addr.v6 else "inet6"
        pcbs = [p for p in self.unconnected(w, dest, proto) if p.family == family]
        addr_of, target = (laddr4, dest.addr.v4) if family == "inet" else (laddr6, dest.addr.ip)
        found = newest_exact_then(pcbs, addr_of, target, "newest")
        return ([found] if found else []), ["O-9"]
