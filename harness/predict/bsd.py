"""The 4.4BSD machinery every BSD shares (model-bsd.md sections 0-1): PCBs, the bind-time lookup, the
receive-time lookup's shapes, connections and TIME_WAIT, options read back as flag bits.

Each family's module (freebsd.py, darwin.py, openbsd.py, netbsd.py, dragonfly.py) subclasses `BSD`
and says what differs: its bind checks (`conflicts`), who receives (`receivers`), its errno
spelling, its defaults, its TIME_WAIT. Where a family's sources were not read for an op, the
method here raises Unknown rather than assume the family behaves like another.
"""
from __future__ import annotations

import ipaddress
from typing import Callable, Optional

from . import bsd_rules  # noqa: F401  (registers the B/F/X/O/N/D rules)
from .addrs import IP, Addr
from .kernel import Answer, Dest, Kernel, Unknown, linger_rst, linger_value, take_connection
from .shapes import distribution
from .world import BOUND, CONNECTED, LISTEN, NEW, ORPHAN, TIME_WAIT, Port, Sock, World

REUSE = ("SO_REUSEADDR", "SO_REUSEPORT", "SO_REUSEPORT_LB")
FLAG_BITS = {"SO_REUSEADDR": 0x4, "SO_KEEPALIVE": 0x8, "SO_BROADCAST": 0x20, "SO_REUSEPORT": 0x200,
             "SO_REUSEPORT_LB": 0x10000}
ANY4 = ipaddress.IPv4Address("0.0.0.0")
ANY6 = ipaddress.IPv6Address("::")
LOCAL4 = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv4Address("127.0.0.2"))  # lo0 on the harness's machines


# -- what the BSD code reads of a PCB ------------------------------------------------------------
def vflags(p: Sock) -> frozenset[str]:
    """INP_IPV4 / INP_IPV6 of a bound PCB: AF_INET, or AF_INET6 bound to a v4-mapped address (IPv4);
    AF_INET6 on :: without IPV6_V6ONLY (both); any other AF_INET6 (IPv6)."""
    if p.family == "inet" or (p.addr is not None and p.addr.mapped is not None):
        return frozenset("4")
    if p.addr is not None and p.addr.wildcard and not p.v6only:
        return frozenset("46")
    return frozenset("6")


def laddr4(p: Sock) -> Optional[ipaddress.IPv4Address]:
    if "4" not in vflags(p):
        return None
    return p.addr.v4 if p.addr.v4 is not None else ANY4


def laddr6(p: Sock) -> Optional[ipaddress.IPv6Address]:
    return p.addr.ip if "6" in vflags(p) else None


def connected(p: Sock) -> bool:
    """Has a foreign address (a connection, an orphan closing, a TIME_WAIT entry)."""
    return p.state in (CONNECTED, ORPHAN, TIME_WAIT)


def reuse_of(p: Sock) -> set[str]:
    return {o for o in REUSE if p.on(o)}


def lookup_local(pcbs: list[Sock], addr_of: Callable[[Sock], Optional[IP]], laddr: IP, wild: bool,
                 extra: Callable[[Sock], int] = lambda p: 0, limit: int = 3) -> Optional[Sock]:
    """in_pcblookup_local (rule B3): exact and unconnected without `wild`; else the lowest cost
    (a foreign address +1, one of the two addresses wildcard +1, plus `extra`), ties to the newest."""
    best, best_cost = None, limit
    for p in pcbs:  # newest first
        pa = addr_of(p)
        if pa is None:
            continue
        if not wild:
            if not connected(p) and pa == laddr:
                return p
            continue
        cost = int(connected(p))
        if not pa.is_unspecified:
            if laddr.is_unspecified:
                cost += 1
            elif pa != laddr:
                continue
        elif not laddr.is_unspecified:
            cost += 1
        cost += extra(p)
        if cost < best_cost:
            best, best_cost = p, cost
            if cost == 0:
                break
    return best


def newest_exact_then(pcbs: list[Sock], addr_of: Callable[[Sock], Optional[IP]], dest: IP,
                      wildcard: str) -> Optional[Sock]:
    """The receive lookups' common shape: the newest PCB bound to exactly `dest`, else among the
    wildcard ones the `newest` or the `oldest`."""
    exact = [p for p in pcbs if addr_of(p) == dest]
    if exact:
        return exact[0]
    wild = [p for p in pcbs if addr_of(p) is not None and addr_of(p).is_unspecified]
    if not wild:
        return None
    return wild[0] if wildcard == "newest" else wild[-1]


def hash_locked_lookup(pcbs: list[Sock], dest: "Dest") -> tuple[list[Sock], Callable[[Sock], Optional[IP]], IP]:
    """in_pcblookup_hash_locked as FreeBSD 11-13 and XNU have it: the newest PCB bound to exactly the
    destination, else the last wildcard one in the chain (the oldest), an AF_INET wildcard before a
    dual-stack one for IPv4. Also the address reader and target it used, for the caller's groups."""
    v4 = dest.family == "inet"
    addr_of, target = (laddr4, dest.addr.v4) if v4 else (laddr6, dest.addr.ip)
    exact = [p for p in pcbs if addr_of(p) == target]
    if exact:
        return [exact[0]], addr_of, target
    wild = [p for p in pcbs if addr_of(p) is not None and addr_of(p).is_unspecified]
    plain = [p for p in wild if not (v4 and p.family == "inet6")]  # INP_IPV6PROTO: an AF_INET6 socket
    return (plain or wild)[-1:], addr_of, target


class Refuse(Exception):
    """A check that refuses the bind: its errno and the rules that decided."""

    def __init__(self, errno: str, *rules: str) -> None:
        super().__init__(errno)
        self.errno = errno
        self.rules = rules


class BSD(Kernel):
    enotsup = "EOPNOTSUPP"  # how the agent names the kernel's EOPNOTSUPP (rule A3)
    v6only_default_value = True
    flag_readback = True  # getsockopt returns the flag bit (NetBSD: 1)
    rule_getsockopt = "B11"
    rule_listen = ""  # the family's listen rule (UDP EOPNOTSUPP, connected EINVAL)
    rule_shutdown = ""  # the family's shutdown rule; "" if not read
    rule_refused_listener = ""  # connect on a listening socket: EOPNOTSUPP; "" if not read
    bound_only_syn = ""  # a SYN whose PCB only is bound: "refused" (RST) or "timeout" (dropped); "" not read
    rule_bound_only = ""
    rule_multicast = ""
    rule_v6only = ""  # IPV6_V6ONLY set before bind, EINVAL after, read back 0/1; "" not read
    rule_privileged = ""  # a port below 1024 without privilege: EACCES; "" not read
    privileged_before = True  # checked before the conflicts (OpenBSD: after)

    def v6only_default(self) -> bool:
        return self.v6only_default_value

    # -- options -------------------------------------------------------------------------------
    def setsockopt(self, w: World, s: Sock, opt: str, value: int, level: Optional[str]) -> Answer:
        if level is not None:
            raise Unknown("setsockopt at a level other than the option's own is not modelled")
        refused = self.sockopt_refused(s, opt, value)
        if refused:
            return refused
        if opt in FLAG_BITS or opt in ("SO_LINGER", "SO_RCVBUF", "SO_SNDBUF") or (opt == "TCP_NODELAY" and s.type == "tcp"):
            if opt in ("SO_RCVBUF", "SO_SNDBUF") and value < 1:
                raise Unknown("SO_RCVBUF/SO_SNDBUF below 1 (EINVAL on FreeBSD) is not modelled for every BSD")
            s.opts[opt] = value
            return Answer.of("ok", "B11")
        if opt == "IPV6_V6ONLY" and s.family == "inet6":
            return self.set_v6only(s, value)
        if opt == "IP_ADD_MEMBERSHIP" and s.type == "udp":
            s.k.setdefault("groups", set()).add(ipaddress.ip_address(str(value)))
            return Answer.of("ok", self.rule_multicast) if self.rule_multicast else Answer.of("ok")
        raise Unknown(f"setsockopt {opt} on a {s.type}/{s.family} socket is not modelled for {self.label}")

    def sockopt_refused(self, s: Sock, opt: str, value: int) -> Optional[Answer]:
        """A family's own refusals before the option is stored (XNU after shutdown, FreeBSD 11's LB)."""
        return None

    def set_v6only(self, s: Sock, value: int) -> Answer:
        if not self.rule_v6only:
            raise Unknown(f"IPV6_V6ONLY is not modelled for {self.label}")
        if s.port is not None:
            return Answer.of("EINVAL", self.rule_v6only)
        s.v6only = bool(value)
        return Answer.of("ok", self.rule_v6only)

    def getsockopt(self, w: World, s: Sock, opt: str, level: Optional[str]) -> Answer:
        if level is not None:
            raise Unknown("getsockopt at a level other than the option's own is not modelled")
        if opt in FLAG_BITS:
            on = s.on(opt)
            return Answer.of(f"value={(FLAG_BITS[opt] if self.flag_readback else 1) if on else 0}", self.rule_getsockopt)
        if opt == "TCP_NODELAY" and s.type == "tcp":
            return Answer.of(f"value={4 if s.on(opt) else 0}", self.rule_getsockopt)
        if opt == "SO_LINGER":
            return Answer.of(f"value={linger_value(s)}", self.rule_getsockopt)
        if opt in ("SO_RCVBUF", "SO_SNDBUF") and opt in s.opts and s.state in (NEW, BOUND):
            return Answer.of(f"value={s.opt(opt)}", self.rule_getsockopt)
        if opt == "IPV6_V6ONLY" and s.family == "inet6":
            return self.get_v6only(s)
        raise Unknown(f"getsockopt {opt} on a {s.type}/{s.family} socket is not modelled for {self.label}")

    def get_v6only(self, s: Sock) -> Answer:
        if not self.rule_v6only:
            raise Unknown(f"IPV6_V6ONLY is not modelled for {self.label}")
        return Answer.of(f"value={int(s.v6only)}", self.rule_v6only)

    # -- bind --------------------------------------------------------------------------------------
    def bind(self, w: World, s: Sock, addr: Addr, port: Port) -> Answer:
        if s.port is not None or s.state != NEW:
            return Answer.of("EINVAL", "B1")
        try:
            rules = list(self.address_check(s, addr))
            rules += self.privilege(s, port, before=True)
            if port == 0:
                port = w.ephemeral_port()
            else:
                rules += self.conflicts(w, s, addr, port, [p for p in w.on_port(s.type, port) if p is not s])
                rules += self.privilege(s, port, before=False)
        except Refuse as refused:
            return Answer(refused.errno, tuple(refused.rules))
        s.addr, s.port, s.explicit, s.state, s.seq = addr, port, True, BOUND, w.next_seq()
        self.bound(w, s)
        return Answer("ok", tuple(dict.fromkeys(rules)))

    def bound(self, w: World, s: Sock) -> None:
        """After a successful bind (FreeBSD: the SO_REUSEPORT_LB group)."""

    def address_check(self, s: Sock, addr: Addr) -> list[str]:
        """B2: an address of lo0 (127.0.0.1, 127.0.0.2, ::1), a wildcard, or (UDP) IPv4 multicast."""
        if s.family == "inet6" and addr.mapped is not None and s.v6only:
            raise Unknown(f"binding a v4-mapped address on an IPV6_V6ONLY socket is not modelled for {self.label}")
        if addr.wildcard or (addr.v4 is not None and addr.v4.is_unspecified):
            return []
        if addr.multicast:
            if s.type == "udp" and addr.v4 is not None:
                return []
            raise Unknown(f"binding a multicast address on {s.type}/{s.family} is not modelled for {self.label}")
        if addr.v4 is not None:
            if addr.v4 in LOCAL4:
                return []
            if addr.v4 == ipaddress.IPv4Address("255.255.255.255"):
                raise Unknown("binding the broadcast address is not modelled")
            raise Refuse("EADDRNOTAVAIL", "B2")
        if addr.ip == ipaddress.IPv6Address("::1"):
            return []
        raise Refuse("EADDRNOTAVAIL", "B2")

    def privilege(self, s: Sock, port: Port, before: bool) -> list[str]:
        """The family's check of ports below 1024, before or after the conflicts."""
        if not (isinstance(port, int) and 0 < port < 1024) or before != self.privileged_before:
            return []
        if not self.rule_privileged:
            raise Unknown(f"a port below 1024 is not modelled for {self.label}")
        if self.non_root(s):
            raise Refuse("EACCES", self.rule_privileged)
        return []

    def conflicts(self, w: World, s: Sock, addr: Addr, port: Port, others: list[Sock]) -> list[str]:
        raise Unknown(f"bind conflicts are not modelled for {self.label}")

    @staticmethod
    def uid_differs(s: Sock, t: Sock) -> bool:
        if "self" in (s.uid, t.uid) and s.uid != t.uid:
            raise Unknown("whether the invoking user is root decides the uid check")
        return s.uid != t.uid

    @staticmethod
    def non_root(s: Sock) -> bool:
        if s.uid == "self":
            raise Unknown("the uid check applies to non-root binders, and whether the invoking user is root is not known")
        return s.uid != 0

    def uid_checked(self, s: Sock, others: list[Sock]) -> bool:
        """Does the uid check ("port hijacking") run and can it refuse? Only for a non-root binder, and only
        if some PCB on the port belongs to another user."""
        return any(p.uid != s.uid for p in others) and self.non_root(s)

    @staticmethod
    def trigger(s: Sock, addr: Addr, on_multicast: tuple[str, ...], counts: tuple[str, ...] = ("SO_REUSEPORT",)) -> set[str]:
        """The options of `s` that count against the found PCB's (rule B4): its SO_REUSEPORT; on a
        multicast address, if it has one of `on_multicast`, SO_REUSEADDR and SO_REUSEPORT."""
        if addr.multicast and any(s.on(o) for o in on_multicast):
            return {"SO_REUSEADDR", "SO_REUSEPORT"}
        return {o for o in counts if s.on(o)}

    # -- listen, connect, accept -----------------------------------------------------------------
    def listen(self, w: World, s: Sock, backlog: int) -> Answer:
        if not self.rule_listen:
            raise Unknown(f"listen is not modelled for {self.label}")
        if s.type == "udp":
            return Answer.of(self.enotsup, self.rule_listen, "A3")
        if s.state not in (NEW, BOUND, LISTEN):
            return Answer.of("EINVAL", self.rule_listen)
        if s.port is None:
            s.addr = Addr(ANY6 if s.family == "inet6" else ANY4)
            s.port, s.explicit, s.seq = w.ephemeral_port(), False, w.next_seq()
        s.state, s.k["backlog"] = LISTEN, backlog
        self.listening(w, s)
        return Answer.of("ok", self.rule_listen, "B4")

    def listening(self, w: World, s: Sock) -> None:
        """After listen (DragonFly: the local group)."""

    def connect(self, w: World, s: Sock, dest: Dest) -> Answer:
        if s.type == "tcp" and s.state == LISTEN:
            if not self.rule_refused_listener:
                raise Unknown(f"connect on a listening socket is not modelled for {self.label}")
            return Answer.of(self.enotsup, self.rule_refused_listener, "A3")
        if s.type == "tcp" and s.state != NEW and s.state != BOUND:
            return Answer.of("EISCONN", "B5")
        if s.family == "inet6" and self.crosses_families(s, dest):
            return self.connect_across(w, s, dest)
        local = self.source(s, dest)
        rules = ["B10"]
        if s.port is not None:
            if any(p is not s and p.peer is not None and _key(p.peer[0]) == _key(dest.addr) and p.peer[1] == dest.port
                   and p.addr is not None and _key(p.addr) == _key(local) for p in w.on_port(s.type, s.port)):
                return Answer.of("EADDRINUSE", "B10")
        if s.type == "udp":
            if s.port is None:
                s.port, s.explicit, s.seq = w.ephemeral_port(), False, w.next_seq()
            s.addr, s.state, s.peer = local, CONNECTED, (dest.addr, dest.port)
            return Answer.of("ok", "B5", "B10")
        if s.port is not None and s.port == dest.port and _key(local) == _key(dest.addr):
            return self.connect_self(w, s, dest, local, rules)
        winner, why = self.receivers(w, dest, "tcp")
        rules += why
        if not winner:
            self.refused(w, s)
            return Answer("ECONNREFUSED", tuple(rules + ["B9"]))
        if len(winner) > 1:
            raise Unknown("the connection is hashed over a group: which socket gets it is not known", rules)
        listener = winner[0]
        if listener.state != LISTEN:
            return self.syn_to_bound(w, s, rules)
        if len(listener.queue) > listener.k.get("backlog", 16):
            raise Unknown("the listener's queue is full", rules)
        if s.port is None:
            s.port, s.explicit, s.seq = w.ephemeral_port(), False, w.next_seq()
        s.addr, s.state, s.peer = local, CONNECTED, (dest.addr, dest.port)
        seen = dest.addr if listener.family == "inet6" or dest.addr.v4 is None else Addr(dest.addr.v4)
        if listener.family == "inet6" and not dest.addr.v6:
            seen = Addr(ipaddress.IPv6Address(f"::ffff:{dest.addr.v4}"))
        child = w.new_sock(name=None, actor=listener.actor, uid=listener.uid, type="tcp", family=listener.family,
                           v6only=listener.v6only, opts=dict(listener.opts), addr=seen, port=listener.port,
                           explicit=True, state=CONNECTED, peer=(local, s.port), seq=w.next_seq(), other=s,
                           listener=listener)
        child.k["accepted"] = True
        s.other = child
        listener.queue.append(child)
        return Answer("ok", tuple(rules + ["B9"]))

    @staticmethod
    def crosses_families(s: Sock, dest: Dest) -> bool:
        """An AF_INET6 socket connecting across IPv4 and IPv6: to a v4-mapped address while IPV6_V6ONLY or
        bound to a native IPv6 address, or to an IPv6 address while bound to a v4-mapped one."""
        laddr = s.addr.ip if s.addr is not None else ANY6
        if dest.family == "inet":
            return s.v6only or not (laddr.is_unspecified or laddr.ipv4_mapped is not None)
        return laddr.ipv4_mapped is not None

    def connect_across(self, w: World, s: Sock, dest: Dest) -> Answer:
        raise Unknown(f"a connect between IPv4 (v4-mapped) and IPv6 addresses is not modelled for {self.label}")

    def connect_self(self, w: World, s: Sock, dest: Dest, local: Addr, rules: list[str]) -> Answer:
        """A TCP connect to the socket's own address and port: its SYN comes back to it (simultaneous open)."""
        raise Unknown(f"a connection to its own address and port (TCP simultaneous open) is not modelled for {self.label}",
                      rules)

    def refused(self, w: World, s: Sock) -> None:
        """What a refused connect (RST) leaves of the socket: where the family's code was not read for
        it, the socket and its port are unknown from then on."""
        w.unsure(s)
        if s.port is not None:
            w.unsure(port=(s.type, s.port))

    def syn_to_bound(self, w: World, s: Sock, rules: list[str]) -> Answer:
        """A SYN whose PCB is only bound: RST (ECONNREFUSED) or dropped (the agent's connect times out)."""
        if not self.bound_only_syn:
            raise Unknown(f"a SYN to a socket that is only bound is not modelled for {self.label}", rules)
        w.unsure(s)
        return Answer("ECONNREFUSED" if self.bound_only_syn == "refused" else "timeout",
                      tuple(rules + [self.rule_bound_only]))

    def source(self, s: Sock, dest: Dest) -> Addr:
        """The connection's local address: the socket's, or for a wildcard the destination 127.0.0.1/::1."""
        if s.addr is not None and not s.addr.wildcard and not (s.addr.v4 is not None and s.addr.v4.is_unspecified):
            return s.addr
        if dest.addr.v4 == LOCAL4[0] or dest.addr.ip == ipaddress.IPv6Address("::1"):
            return dest.addr if s.family == "inet6" or dest.addr.v4 is None else Addr(dest.addr.v4)
        raise Unknown(f"the source address the route gives for {dest.addr} is not modelled for {self.label}")

    def accept(self, w: World, s: Sock, others: list[Sock]) -> tuple[Answer, Optional[Sock]]:
        if s.type != "tcp" or s.state != LISTEN:
            return self.accept_refused(s), None
        child = take_connection([s] + [o for o in others if o.type == "tcp" and o.state == LISTEN])
        return Answer("ok" if child else "timeout", ("B6", "A10") if others else ("B6",)), child

    def accept_refused(self, s: Sock) -> Answer:
        """accept on a socket that does not listen (or a UDP one)."""
        raise Unknown(f"accept on a socket that does not listen is not modelled for {self.label}")

    def recv(self, w: World, s: Sock) -> Answer:
        if s.type != "tcp" or s.state != CONNECTED or s.reset_in:
            raise Unknown(f"recv on this socket is not modelled for {self.label}")
        if s.unread:
            s.unread = 0
            return Answer.of("ok", "B7")
        return Answer.of("ok" if s.fin_in else "timeout", "B7")

    def send(self, w: World, s: Sock, size: int) -> Answer:
        raise Unknown(f"send is not modelled for {self.label}")

    # -- shutdown, close, TIME_WAIT ----------------------------------------------------------------
    def shutdown(self, w: World, s: Sock, how: str) -> Answer:
        if s.state in (NEW, BOUND, LISTEN) or (s.type == "udp" and s.state != CONNECTED):
            return self.shutdown_unconnected(w, s, how)
        w.unsure(s)
        if s.port is not None:
            w.unsure(port=(s.type, s.port))
        raise Unknown(f"shutdown of a connection is not modelled for {self.label}")

    def shutdown_unconnected(self, w: World, s: Sock, how: str) -> Answer:
        raise Unknown(f"shutdown of an unconnected socket is not modelled for {self.label}")

    def close(self, w: World, s: Sock) -> Answer:
        if s.type == "udp" or s.state in (NEW, BOUND):
            self.leaving(w, s)
            w.remove(s)
            return Answer.of("ok", "B8")
        if s.state == LISTEN:
            self.leaving(w, s)
            for child in list(s.queue):
                if child.other is not None:
                    w.reset(child.other)
                w.remove(child)
            w.remove(s)
            return Answer.of("ok", "B8", "B12")
        if s.unread and s.other is not None and not s.reset_in:
            raise Unknown(f"closing with unread data is not modelled for {self.label}")
        return self.close_connection(w, s, rst=linger_rst(s))

    def leaving(self, w: World, s: Sock) -> None:
        """A socket leaves its groups (FreeBSD LB, DragonFly local group)."""

    # -- who receives --------------------------------------------------------------------------------
    def receivers(self, w: World, dest: Dest, proto: str) -> tuple[list[Sock], list[str]]:
        raise Unknown(f"who receives is not modelled for {self.label}")

    def unconnected(self, w: World, dest: Dest, proto: str) -> list[Sock]:
        return [p for p in w.on_port(proto, dest.port) if not connected(p) and p.state != NEW]

    def multicast(self, w: World, dest: Dest) -> tuple[list[Sock], list[str]]:
        raise Unknown(f"multicast delivery is not modelled for {self.label}")

    def walk_multicast(self, w: World, dest: Dest, membership: bool) -> list[Sock]:
        """udp_input's multicast branch: every UDP PCB on the port bound to the group or a wildcard,
        newest socket() first, each a copy, stopping after one without a reuse option."""
        if not membership and not any(dest.addr.v4 in p.k.get("groups", ()) for p in w.socks if p.state != "gone"):
            return []
        out = []
        for p in sorted((p for p in w.socks if p.type == "udp" and p.port == dest.port and p.state == BOUND),
                        key=lambda p: -p.id):
            a = laddr4(p)
            if a is None or a not in (ANY4, dest.addr.v4):
                continue
            if membership and dest.addr.v4 not in p.k.get("groups", ()):
                continue
            out.append(p)
            if not reuse_of(p):
                break
        return out

    def distribute(self, w: World, dest: Dest, over: list[tuple[str, Optional[Sock]]], count: int, type_: str) -> Answer:
        if type_ == "udp" and dest.addr.multicast:
            found, rules = self.multicast(w, dest)
            return distribution(w, found, over, count, rules, every=True)
        if dest.addr.multicast or dest.addr.broadcast:
            raise Unknown("TCP to a multicast or broadcast address is not modelled")
        found, rules = self.receivers(w, dest, type_)
        rules = rules + ["B9"]
        if type_ == "tcp":
            if len(found) == 1 and found[0].state != LISTEN:
                if not self.bound_only_syn:
                    raise Unknown(f"a SYN to a socket that is only bound is not modelled for {self.label}", rules)
                return distribution(w, [], over, count, rules + [self.rule_bound_only])
            if any(p.state != LISTEN for p in found):
                raise Unknown("part of a group is not listening: which connections are refused is not modelled", rules)
        return distribution(w, found, over, count, rules)


def _key(addr: Addr) -> object:
    return addr.v4 if addr.v4 is not None else addr.ip
