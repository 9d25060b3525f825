"""DragonFly BSD (model-bsd.md section 6, read only): in_pcbbind's 4.4BSD checks with FreeBSD 11's uid
check, no IPv4-mapped addresses, SO_REUSEPORT listeners balanced by a local group. Only in_pcb.c was
read: TIME_WAIT, shutdown, UDP delivery and most option read-backs are unknown here.
"""
from __future__ import annotations

from typing import Optional

from .addrs import Addr
from .bsd import BSD, Refuse, laddr4, laddr6, lookup_local, reuse_of
from .kernel import Answer, Dest, Unknown
from .world import LISTEN, Port, Sock, World


class DragonFly(BSD):
    family, name = "dragonfly", "DragonFly"
    enotsup = "ENOTSUP"
    rule_getsockopt = "D-11"

    def set_v6only(self, s: Sock, value: int) -> Answer:
        if self.before(6, 4):
            raise Unknown("IPV6_V6ONLY before DragonFly 6.4 was not read (D-4)")
        s.v6only = True
        return Answer.of("ok", "D-4")

    def get_v6only(self, s: Sock) -> Answer:
        if self.before(6, 4):
            raise Unknown("IPV6_V6ONLY before DragonFly 6.4 was not read (D-4)")
        return Answer.of("value=1", "D-4")

    def conflicts(self, w: World, s: Sock, addr: Addr, port: Port, others: list[Sock]) -> list[str]:
        if addr.mapped is not None:
            raise Unknown("DragonFly removed v4-mapped addresses: what binding one returns was not read (D-4)")
        same = [p for p in others if p.family == s.family]  # D-4: IPv4 and IPv6 never meet
        addr_of, laddr = (laddr4, addr.v4) if s.family == "inet" else (laddr6, addr.ip)
        if not addr.multicast and self.uid_checked(s, others):
            t = lookup_local(same, addr_of, laddr, True)
            if t is not None and (not laddr.is_unspecified or not addr_of(t).is_unspecified or not t.on("SO_REUSEPORT")) \
                    and self.uid_differs(s, t):
                raise Refuse("EADDRINUSE", "D-1")
        t = lookup_local(same, addr_of, laddr, not reuse_of(s))
        if t is not None and not (self.trigger(s, addr, ("SO_REUSEADDR",)) & reuse_of(t)):
            if t.state == "time_wait":
                raise Unknown("DragonFly's TIME_WAIT handling at bind was not read")
            raise Refuse("EADDRINUSE", "D-1", "B3", "B4")
        return ["D-1", "D-4", "B3", "B4"]

    def listen(self, w: World, s: Sock, backlog: int) -> Answer:
        if s.type == "udp":
            raise Unknown("listen on UDP was not read for DragonFly")
        if s.state not in ("new", "bound", LISTEN):
            raise Unknown("listen on a connected socket was not read for DragonFly")
        if s.port is None:
            raise Unknown("listen on an unbound socket was not read for DragonFly")
        s.state, s.k["backlog"] = LISTEN, backlog
        return Answer.of("ok", "B4")

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        return None, ""

    def receivers(self, w: World, dest: Dest, proto: str) -> tuple[list[Sock], list[str]]:
        """D-3: the SO_REUSEPORT listeners of one address spread; anything else was not read."""
        if proto != "tcp":
            raise Unknown("DragonFly's UDP delivery was not read")
        family = "inet" if dest.family == "inet" and not dest.addr.v6 else "inet6"
        pcbs = [p for p in self.unconnected(w, dest, proto) if p.family == family and p.state == LISTEN]
        addr_of, target = (laddr4, dest.addr.v4) if family == "inet" else (laddr6, dest.addr.ip)
        exact = [p for p in pcbs if addr_of(p) == target]
        chosen = exact or [p for p in pcbs if addr_of(p).is_unspecified]
        if len(chosen) == 1 or (chosen and all(p.on("SO_REUSEPORT") for p in chosen)):
            return chosen, ["D-3"]
        if not chosen:
            raise Unknown("what DragonFly answers a SYN no listener takes was not read (bound-only sockets are not "
                          "in its wildcard hash)")
        raise Unknown("several DragonFly listeners of one address without SO_REUSEPORT: the lookup was not read")
