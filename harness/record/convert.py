"""Turn a program's traced system calls into the steps of one scenario.

Pure: events in, a `Recording` out. descriptors.py follows who holds each socket (fork,
threads, dup, exec, descriptors passed over UNIX sockets), so a socket keeps one name
whichever process uses it; this module keeps only what the scenario format can say
(IPv4/IPv6 TCP and UDP sockets, the options of ops.OPTIONS, addresses a scenario may touch)
and writes the rest as comments, counted in the summary. What Linux returned becomes each
step's `linux:` expectation; nothing is claimed for other systems (`default: any`).

A recording replays green on the kernel it came from, so:
- a close the kernel made implicitly (a process exited, close-on-exec, dup2 over it) is a step;
- a non-blocking connect replays as the program saw it: where the program read its outcome
  with getsockopt(SO_ERROR) the connect waits for completion and expects that outcome; where
  it connected again (haproxy's health checks), the first connect is `wait: false` (it returns
  EINPROGRESS) and the second expects what the program's second connect returned, so a
  pending error is read once, in order;
- an accept on a port that several listeners share (SO_REUSEPORT) takes the stand-in client's
  connection from whichever of them the kernel chose (`or:`), and the group gets a
  `distribute` step (groups.py) where what the kernel chooses is the question.
"""
from __future__ import annotations

import errno as errno_names
import ipaddress
from collections import Counter
from typing import Any, Callable, Optional, Union

from ..scenario import ops
from . import strace
from .descriptors import FORKS, Proc, Processes, UnixEnd
from .groups import with_distribute_steps
from .naming import PortNames, name_sockets, port_value, written
from .recording import (ANY, MAIN, MAX_COMMENTS, MAX_SOCKETS, MAX_STEPS, Comment, PortOf, Recording, Sock, Step,
                        Summary)
from .strace import Event, Exit, Syscall

__all__ = ["MAX_SOCKETS", "MAX_STEPS", "Recording", "Refused", "convert", "symbolic_address"]

FAMILIES = {"AF_INET": "inet", "AF_INET6": "inet6"}
TYPES = {"SOCK_STREAM": "tcp", "SOCK_DGRAM": "udp"}
PROTOCOLS = {"0", "IPPROTO_IP", "IPPROTO_TCP", "IPPROTO_UDP"}
LEVELS = {"SOL_SOCKET": "SOL_SOCKET", "SOL_IP": "IPPROTO_IP", "SOL_IPV6": "IPPROTO_IPV6", "SOL_TCP": "IPPROTO_TCP",
          "IPPROTO_IP": "IPPROTO_IP", "IPPROTO_IPV6": "IPPROTO_IPV6", "IPPROTO_TCP": "IPPROTO_TCP"}
HOW = {"SHUT_RD": "rd", "SHUT_WR": "wr", "SHUT_RDWR": "rdwr"}
STEERING = {"SO_ATTACH_REUSEPORT_CBPF", "SO_ATTACH_REUSEPORT_EBPF", "SO_INCOMING_CPU"}
SETUIDS = {"setuid": 0, "setreuid": 1, "setresuid": 1}  # call -> argument holding the effective uid
SETGIDS = {"setgid", "setregid", "setresgid", "setgroups"}
BLOCKED_MS = 100  # how long a replayed accept waits where the recorded one was still blocked
# Calls on a descriptor (the first argument): the recorder follows the object behind it.
ON_FD = {"bind", "connect", "listen", "accept", "accept4", "setsockopt", "getsockopt", "getsockname", "shutdown",
         "close", "dup", "dup2", "dup3", "fcntl", "sendmsg", "recvmsg"}
UNIX_CALLS = {"bind", "listen", "connect", "accept", "accept4", "sendmsg", "recvmsg"}
HANDLERS = {"socket": "_socket", "bind": "_bind", "connect": "_connect", "listen": "_listen", "accept": "_accept",
            "accept4": "_accept", "setsockopt": "_setsockopt", "getsockopt": "_getsockopt",
            "getsockname": "_getsockname", "shutdown": "_shutdown", "close": "_close", "dup": "_dup", "dup2": "_dup",
            "dup3": "_dup", "fcntl": "_fcntl", "execve": "_execve", "recvmsg": "_recvmsg",
            **{name: "_setuid" for name in SETUIDS}, **{name: "_setgid" for name in SETGIDS}}
CLIENT_NOTE = "stands in for the client that connected while the program was recorded"
# What a call on a connection answers once its peer closed or reset it; a stand-in client does neither.
PEER_GONE = {"ENOTCONN", "ECONNRESET", "EPIPE"}


class Refused(ValueError):
    """An address a scenario may not use (it would reach beyond this machine)."""


def convert(events: list[Event], uid: int, user_of: Callable[[int], Optional[str]]) -> Recording:
    """The scenario content of a trace: `uid` is the user the program started as, `user_of` names a uid."""
    return _Converter(events, uid, user_of).run()


class _Converter:
    def __init__(self, events: list[Event], uid: int, user_of: Callable[[int], Optional[str]]) -> None:
        self.events, self.uid, self.user_of = events, uid, user_of
        self.items: list[Union[Step, Comment]] = []
        self.summary = Summary()
        self.actors: dict[str, str] = {}
        self.procs = Processes(events, MAIN, self._released, self._inherited)
        self.socks: list[Sock] = []
        self.awaiting: dict[int, Step] = {}  # id(sock) -> its connect that returned EINPROGRESS
        self.connects: Counter = Counter()  # port -> the program's own connects not yet accepted
        self.steered: set[int] = set()  # ids of sockets whose reuseport choice a program or CPU steers
        self.clients = 0
        self.remarks = 0
        self.served = False

    def run(self) -> Recording:
        for event in self.events:
            if isinstance(event, Exit):
                self.procs.exit(event.pid)
            elif isinstance(event, Syscall):
                self._call(event)
        return self._finish()

    # -- what the bookkeeping tells ---------------------------------------------------------

    def _inherited(self, child: Proc, objects: list[Any]) -> None:
        kept = [s for s in objects if isinstance(s, Sock) and s.kept]
        for s in kept:
            s.inherited_by.append(child.pid)
        if kept:
            self.summary.inheriting.add(child.pid)
            self.comment(f"pid {child.pid} (forked by pid {child.forked_from}) inherits ", *_joined(kept))

    def _released(self, obj: Any, pid: int, why: str) -> None:
        """The kernel closed a socket nobody closed explicitly: a step, so a later bind of its port
        replays as it ran."""
        if isinstance(obj, Sock) and obj.kept and not obj.closed:
            obj.closed = True
            self.step("close", {"sock": obj}, "ok", f"closed {why}: nothing holds it any more")

    # -- output -------------------------------------------------------------------------

    def step(self, op: str, args: dict[str, Any], linux: Any, note: str = "") -> Optional[Step]:
        if self.summary.steps >= MAX_STEPS:
            self.summary.dropped_calls += 1
            return None
        made = Step(op, args, linux, note)
        self.items.append(made)
        self.summary.steps += 1
        return made

    def call_step(self, op: str, args: dict[str, Any], call: Syscall, note: str = "") -> Optional[Step]:
        sock = args.get("sock")
        if isinstance(sock, Sock) and sock.from_outside and call.errno in PEER_GONE:
            note = "; ".join(filter(None, [note, f"Linux said {call.errno}: the client had closed or reset the "
                                                 "connection, which the stand-in client does not do"]))
            return self.step(op, args, ANY, note)
        return self.step(op, args, _outcome(call), note)

    def comment(self, *parts: Union[str, Sock]) -> None:
        """A remark about the program (a fork, a user switch), not a call: bounded like the rest."""
        self.remarks += 1
        if self.remarks <= MAX_COMMENTS:
            self.items.append(Comment(parts))

    def unexpressed(self, call: Syscall, why: str) -> None:
        """A call the format cannot say: kept as a comment with the raw call, and counted."""
        if self.summary.comments < MAX_COMMENTS:
            self.items.append(Comment((f"{why}: {call.raw}",)))
        self.summary.comments += 1

    # -- calls ----------------------------------------------------------------------------

    def _call(self, call: Syscall) -> None:
        proc = self.procs.get(call.pid)
        if call.name in FORKS:
            if call.result is not None and call.result > 0:
                self.procs.get(call.result)
            return
        if call.name == "close_range":
            return self.procs.close_range(proc, call)
        if call.name == "socketpair":
            return self.procs.unix_call(proc, call, None)
        held = None
        if call.args and call.name in ON_FD:
            number = strace.fd(call.args[0])
            held = proc.table.fds.get(number) if number is not None else None
        if isinstance(held, UnixEnd) and call.name in UNIX_CALLS:
            self.procs.unix_call(proc, call, held)
            if call.name == "recvmsg":
                self._received(call, proc)
            return
        if isinstance(held, Sock):
            if not held.kept:
                self.summary.dropped_calls += 1
                if call.name == "close":
                    self.procs.drop(proc, strace.fd(call.args[0]), None)
                return
            if proc.group != held.creator:
                held.used_by.add(call.pid)
        if call.name in HANDLERS:
            getattr(self, HANDLERS[call.name])(call, proc, held)

    def _socket(self, call: Syscall, proc: Proc, _: Any) -> None:
        family = call.args[0] if call.args else "?"
        flags = call.args[1].split("|") if len(call.args) > 1 else []
        made = call.result is not None and call.result >= 0
        cloexec = "SOCK_CLOEXEC" in flags
        if family not in FAMILIES:
            self.summary.non_ip[family] += 1
            if made and family in ("AF_UNIX", "AF_LOCAL"):  # followed: it may carry sockets to other processes
                self.procs.install(proc, call.result, UnixEnd(flags[:1] == ["SOCK_STREAM"]), cloexec)
            elif made:
                self.procs.drop(proc, call.result, f"when pid {proc.pid} reused its descriptor")
            return
        kind = TYPES.get(flags[0]) if flags else None
        if kind is None or (len(call.args) > 2 and call.args[2] not in PROTOCOLS):
            return self.unexpressed(call, "a socket type the format has no word for")
        sock = Sock(FAMILIES[family], kind, proc.actor, proc.group, call.result if made else -1)
        if self._keep(sock):
            args = {"sock": sock, "type": kind, "family": sock.family}
            if proc.actor != MAIN:
                args["actor"] = proc.actor
            self.call_step("socket", args, call)
        if made:
            self.procs.install(proc, call.result, sock, cloexec)

    def _address(self, call: Syscall, sock: Sock) -> Optional[tuple[str, Any]]:
        """(address, port) as the format writes them; None (and a comment) where it cannot."""
        addr = strace.sockaddr(call.args[1]) if len(call.args) > 1 else None
        if addr is None or addr.family not in FAMILIES or addr.ip is None or addr.port is None:
            self.unexpressed(call, "an address the format has no word for")
            return None
        try:
            written_addr = symbolic_address(addr.ip)
        except Refused as exc:
            self.summary.refused.append(ops.hostport(addr.ip, addr.port))
            self.unexpressed(call, f"not replayed: {exc}")
            return None
        return written_addr, addr.port if addr.port or call.name != "bind" else PortOf(sock)

    def _bind(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        where = self._address(call, sock) if isinstance(sock, Sock) else None
        if where is None:
            return
        if call.result == 0:
            sock.bound = where
        note = "bound port 0: the kernel chose one; replayed as a free port" if isinstance(where[1], PortOf) else ""
        self.call_step("bind", {"sock": sock, "addr": where[0], "port": where[1]}, call,
                       self._by(call, proc, sock, note))

    def _connect(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        where = self._address(call, sock) if isinstance(sock, Sock) else None
        if where is None:
            return
        args = {"sock": sock, "addr": where[0], "port": where[1]}
        first = self.awaiting.get(id(sock))
        if first is not None:  # connecting again: how the program learns the outcome of its non-blocking one
            return self._connect_again(call, proc, sock, args, first)
        made = self.call_step("connect", args, call, self._by(call, proc, sock))
        if sock.type == "tcp" and call.errno in (None, "EINPROGRESS") and call.finished:
            self.connects[port_value(where[1])] += 1  # a connection the program will accept itself
        if made and call.errno == "EINPROGRESS":
            made.linux = ANY
            made.note = "; ".join(filter(None, ["non-blocking connect: its completion was not recorded", made.note]))
            self.awaiting[id(sock)] = made

    def _connect_again(self, call: Syscall, proc: Proc, sock: Sock, args: dict, first: Step) -> None:
        if call.errno == "EALREADY":  # polled before the handshake ended: whether it still runs is timing
            args["wait"] = False
            self.step("connect", args, ANY, self._by(call, proc, sock, "connecting again while the handshake ran "
                                                                       "(EALREADY): its answer is timing"))
            return
        del self.awaiting[id(sock)]
        first.args["wait"], first.linux = False, "EINPROGRESS"
        first.note = "; ".join(filter(None, ["non-blocking connect, replayed without waiting: the program read its "
                                             "outcome by connecting again", _without_completion(first.note)]))
        self.call_step("connect", args, call, self._by(call, proc, sock, "the outcome of the non-blocking connect "
                                                                          "before it (a pending error is read here)"))

    def _listen(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        if not isinstance(sock, Sock):
            return
        backlog = strace.int_value(call.args[1]) if len(call.args) > 1 else None
        if backlog is None:
            return self.unexpressed(call, "a backlog the format cannot write")
        written_backlog = min(max(backlog, 0), ops.OPS["listen"].fields["backlog"].maximum or 65535)
        note = f"backlog {backlog} written as {written_backlog}" if written_backlog != backlog else ""
        sock.listening = sock.listening or call.result == 0
        self.call_step("listen", {"sock": sock, "backlog": written_backlog}, call, self._by(call, proc, sock, note))

    def _accept(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        if not isinstance(sock, Sock):
            return
        args: dict[str, Any] = {"sock": sock}
        if not call.finished:
            args["timeout_ms"] = BLOCKED_MS
            self.step("accept", args, "timeout",
                      self._by(call, proc, sock, "blocked waiting for a connection when the recording stopped"))
            return
        if call.errno in ("EAGAIN", "EWOULDBLOCK"):
            args["timeout_ms"] = 0
            self.step("accept", args, "timeout", self._by(call, proc, sock, "non-blocking: no connection was waiting"))
            return
        if call.result is None or call.result < 0:
            self.call_step("accept", args, call, self._by(call, proc, sock))
            return
        self.served = True
        outside = self._client_for(sock, call)
        note = ""
        group = self._sharing(sock)
        if group:
            args["or"] = group
            note = ("listeners share this port: the kernel picks which one gets a connection, so the replay takes "
                    "it from whichever did")
        new = Sock(sock.family, sock.type, sock.actor, proc.group, call.result, accepted_from=sock,
                   from_outside=outside)
        if self._keep(new):
            args["as"] = new
        self.call_step("accept", args, call, self._by(call, proc, sock, note))
        self.procs.install(proc, call.result, new, "SOCK_CLOEXEC" in (call.args[3] if len(call.args) > 3 else ""))

    def _keep(self, sock: Sock) -> bool:
        """Whether the socket is written (the first MAX_SOCKETS are) or only counted."""
        sock.kept = len(self.socks) < MAX_SOCKETS
        if sock.kept:
            self.socks.append(sock)
            self.summary.sockets += 1
        else:
            self.summary.dropped_sockets += 1
        return sock.kept

    def _sharing(self, listener: Sock) -> list[Sock]:
        """The other listeners, open now and of the same actor, on the same address and port (SO_REUSEPORT)."""
        return [other for other in self.socks if other is not listener and other.listening and not other.closed
                and _where(other) == _where(listener) and other.actor == listener.actor]

    def _client_for(self, listener: Sock, call: Syscall) -> bool:
        """A connection from outside the program: a client socket stands in for it, so the replay has one to
        accept (True). One the program made itself (a connect to this port earlier) needs none."""
        if listener.bound is None:
            return False
        port = listener.bound[1]
        if self.connects[port_value(port)] > 0:
            self.connects[port_value(port)] -= 1
            return False
        self.clients += 1
        client = Sock(listener.family, "tcp", MAIN, call.pid, -1, name=f"client{self.clients}")
        addr = {"any": "loopback", "any6": "loopback6"}.get(listener.bound[0], listener.bound[0])
        self.step("socket", {"sock": client, "type": "tcp", "family": client.family}, ANY, CLIENT_NOTE)
        self.step("connect", {"sock": client, "addr": addr, "port": port}, ANY, CLIENT_NOTE)
        return True

    def _setsockopt(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        if isinstance(sock, Sock) and len(call.args) > 2 and call.args[2] in STEERING and call.result == 0:
            self.steered.add(id(sock))
        option = self._option(call, sock)
        if option is None:
            return
        value = _option_value(option, call.args[3] if len(call.args) > 3 else "")
        if value is None:
            return self.unexpressed(call, f"a value of {option} the format cannot write")
        if option == "SO_REUSEPORT" and call.result == 0:
            sock.reuseport = bool(value)
        self.call_step("setsockopt", {"sock": sock, "opt": option, "value": value}, call, self._by(call, proc, sock))

    def _getsockopt(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        if isinstance(sock, Sock) and len(call.args) > 2 and call.args[2] == "SO_ERROR" and id(sock) in self.awaiting:
            connect = self.awaiting.pop(id(sock))
            code = _errno_of(call.args[3] if len(call.args) > 3 else "")
            if code is not None and call.result == 0:
                connect.linux = "ok" if code == "0" else code
                connect.note = "; ".join(filter(None, ["non-blocking connect: its outcome as getsockopt(SO_ERROR) "
                                                       "read it once it completed", _without_completion(connect.note)]))
            return
        option = self._option(call, sock)
        if option is None:
            return
        made = self.call_step("getsockopt", {"sock": sock, "opt": option}, call, self._by(call, proc, sock))
        arg = call.args[3] if len(call.args) > 3 else ""
        value = strace.int_value(strace.fields(arg).get("l_linger", "")) if option == "SO_LINGER" else \
            _option_value(option, arg)
        if made and call.result == 0:
            made.linux = {"value": value} if isinstance(value, int) and not isinstance(value, bool) else ANY

    def _getsockname(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        """The port the kernel gave a port-0 bind, so later connects to it name the same symbol."""
        if not isinstance(sock, Sock) or call.result != 0 or len(call.args) < 2 or sock.local_port:
            return
        addr = strace.sockaddr(call.args[1])
        if addr and addr.port and sock.bound and isinstance(sock.bound[1], PortOf):
            sock.local_port = addr.port

    def _option(self, call: Syscall, sock: Optional[Sock]) -> Optional[str]:
        """The option's name where the format knows it at that level; otherwise a comment, and None."""
        if not isinstance(sock, Sock) or len(call.args) < 3:
            return None
        level, option = LEVELS.get(call.args[1]), call.args[2]
        if option not in ops.OPTIONS or ops.OPTIONS[option] != level:
            self.unexpressed(call, "an option the format does not know")
            return None
        return option

    def _shutdown(self, call: Syscall, proc: Proc, sock: Optional[Sock]) -> None:
        if not isinstance(sock, Sock):
            return
        how = HOW.get(call.args[1]) if len(call.args) > 1 else None
        if how is None:
            return self.unexpressed(call, "a shutdown the format cannot write")
        self.call_step("shutdown", {"sock": sock, "how": how}, call, self._by(call, proc, sock))

    def _close(self, call: Syscall, proc: Proc, held: Any) -> None:
        number = strace.fd(call.args[0]) if call.args else None
        if held is None or number is None:
            return
        if self.procs.drop(proc, number, None) is held:
            if isinstance(held, Sock):
                held.closed = call.result == 0
                self.call_step("close", {"sock": held}, call, self._by(call, proc, held))
        elif isinstance(held, Sock):
            self.comment(f"pid {call.pid} closes its copy of ", held, f" ({held.refs} other(s) still hold it)")

    def _dup(self, call: Syscall, proc: Proc, held: Any) -> None:
        if held is None or call.result is None or call.result < 0 or call.result == strace.fd(call.args[0]):
            return
        cloexec = "O_CLOEXEC" in " ".join(call.args[2:]) or "F_DUPFD_CLOEXEC" in " ".join(call.args[1:2])
        self.procs.install(proc, call.result, held, cloexec)

    def _fcntl(self, call: Syscall, proc: Proc, held: Any) -> None:
        command = call.args[1] if len(call.args) > 1 else ""
        if command.startswith("F_DUPFD"):
            self._dup(call, proc, held)
        elif command == "F_SETFD" and held is not None and call.result == 0:
            number = strace.fd(call.args[0])
            (proc.table.cloexec.add if "FD_CLOEXEC" in call.args[2] else proc.table.cloexec.discard)(number)

    def _execve(self, call: Syscall, proc: Proc, _: Any) -> None:
        if call.result == 0:
            self.procs.exec(proc)

    def _recvmsg(self, call: Syscall, proc: Proc, held: Any) -> None:
        """On an IP socket: data, not replayed, but the program served. (On a UNIX socket, see descriptors.)"""
        if isinstance(held, Sock) and call.result is not None and call.result > 0:
            self.served = True

    def _received(self, call: Syscall, proc: Proc) -> None:
        """Sockets that arrived over a UNIX socket (SCM_RIGHTS): this process's calls on them are recorded."""
        for fd in strace.passed_fds(call.args[1]) if len(call.args) > 1 else ():
            sock = proc.table.fds.get(fd)
            if isinstance(sock, Sock) and sock.kept and proc.group != sock.creator:
                sock.received_by.add(proc.group)
                self.summary.receiving.add(proc.group)
                self.comment(f"pid {call.pid} receives ", sock, f" over a UNIX socket (SCM_RIGHTS) as descriptor {fd}")

    def _setuid(self, call: Syscall, proc: Proc, _: Any) -> None:
        index = SETUIDS[call.name]
        uid = strace.int_value(call.args[index]) if len(call.args) > index else None
        if call.result != 0 or uid is None or uid == -1:
            return
        user = self.user_of(uid)
        if uid == self.uid:
            proc.actor = MAIN
        elif user is None:
            self.comment(f"pid {call.pid}: {call.raw}; uid {uid} has no user name, so its sockets stay with main")
            return
        else:
            proc.actor = user
            self.actors[user] = user
        self.comment(f"pid {call.pid} runs as user {user} from here on: {call.raw}")

    def _setgid(self, call: Syscall, proc: Proc, _: Any) -> None:
        if call.result == 0:
            self.comment(f"pid {call.pid} changes its groups: {call.raw} (an actor with `user:` takes that user's groups)")

    def _by(self, call: Syscall, proc: Proc, sock: Sock, note: str = "") -> str:
        """The note of a step another process than the socket's creator made: it inherited or received it."""
        if proc.group == sock.creator:
            return note
        how = "received this socket over a UNIX socket" if proc.group in sock.received_by else "inherited this socket"
        return "; ".join(filter(None, [note, f"by pid {call.pid}, which {how}"]))

    # -- naming, ports, groups: what needs the whole trace -----------------------------------

    def _finish(self) -> Recording:
        items, self.summary.groups = with_distribute_steps(self.items, self.socks, self.steered)
        self.summary.steps += self.summary.groups
        self.summary.unfollowed = self.procs.unfollowed
        ports = PortNames()
        ports.visit([item for item in items if isinstance(item, Step)])
        name_sockets(self.socks, ports)
        out: list[Union[dict, str]] = []
        for item in items:
            if isinstance(item, Comment):
                out.append("".join(p.name if isinstance(p, Sock) else p for p in item.parts))
            else:
                out.append(written(item, ports))
        for sock in self.socks:
            if sock.inherited_by and sock.kept:
                users = sorted(sock.used_by)
                used = f", and pid(s) {', '.join(map(str, users))} used it" if users else ""
                out.append(f"{sock.name}: inherited by forked pid(s) "
                           f"{', '.join(map(str, sock.inherited_by[:10]))}{used}")
        return Recording(dict(sorted(self.actors.items())), out, self.summary, self.served)


def _where(sock: Sock) -> tuple[str, Any]:
    """The address and port number a socket bound, to find listeners sharing one."""
    return (sock.bound[0], port_value(sock.bound[1])) if sock.bound else ("", id(sock))


def _without_completion(note: str) -> str:
    return "; ".join(p for p in note.split("; ") if p and p != "non-blocking connect: its completion was not recorded")


def _outcome(call: Syscall) -> Any:
    if not call.finished:
        return ANY
    return call.errno if call.result is not None and call.result < 0 and call.errno else "ok"


def _errno_of(arg: str) -> Optional[str]:
    """getsockopt(SO_ERROR)'s `[0]`, `[111]` or `[ECONNREFUSED]` as '0' or an errno name."""
    text = arg.strip("[] ")
    if text.isdigit():
        return "0" if text == "0" else errno_names.errorcode.get(int(text))
    return text if text.startswith("E") else None


def _option_value(option: str, arg: str) -> Union[int, str, None]:
    """The `value:` of an option as strace printed it; None where the format cannot write it."""
    if option == "SO_LINGER":  # {l_onoff=1, l_linger=5} -> 5 (seconds); {l_onoff=0, ...} -> false (off)
        parts = strace.fields(arg)
        if parts.get("l_onoff") == "0":
            return False
        return int(parts["l_linger"]) if parts.get("l_onoff") == "1" and parts.get("l_linger", "").isdigit() else None
    if option in ops.GROUP_OPTIONS:
        parts = strace.fields(arg)
        group = strace.sockaddr("{sa_family=AF_INET, " + parts.get("imr_multiaddr", "") + "}")
        if group and group.ip and "0.0.0.0" in parts.get("imr_interface", ""):
            return group.ip
        return None
    return strace.int_value(arg)


def symbolic_address(ip: str) -> str:
    """127.0.0.1 -> loopback, 0.0.0.0 -> any, ::ffff:127.0.0.1 -> loopback...; Refused beyond this machine."""
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        raise Refused(f"{ip!r} is not an IP address") from None
    plain = getattr(parsed, "ipv4_mapped", None) or parsed
    for name, literal in ops.ADDRESSES.items():
        if plain == ipaddress.ip_address(literal):
            return name
    if plain.is_loopback or plain.is_unspecified or plain.is_multicast:
        return str(plain)
    raise Refused(f"{ip} is beyond this machine; a scenario reaches only loopback, the unspecified "
                  f"addresses and multicast groups")


def _joined(socks: list[Sock]) -> list[Union[str, Sock]]:
    parts: list[Union[str, Sock]] = []
    for i, sock in enumerate(socks):
        parts += ([", "] if i else []) + [sock]
    return parts
