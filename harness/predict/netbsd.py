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

from ..scenario.ops import OPTIONS
from .addrs import Addr
from .bsd import ANY4, ANY6, BSD, FLAG_BITS, Refuse, connected, laddr4, lookup_local, newest_exact_then, reuse_of
from .kernel import Answer, Dest, Unknown
from .world import BOUND, CONNECTED, DROPPED, LISTEN, NEW, Port, Sock, World

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

    # -- a TCP socket whose PCB the kernel freed (N-18) -----------------------------------------------
    def refused(self, w: World, s: Sock) -> None:
        """tcp_drop -> tcp_close -> in_pcbdetach: the socket stays open with no PCB, in no table."""
        s.state, s.addr, s.port, s.peer, s.explicit = DROPPED, None, None, None, False

    def bind(self, w: World, s: Sock, addr: Addr, port: Port) -> Answer:
        return Answer.of("EINVAL", "N-18") if s.state == DROPPED else super().bind(w, s, addr, port)

    def connect(self, w: World, s: Sock, dest: Dest) -> Answer:
        """A dropped socket: EINVAL (N-18), or EOPNOTSUPP if it listened. A connected UDP socket is disconnected first (soconnect ->
        udp_disconnect / udp6_disconnect), which also clears its local address (N-21)."""
        if s.state == DROPPED:  # soconnect refuses a socket with SO_ACCEPTCONN before tcp_connect's EINVAL
            return Answer.of(self.enotsup, "N-12", "N-18", "A3") if s.k.get("listened") else Answer.of("EINVAL", "N-18")
        reconnect = s.type == "udp" and s.state == CONNECTED
        if reconnect:
            s.addr, s.state, s.peer = Addr(ANY6 if s.family == "inet6" else ANY4), BOUND, None
        answer = super().connect(w, s, dest)
        if s.family == "inet6" and dest.family == "inet" and s.addr is not None and s.addr.wildcard:
            s.addr = Addr(MAPPED_ANY)  # in6_pcbconnect made it v4-mapped before the connect failed
        return Answer(answer.outcome, answer.rules + (("N-21",) if reconnect else ()), answer.why)

    def connect_across(self, w: World, s: Sock, dest: Dest) -> Answer:
        """in6_pcbconnect's "sanity check for mapped address case": EINVAL, after tcp_connect has bound
        an unbound TCP socket (in6_pcbbind to :: and an ephemeral port)."""
        if s.type == "tcp" and s.port is None:
            s.addr, s.port, s.explicit, s.state, s.seq = Addr(ANY6), w.ephemeral_port(), False, BOUND, w.next_seq()
        return Answer.of("EINVAL", "N-20")

    def listen(self, w: World, s: Sock, backlog: int) -> Answer:
        """solisten refuses a connected socket (SS_ISCONNECTED: a connected UDP one too) before the
        protocol is asked; a dropped one is refused by tcp_listen."""
        if s.state == DROPPED:
            return Answer.of("EINVAL", "N-18")
        if s.state == CONNECTED:
            return Answer.of("EINVAL", "N-12")
        return super().listen(w, s, backlog)

    def setsockopt(self, w: World, s: Sock, opt: str, value: int, level: Optional[str]) -> Answer:
        """sosetopt: sosetopt1 stores a SOL_SOCKET option, then tcp_ctloutput, finding no PCB, says
        ECONNRESET, which sosetopt returns (for every level)."""
        if s.state != DROPPED or level is not None:
            return super().setsockopt(w, s, opt, value, level)
        if OPTIONS.get(opt, "SOL_SOCKET") == "SOL_SOCKET":
            if opt not in FLAG_BITS and opt != "SO_LINGER":
                raise Unknown(f"setsockopt {opt} on a socket without a PCB is not modelled for {self.label}")
            s.opts[opt] = value
        return Answer.of("ECONNRESET", "N-18")

    def getsockopt(self, w: World, s: Sock, opt: str, level: Optional[str]) -> Answer:
        """sogetopt answers SOL_SOCKET itself (sogetopt1); other levels go to tcp_ctloutput: ECONNRESET."""
        if s.state == DROPPED and level is None and OPTIONS.get(opt, "SOL_SOCKET") != "SOL_SOCKET":
            return Answer.of("ECONNRESET", "N-18")
        return super().getsockopt(w, s, opt, level)

    def shutdown(self, w: World, s: Sock, how: str) -> Answer:
        """soshutdown: SHUT_RD flushes the receive side (ok); SHUT_WR asks tcp_shutdown, which on a dropped
        socket finds no PCB (EINVAL), and on a TCP socket that is not connected closes the PCB
        (tcp_usrclosed: CLOSED or LISTEN -> tcp_close), dropping it (N-13, N-18)."""
        if s.state == DROPPED:
            return Answer.of("ok" if how == "rd" else "EINVAL", "N-18")
        if s.type == "tcp" and how != "rd" and s.state in (NEW, BOUND, LISTEN):
            if s.queue:
                raise Unknown("shutdown of a NetBSD listener with connections waiting to be accepted is not modelled")
            listened = s.state == LISTEN
            self.refused(w, s)
            s.k["listened"] = listened  # SO_ACCEPTCONN stays set
            return Answer.of("ok", "N-13", "N-18")
        return super().shutdown(w, s, how)

    def close(self, w: World, s: Sock) -> Answer:
        if s.state == DROPPED:
            w.remove(s)
            return Answer.of("ok", "B8")
        if s.k.get("self_connected"):  # a simultaneous close: what it leaves on the port is not modelled
            w.unsure(port=(s.type, s.port))
            w.remove(s)
            return Answer.of("ok", "B8")
        return super().close(w, s)

    def accept_refused(self, s: Sock) -> Answer:
        """do_sys_accept: a protocol without PR_LISTEN (UDP): EOPNOTSUPP; a socket without SO_ACCEPTCONN: EINVAL."""
        if s.k.get("listened"):
            raise Unknown("accept on a NetBSD listener whose PCB a shutdown closed: a blocking accept says ECONNABORTED, "
                          "the agent's non-blocking one waits out its timeout (docs/rump.md)")
        return Answer.of(self.enotsup, "N-19", "A3") if s.type == "udp" else Answer.of("EINVAL", "N-19")

    def connect_self(self, w: World, s: Sock, dest: Dest, local: Addr, rules: list[str]) -> Answer:
        """The SYN finds the socket itself by its four-tuple (in_pcblookup_connect) while it is in SYN_SENT:
        a SYN without ACK there is a simultaneous open (SYN_RECEIVED), and the connection is made. An
        IPv4 SYN tries the AF_INET tables first (tcp_input: in_pcblookup_bind before the v4-mapped
        in6_pcblookup_connect), so a dual-stack socket meets its own SYN only if no AF_INET PCB takes it."""
        if dest.family == "inet" and s.family == "inet6":
            inet = [p for p in self.unconnected(w, dest, "tcp") if p.family == "inet"]
            if newest_exact_then(inet, laddr4, dest.addr.v4, "newest") is not None:
                raise Unknown("an IPv4 SYN from a dual-stack socket to its own port meets an AF_INET PCB on the port "
                              "first: not modelled", rules)
        s.state, s.addr, s.peer, s.other = CONNECTED, local, (dest.addr, dest.port), None
        s.k["self_connected"] = True
        return Answer("ok", tuple(rules + ["N-17"]))

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
            raise Unknown("a NetBSD listener shut for reading (sorflush: SS_CANTRCVMORE) is not modelled")
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
            if found is None:  # in6_pcblookup_bind: the v4-mapped address, then ::ffff:0.0.0.0, then ::
                inet6 = [p for p in pcbs if p.family == "inet6" and not p.v6only]
                mapped = ipaddress.IPv6Address(f"::ffff:{dest.addr.v4}")
                found = next((p for want in (mapped, MAPPED_ANY, ANY6) for p in inet6 if p.addr.ip == want), None)
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
