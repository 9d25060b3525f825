"""Linux, one version at a time: the ops of the op table as net/ipv4 and net/ipv6 answer them.

Versions: before 3.9 (no SO_REUSEPORT), 3.9 (SO_REUSEPORT), 4.5/4.6 (reuseport groups), 4.20 (the
last tree read before 5.0's "prefer listeners bound to an address"), 6.1.0-6.1.4 (bhash2 bugs), 6.8
(the SO_REUSEADDR fast path gone). Where a version's code was not read and it would change an
answer, the answer is `unknown`. `code` is the kernel whose code runs: for local-legacy, Linux 3.8
*emulated* on this machine's kernel, every rule but SO_REUSEPORT's is the host's (rule Lemu).
"""
from __future__ import annotations

import ipaddress
from typing import Optional

from . import linux_rules  # noqa: F401  (registers the L rules)
from .addrs import Addr
from .kernel import Answer, Dest, Kernel, Unknown, linger_rst, linger_value, take_connection
from .linux_lookup import (Group, candidates, chain_insert, chain_remove, group_of, leave_group,
                           multicast_receivers)
from .linux_ports import View, overlap, tcp_pair_conflicts, udp_decides
from .shapes import distribution
from .world import BOUND, CONNECTED, LISTEN, NEW, TIME_WAIT, Port, Sock, World

ENOTSUP = "ENOTSUP"  # the agent names Linux's EOPNOTSUPP (95) so: CPython's errno.errorcode keeps that alias
TIME_WAIT_MS = 60_000  # TCP_TIMEWAIT_LEN; tcp_fin_timeout (60 s) for an orphan in FIN_WAIT2
BOOLEAN = ("SO_REUSEADDR", "SO_REUSEPORT", "SO_KEEPALIVE", "SO_BROADCAST")


class Linux(Kernel):
    family, name = "linux", "Linux"
    rule_socket = "L1"
    rule_close = "L33"

    def __init__(self, version: tuple[int, ...], code: Optional[tuple[int, ...]] = None) -> None:
        super().__init__(code or version)
        self.shown = version
        self.emulated = code is not None
        self.has_reuseport = not self.emulated and self.since(3, 9)
        label = ".".join(map(str, version))
        self.label = f"Linux {label}" + (f" emulated on {'.'.join(map(str, code))}" if code else "")

    def _emu(self, rules: list[str]) -> list[str]:
        return rules + ["Lemu"] if self.emulated else rules

    # -- options ---------------------------------------------------------------------------------
    def setsockopt(self, w: World, s: Sock, opt: str, value: int, level: Optional[str]) -> Answer:
        if level is not None:
            raise Unknown("setsockopt at a level other than the option's own is not modelled")
        if opt == "SO_REUSEPORT" and not self.has_reuseport:
            return Answer("ENOPROTOOPT", tuple(self._emu(["L3"])))
        if opt in BOOLEAN or opt in ("SO_LINGER", "SO_RCVBUF", "SO_SNDBUF"):
            s.opts[opt] = value
            if opt == "SO_REUSEPORT" and value:
                s.k["had_rp"] = True
            return Answer.of("ok", "L2" if opt == "SO_REUSEADDR" else "L3" if opt == "SO_REUSEPORT" else "L4")
        if opt == "TCP_NODELAY":
            if s.type != "tcp":
                return Answer.of("ENOPROTOOPT", "L8")
            s.opts[opt] = value
            return Answer.of("ok", "L4")
        if opt == "IPV6_V6ONLY":
            if s.family == "inet":
                return Answer.of("ENOPROTOOPT", "L7")
            if s.port is not None:
                return Answer.of("EINVAL", "L7")
            s.v6only = bool(value)
            return Answer.of("ok", "L7")
        if opt == "IP_ADD_MEMBERSHIP":
            if s.type == "tcp":
                return Answer.of("EPROTO", "L9")
            group = ipaddress.ip_address(str(value))
            if not group.is_multicast:
                return Answer.of("EINVAL", "L9")
            joined = s.k.setdefault("groups", set())
            if group in joined:
                return Answer.of("EADDRINUSE", "L9")
            joined.add(group)
            return Answer.of("ok", "L9")
        raise Unknown(f"setsockopt {opt} is not modelled for Linux")

    def getsockopt(self, w: World, s: Sock, opt: str, level: Optional[str]) -> Answer:
        if level is not None:
            raise Unknown("getsockopt at a level other than the option's own is not modelled")
        if opt == "SO_REUSEPORT" and not self.has_reuseport:
            return Answer("ENOPROTOOPT", tuple(self._emu(["L3"])))
        if opt in BOOLEAN:
            return Answer.of(f"value={int(s.on(opt))}", "L4")
        if opt == "SO_LINGER":
            return Answer.of(f"value={linger_value(s)}", "L6")
        if opt in ("SO_RCVBUF", "SO_SNDBUF"):
            raise Unknown("Linux doubles the value and caps it at the host's rmem_max/wmem_max (L5)", ["L5"])
        if opt == "TCP_NODELAY":
            if s.type != "tcp":
                return Answer.of(ENOTSUP if s.family == "inet" else "ENOPROTOOPT", "L8")
            return Answer.of(f"value={int(s.on(opt))}", "L4")
        if opt == "IPV6_V6ONLY":
            if s.family == "inet":
                return Answer.of(ENOTSUP, "L7")
            return Answer.of(f"value={int(s.v6only)}", "L4", "L7")
        raise Unknown(f"getsockopt {opt} is not modelled for Linux")

    # -- bind ------------------------------------------------------------------------------------
    def _address_check(self, s: Sock, addr: Addr, port: Port) -> Optional[str]:
        """__inet_bind / __inet6_bind's checks before the conflicts, in kernel order (L11, L12, L20)."""
        has_port = s.port is not None or s.state not in (NEW,)
        local = addr.wildcard or addr.wild4 or addr.loopback or (addr.v4 is not None and (addr.multicast or addr.broadcast))
        if s.family == "inet6":
            if addr.v6 and addr.mapped is None and addr.ip.is_multicast and s.type == "tcp":
                return "EINVAL"
            if self._privileged(s, port):
                return "EACCES"
            if has_port:
                return "EINVAL"
            if addr.mapped is not None and s.v6only:
                return "EINVAL"
            return None if local else "EADDRNOTAVAIL"
        if not local:
            return "EADDRNOTAVAIL"
        if self._privileged(s, port):
            return "EACCES"
        return "EINVAL" if has_port else None

    @staticmethod
    def _privileged(s: Sock, port: Port) -> bool:
        if not isinstance(port, int) or port == 0 or port >= 1024:
            return False
        if s.uid == "self":
            raise Unknown("a port below 1024: whether the invoking user may bind it is not known", ["L11"])
        return s.uid != 0

    def bind(self, w: World, s: Sock, addr: Addr, port: Port) -> Answer:
        refused = self._address_check(s, addr, port)
        if refused:
            return Answer.of(refused, "L11", "L20" if refused == "EINVAL" else "L12")
        if port == 0:
            return self._bound(w, s, addr, w.ephemeral_port(), explicit=False, rules=["L13"])
        view = View.of(s, addr)
        if s.type == "udp":
            conflict, rules = self._udp_conflict(w, s, view, port)
        else:
            conflict, rules = self._tcp_conflict(w, s, view, port, listening=False)
        if conflict:
            return Answer("EADDRINUSE", tuple(self._emu(rules)))
        return self._bound(w, s, addr, port, explicit=True, rules=rules)

    def _bound(self, w: World, s: Sock, addr: Addr, port: Port, explicit: bool, rules: list[str]) -> Answer:
        first = not any(o is not s for o in w.on_port(s.type, port))
        s.v6only = View.of(s, addr).v6only
        s.addr, s.port, s.explicit, s.state, s.seq = addr, port, explicit, BOUND, w.next_seq()
        if s.type == "udp":
            self._udp_hash(w, s)
        else:
            self._update_fast(w, s, first)
        return Answer("ok", tuple(self._emu(rules)))

    def _udp_conflict(self, w: World, s: Sock, view: View, port: Port) -> tuple[bool, list[str]]:
        owners = [o for o in w.on_port("udp", port) if o is not s]
        if len(owners) > 10:
            raise Unknown("more than 10 UDP sockets on the port: udp_lib_get_port switches to the address "
                          "slots (udp_lib_lport_inuse2), not modelled", ["L19"])
        pairwise, _ = udp_decides(s, view, owners, self.has_reuseport, first_decides=False)
        if self.since(4, 5) and self.before(6, 18, 44):
            first, _ = udp_decides(s, view, owners, self.has_reuseport, first_decides=True)
            if first != pairwise:
                raise Unknown("as read (6.18.24's udp_lib_lport_inuse) the newest overlapping socket decides alone; "
                              "6.18.44 refuses if any of them does (checked): this version is not settled", ["L19"])
        return pairwise, ["L14", "L19"]

    def _udp_hash(self, w: World, s: Sock) -> None:
        """udp_lib_get_port after a port is found: join a group (4.5+), enter the address slot."""
        if self.has_reuseport and s.on("SO_REUSEPORT") and self.since(4, 5):
            self._join(s, [o for o in w.on_port("udp", s.port) if o is not s])
        chain_insert(w, "uchain", s, tail=self._v6_tail(s))

    def _v6_tail(self, s: Sock) -> bool:
        return s.family == "inet6" and s.on("SO_REUSEPORT") and self.has_reuseport and self.since(4, 6)

    @staticmethod
    def _join(s: Sock, others: list[Sock]) -> None:
        """L36: the group of the first socket of the same family, IPV6_V6ONLY, uid and exact address
        (reuseport_add_sock gives that socket a group first if it has none)."""
        view = View.of(s)
        for o in others:
            if (o.on("SO_REUSEPORT") and o.family == s.family and o.uid == s.uid
                    and View.of(o).v6only == view.v6only and overlap(view, View.of(o), wild=False)):
                group = group_of(o) or o.k.setdefault("group", Group([o]))
                group.members.append(s)
                s.k["group"] = group
                return
        s.k["group"] = Group([s])

    # TCP: the conflict check, its fast paths, and the bucket's record (L15-L18, L21).
    def _tcp_conflict(self, w: World, s: Sock, view: View, port: Port, listening: bool) -> tuple[bool, list[str]]:
        owners = [o for o in w.on_port("tcp", port) if o is not s]
        rules = ["L14", "L15"] + (["L17"] if listening else [])
        if not owners:
            return False, rules
        self._bhash2_bugs(s, view, owners)
        full = self._pairwise(s, view, owners)
        if not full:
            return False, rules
        fast = self._fast_path(w, s, view, port, listening, owners)
        if fast is None:
            raise Unknown("the pairwise check refuses, and whether this version's fast path (tb->fastreuseport) "
                          "lets the bind through was not read (FASTREUSEPORT_STRICT: absent in 4.2.8, present "
                          "in 4.20)", rules + ["L18a"])
        return (False, rules + [fast]) if fast else (True, rules)

    def _pairwise(self, s: Sock, view: View, owners: list[Sock]) -> bool:
        tw_rp = True if self.since(4, 20) else (False if self.before(4, 3) else None)
        verdicts = [tcp_pair_conflicts(s, view, o, self.has_reuseport, tw_rp) for o in owners]
        if any(v is True for v in verdicts):
            return True
        if any(v is None for v in verdicts):
            raise Unknown("a TIME_WAIT entry's SO_REUSEPORT decides, and this version's inet_twsk_alloc was not "
                          "read (tw_reuseport: absent in 4.2.8, present in 4.20)", ["L34"])
        return False

    def _bhash2_bugs(self, s: Sock, view: View, owners: list[Sock]) -> None:
        """L21: 6.1.x/6.2.x bhash2 missed some owners of a specific-address bind."""
        if not (self.since(6, 1) and self.before(6, 3)) or view.addr.wildcard:
            return
        if self.before(6, 1, 5) and any(o.state == TIME_WAIT for o in owners):
            raise Unknown("6.1.0-6.1.4 did not see TIME_WAIT entries from a specific-address bind (L21)", ["L21"])
        if any(o.family == "inet6" and o.addr is not None and o.addr.wildcard for o in owners):
            raise Unknown("6.1.x/6.2.x before the dual-stack wildcard fix did not check a [::] owner (L21)", ["L21"])

    def _record(self, w: World, port: Port) -> dict:
        return w.k.setdefault("tb", {}).setdefault(port, {"fastreuse": False, "fastreuseport": None})

    def _reuseport_match(self, tb: dict, s: Sock, view: View) -> bool:
        """sk_reuseport_match: the port's record covers this socket (same uid, ANY or its address)."""
        kind = tb.get("fastreuseport")
        if not kind or not s.on("SO_REUSEPORT") or group_of(s) is not None or tb.get("fastuid") != s.uid:
            return False
        if kind == "any":
            return True
        return overlap(tb["fastview"], view, wild=True, wild2=False)

    def _fast_path(self, w: World, s: Sock, view: View, port: Port, listening: bool, owners: list[Sock]):
        """L18a/b/c: the rule by which inet_csk_get_port skips the conflict check; False where it does
        not; None where this version's fast path was not read and could."""
        tb = self._record(w, port)
        if self.before(6, 8) and tb["fastreuse"] and s.on("SO_REUSEADDR") and not listening:
            return "L18b"
        if not self.has_reuseport or not s.on("SO_REUSEPORT"):
            return False
        if self.before(4, 20):  # every version's fast path wants the same uid (tb->fastuid)
            same = [o for o in owners if o.uid == s.uid and (o.on("SO_REUSEPORT") or o.k.get("had_rp"))]
            return None if same else False
        if not self._reuseport_match(tb, s, view):
            return False
        return "L18c" if any(o.k.get("had_rp") and not o.on("SO_REUSEPORT") for o in owners) else "L18a"

    def _update_fast(self, w: World, s: Sock, first: bool) -> None:
        """inet_csk_update_fastreuse after a successful bind or listen."""
        tb = self._record(w, s.port)
        if first:
            tb.update(fastreuse=False, fastreuseport=None)
        reuse = s.on("SO_REUSEADDR") and s.state != LISTEN
        view = View.of(s)
        if first and self.before(6, 8):
            tb["fastreuse"] = reuse
            if s.on("SO_REUSEPORT") and self.has_reuseport:
                tb.update(fastreuseport="any", fastuid=s.uid, fastview=view)
            return
        if not reuse:
            tb["fastreuse"] = False
        if s.on("SO_REUSEPORT") and (self.has_reuseport or self.emulated):
            if not self._reuseport_match(tb, s, view):
                tb.update(fastreuseport="strict", fastuid=s.uid, fastview=view)
        else:
            tb["fastreuseport"] = None

    # -- listen ----------------------------------------------------------------------------------
    def listen(self, w: World, s: Sock, backlog: int) -> Answer:
        if s.type == "udp":
            return Answer.of(ENOTSUP, "L22")
        if s.state == LISTEN:
            s.k["backlog"] = backlog
            return Answer.of("ok", "L22")
        if s.k.get("refused"):
            return Answer.of("EINVAL", "L24b")
        if s.state != NEW and s.state != BOUND:
            return Answer.of("EINVAL", "L22")
        rules = ["L22"]
        if s.port is None:
            s.addr = s.addr or _any(s.family)
            s.port, s.explicit, s.seq = w.ephemeral_port(), False, w.next_seq()
            rules.append("L13")
        else:
            conflict, why = self._tcp_conflict(w, s, View.of(s), s.port, listening=True)
            if conflict:
                return Answer("EADDRINUSE", tuple(self._emu(why)))
            rules += why
        s.state, s.k["backlog"] = LISTEN, backlog
        if self.has_reuseport and s.on("SO_REUSEPORT") and self.since(4, 6):
            self._join(s, [o for o in w.k.get("lchain", []) if o.port == s.port and o.state == LISTEN])
        chain_insert(w, "lchain", s, tail=self._v6_tail(s))
        self._update_fast(w, s, first=False)
        return Answer("ok", tuple(self._emu(rules)))

    def _stop_listening(self, w: World, s: Sock) -> None:
        leave_group(s)
        chain_remove(w, "lchain", s)
        for child in list(s.queue):
            self._reset_queued(w, child)
        s.queue.clear()

    def _reset_queued(self, w: World, child: Sock) -> None:
        """A connection nobody accepted dies with its listener: its client sees a reset."""
        if child.k.get("maybe"):
            w.unsure(port=("tcp", child.port))
            if child.other is not None:
                w.unsure(child.other)
            return
        if child.other is not None:
            w.reset(child.other)
        w.remove(child)

    # -- connect, accept -------------------------------------------------------------------------
    def _refused(self, w: World, s: Sock) -> None:
        """L24b: after the RST the socket is closed but stays SS_CONNECTING; an autobound port is given
        back (tcp_set_state), an explicit one kept (SOCK_BINDPORT_LOCK)."""
        s.k["refused"] = True
        if not s.explicit:
            s.addr = s.port = None
        elif s.addr is not None and s.addr.wildcard:
            w.unsure(s)  # its receive address after the failed connect is not modelled
            w.unsure(port=("tcp", s.port))

    def connect(self, w: World, s: Sock, dest: Dest) -> Answer:
        if s.type == "udp":
            return self._udp_connect(w, s, dest)
        if s.k.pop("refused", None):
            w.unsure(s)  # tcp_disconnect runs: what the socket is then was not modelled
            return Answer.of("ECONNABORTED", "L24b")
        if s.state in (LISTEN, CONNECTED):
            return Answer.of("EISCONN", "L26")
        if s.family == "inet6" and s.v6only and dest.addr.mapped is not None:
            raise Unknown("a v4-mapped destination on an IPV6_V6ONLY socket is not modelled")
        local = self._source(s, dest)
        if s.port is not None and s.explicit:
            clash = [o for o in w.on_port("tcp", s.port) if o is not s and o.peer is not None
                     and _key(o.peer[0]) == _key(dest.addr) and o.peer[1] == dest.port
                     and o.addr is not None and _key(o.addr) == _key(local)]
            if any(o.state != TIME_WAIT for o in clash):
                return Answer.of("EADDRNOTAVAIL", "L25")
            for o in clash:
                w.remove(o)  # tcp_twsk_unique recycles the TIME_WAIT entry
        if s.port is not None and s.addr is not None and _key(local) == _key(dest.addr) and s.port == dest.port:
            raise Unknown("a connection to its own address and port (TCP simultaneous open) is not modelled")
        found, rules = candidates(self, w, dest, udp=False)
        if not found:
            self._refused(w, s)
            return Answer.of("ECONNREFUSED", "L24", *rules)
        if any(len(L.queue) > L.k.get("backlog", 16) for L in found):
            raise Unknown("the listener's accept queue is full (L23): the SYN is dropped and retried", ["L23"])
        if s.port is None:
            s.port, s.explicit, s.seq = w.ephemeral_port(), False, w.next_seq()
            rules = ["L13"] + rules
        s.addr, s.state, s.peer = local, CONNECTED, (dest.addr, dest.port)
        listener = found[0]
        child = w.new_sock(name=None, actor=listener.actor, uid=listener.uid, type="tcp", family=listener.family,
                           v6only=listener.v6only, opts=dict(listener.opts), addr=_as_seen(dest, listener),
                           port=listener.port, explicit=True, state=CONNECTED, peer=(local, s.port),
                           seq=w.next_seq(), other=s)
        s.other = child
        if len(found) > 1:
            child.k["maybe"] = list(found)
        for L in found:
            L.queue.append(child)
        child.listener = listener if len(found) == 1 else None
        return Answer("ok", tuple(["L16"] + rules))

    def _source(self, s: Sock, dest: Dest) -> Addr:
        """The local address a connection from s to dest gets: its own, or the route's source (L27)."""
        if s.addr is not None and not s.addr.wildcard:
            if (s.addr.v4 is None) != (dest.addr.v4 is None):
                raise Unknown("a connect from an IPv4 (v4-mapped) address to an IPv6 one, or the reverse, is not "
                              "modelled (EAFNOSUPPORT, ENETUNREACH...)")
            if not s.addr.wild4:
                return s.addr
        if dest.addr.v4 is not None:
            src = ipaddress.IPv4Address("127.0.0.1") if dest.addr.v4.is_loopback else None
            if src is None:
                raise Unknown(f"the route's source address for {dest.addr} is not modelled")
            return Addr(ipaddress.IPv6Address(f"::ffff:{src}")) if s.family == "inet6" else Addr(src)
        if dest.addr.ip == ipaddress.IPv6Address("::1"):
            return Addr(dest.addr.ip)
        raise Unknown(f"the route's source address for {dest.addr} is not modelled")

    def _udp_connect(self, w: World, s: Sock, dest: Dest) -> Answer:
        if dest.addr.v4 is not None and (dest.addr.multicast or dest.addr.broadcast):
            raise Unknown("UDP connect to a multicast or broadcast address is not modelled")
        local = self._source(s, dest)
        rules = ["L27"]
        if s.port is None:
            s.port, s.explicit, s.seq = w.ephemeral_port(), False, w.next_seq()
            chain_insert(w, "uchain", s, tail=self._v6_tail(s))
            rules.append("L13")
        s.addr, s.state, s.peer = local, CONNECTED, (dest.addr, dest.port)
        return Answer("ok", tuple(rules))

    def accept(self, w: World, s: Sock, others: list[Sock]) -> tuple[Answer, Optional[Sock]]:
        if s.type == "udp":
            return Answer.of(ENOTSUP, "L31"), None
        if s.state != LISTEN:
            return Answer.of("EINVAL", "L31"), None
        listening = [s] + [o for o in others if o.type == "tcp" and o.state == LISTEN]
        child = take_connection(listening)
        rules = ("L31", "A10") if others else ("L31",)
        return Answer("ok" if child else "timeout", rules), child

    # -- data --------------------------------------------------------------------------------------
    def send(self, w: World, s: Sock, size: int) -> Answer:
        if s.type == "udp":
            if s.state != CONNECTED:
                return Answer.of("EDESTADDRREQ", "L30")
            raise Unknown("UDP send to a peer (and the ICMP errors it may bring) is not modelled")
        if s.state != CONNECTED:
            return Answer.of("EPIPE", "L29")
        other = s.other
        if other is None or other.state != CONNECTED or s.reset_in or "wr" in s.shut:
            raise Unknown("sending on a connection whose peer has gone is not modelled (RST, EPIPE)")
        other.unread += size
        return Answer.of("ok", "L29")

    def recv(self, w: World, s: Sock) -> Answer:
        if s.type == "udp":
            if s.unread:
                raise Unknown("reading queued datagrams is not modelled")
            return Answer.of("timeout", "L30")
        if s.state not in (CONNECTED,):
            return Answer.of("ENOTCONN", "L29")
        if s.reset_in:
            raise Unknown("recv after a reset (ECONNRESET once, then end of file) is not modelled")
        if s.unread:
            s.unread = 0
            return Answer.of("ok", "L29")
        return Answer.of("ok" if s.fin_in else "timeout", "L29")

    def sendto(self, w: World, s: Sock, dest: Dest, size: int) -> Answer:
        raise Unknown("sendto is not modelled for Linux")

    # -- shutdown, close ---------------------------------------------------------------------------
    def shutdown(self, w: World, s: Sock, how: str) -> Answer:
        if s.state in (NEW, BOUND):
            if s.k.get("refused"):
                w.unsure(s)  # inet_shutdown moves a connecting socket to SS_DISCONNECTING: not modelled further
            return Answer.of("ENOTCONN", "L32")
        if s.state == LISTEN:
            if how != "wr":
                self._stop_listening(w, s)
                s.state = BOUND
                if not s.explicit:
                    w.unsure(s)  # an autobound port after tcp_disconnect is not modelled
            return Answer.of("ok", "L32")
        w.unsure(s)
        if s.port is not None:
            w.unsure(port=(s.type, s.port))
        return Answer.of("ok", "L32")

    def close(self, w: World, s: Sock) -> Answer:
        if s.type == "udp" or s.state in (NEW, BOUND):
            if s.type == "udp":
                leave_group(s)
                chain_remove(w, "uchain", s)
            w.remove(s)
            return Answer.of("ok", "L33")
        if s.state == LISTEN:
            self._stop_listening(w, s)
            w.remove(s)
            return Answer.of("ok", "L33")
        return self._close_connection(w, s)

    def _close_connection(self, w: World, s: Sock) -> Answer:
        """L33: with unread data or SO_LINGER (1, 0) an RST; else FIN (the kernel base's state machine)."""
        other = s.other
        if s.k.get("maybe") or (other is not None and other.k.get("maybe")):
            raise Unknown("closing a connection whose listener is not known")
        return self.close_connection(w, s, rst=s.unread > 0 or linger_rst(s))

    def orphan_expires(self, w: World) -> Optional[int]:
        return w.clock + TIME_WAIT_MS  # tcp_fin_timeout: an orphan in FIN_WAIT2 lasts as long as TIME_WAIT

    def time_wait_ms(self, s: Sock) -> tuple[Optional[int], str]:
        return TIME_WAIT_MS, "L34"

    # -- distribute --------------------------------------------------------------------------------
    def distribute(self, w: World, dest: Dest, over: list[Optional[Sock]], count: int, type_: str) -> Answer:
        udp = type_ == "udp"
        if udp and dest.addr.multicast:
            found, rules = multicast_receivers(w, dest)
            return distribution(w, found, over, count, rules, every=True)
        if dest.addr.multicast or dest.addr.broadcast:
            raise Unknown("TCP to a multicast or broadcast address is not modelled")
        found, rules = candidates(self, w, dest, udp=udp)
        return distribution(w, found, over, count, rules + (["L24"] if not udp and not found else []))


def _key(addr: Addr) -> object:
    """An address as a four-tuple compares it: IPv4 whether plain or v4-mapped."""
    return addr.v4 if addr.v4 is not None else addr.ip


def _any(family: str) -> Addr:
    return Addr(ipaddress.IPv6Address("::") if family == "inet6" else ipaddress.IPv4Address("0.0.0.0"))


def _as_seen(dest: Dest, listener: Sock) -> Addr:
    """An accepted connection's local address: the destination, v4-mapped for an AF_INET6 listener."""
    if listener.family == "inet6" and dest.addr.v4 is not None and not dest.addr.v6:
        return Addr(ipaddress.IPv6Address(f"::ffff:{dest.addr.v4}"))
    return dest.addr
