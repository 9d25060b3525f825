"""Turn a program's traced system calls into the steps of one scenario.

Pure: events in, a `Recording` out. It follows descriptors through fork, threads,
dup and close-on-exec, so a socket keeps one name whichever process uses it; it
keeps only what the scenario format can say (IPv4/IPv6 TCP and UDP sockets, the
options of ops.OPTIONS, addresses a scenario may touch) and writes the rest as
comments, counted in the summary. What Linux returned becomes each step's
`linux:` expectation; nothing is claimed for other systems (`default: any`).
"""
from __future__ import annotations

import errno as errno_names
import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from ..scenario import ops
from . import strace
from .strace import Event, Exit, Syscall

MAIN = "main"
MAX_SOCKETS = 200  # sockets written; a program that opens thousands gets these and a count of the rest
MAX_STEPS = 2000
MAX_COMMENTS = 200
PORT_NAMES = "PQRSTUVWXYZ"
FAMILIES = {"AF_INET": "inet", "AF_INET6": "inet6"}
TYPES = {"SOCK_STREAM": "tcp", "SOCK_DGRAM": "udp"}
PROTOCOLS = {"0", "IPPROTO_IP", "IPPROTO_TCP", "IPPROTO_UDP"}
LEVELS = {"SOL_SOCKET": "SOL_SOCKET", "SOL_IP": "IPPROTO_IP", "SOL_IPV6": "IPPROTO_IPV6", "SOL_TCP": "IPPROTO_TCP",
          "IPPROTO_IP": "IPPROTO_IP", "IPPROTO_IPV6": "IPPROTO_IPV6", "IPPROTO_TCP": "IPPROTO_TCP"}
HOW = {"SHUT_RD": "rd", "SHUT_WR": "wr", "SHUT_RDWR": "rdwr"}
DATA_CALLS = {"send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg"}
FORKS = {"clone", "clone3", "fork", "vfork"}
SETUIDS = {"setuid": 0, "setreuid": 1, "setresuid": 1}  # call -> argument holding the effective uid
SETGIDS = {"setgid", "setregid", "setresgid", "setgroups"}
BLOCKED_MS = 100  # how long a replayed accept waits where the recorded one was still blocked
ANY = "any"
# Calls on a descriptor (the first argument): the recorder follows the socket behind it.
ON_SOCKET = {"bind", "connect", "listen", "accept", "accept4", "setsockopt", "getsockopt", "shutdown", "close",
             "dup", "dup2", "dup3", "fcntl", "getsockname", "getpeername"} | DATA_CALLS
HANDLERS = {"socket": "_socket", "bind": "_bind", "connect": "_connect", "listen": "_listen", "accept": "_accept",
            "accept4": "_accept", "setsockopt": "_setsockopt", "getsockopt": "_getsockopt", "shutdown": "_shutdown",
            "close": "_close", "dup": "_dup", "dup2": "_dup", "dup3": "_dup", "fcntl": "_fcntl", "execve": "_execve",
            **{name: "_setuid" for name in SETUIDS}, **{name: "_setgid" for name in SETGIDS}}


class Refused(ValueError):
    """An address a scenario may not use (it would reach beyond this machine)."""


@dataclass(eq=False)
class Sock:
    """One socket of the program, whichever descriptors and processes hold it."""

    family: str
    type: str
    actor: str
    creator: int
    fd: int
    kept: bool = True  # False: beyond MAX_SOCKETS, counted only
    name: str = ""
    local_port: Optional[int] = None  # as the kernel reported it (-yy), for port-0 binds and names
    bound: Optional[tuple[str, Any]] = None  # (address written, port written)
    listening: bool = False
    refs: int = 1
    inherited_by: list[int] = field(default_factory=list)
    used_by: set[int] = field(default_factory=set)
    accepted_from: Optional["Sock"] = None
    closed: bool = False
    unsure: bool = False  # accepted from a listener that shared its port: a replay may not get it


@dataclass(frozen=True)
class PortOf:
    """The port the kernel gave a socket that bound port 0, resolved once the whole trace is read."""

    sock: Sock


@dataclass
class Step:
    op: str
    args: dict[str, Any]  # values may be Sock or PortOf until `finish` names them
    linux: Any = "ok"  # the outcome Linux gave; ANY where nothing can be claimed
    note: str = ""


@dataclass
class Comment:
    parts: tuple[Union[str, Sock], ...]


@dataclass
class Summary:
    sockets: int = 0
    steps: int = 0
    comments: int = 0  # calls the format cannot express, kept as comments
    dropped_sockets: int = 0
    dropped_calls: int = 0
    data_calls: int = 0
    refused: list[str] = field(default_factory=list)
    non_ip: Counter = field(default_factory=Counter)
    inheriting: set[int] = field(default_factory=set)

    def line(self) -> str:
        parts = [f"{self.sockets} socket(s), {self.steps} step(s)",
                 f"{self.comments} call(s) the format cannot express kept as comments"]
        if self.dropped_sockets or self.dropped_calls:
            parts.append(f"{self.dropped_sockets} more socket(s) and {self.dropped_calls} more call(s) left out "
                         f"(a file holds at most {MAX_SOCKETS} sockets and {MAX_STEPS} steps)")
        if self.refused:
            parts.append(f"{len(self.refused)} address(es) outside loopback refused: {', '.join(self.refused[:5])}")
        if self.data_calls:
            parts.append(f"{self.data_calls} send/recv call(s) not replayed")
        if self.non_ip:
            parts.append(f"{sum(self.non_ip.values())} non-IP socket(s) left out "
                         f"({', '.join(sorted(self.non_ip))})")
        if self.inheriting:
            parts.append(f"{len(self.inheriting)} forked process(es) inherited sockets")
        return "; ".join(parts)


@dataclass
class Recording:
    actors: dict[str, str]  # actor name -> user
    items: list[Union[dict, str]]  # steps as the format writes them, and comment lines
    summary: Summary


@dataclass
class _Table:
    """A descriptor table; threads share one (CLONE_FILES), fork copies it."""

    fds: dict[int, Sock] = field(default_factory=dict)
    cloexec: set[int] = field(default_factory=set)
    members: int = 1


@dataclass
class _Proc:
    table: _Table
    actor: str


def convert(events: list[Event], uid: int, user_of: Callable[[int], Optional[str]]) -> Recording:
    """The scenario content of a trace: `uid` is the user the program started as, `user_of` names a uid."""
    return _Converter(events, uid, user_of).run()


class _Converter:
    def __init__(self, events: list[Event], uid: int, user_of: Callable[[int], Optional[str]]) -> None:
        self.events, self.uid, self.user_of = events, uid, user_of
        self.items: list[Union[Step, Comment]] = []
        self.summary = Summary()
        self.actors: dict[str, str] = {}
        self.procs: dict[int, _Proc] = {}
        self.parents = _parents(events)
        self.socks: list[Sock] = []
        self.awaiting: dict[int, Step] = {}  # id(sock) -> its connect that returned EINPROGRESS
        self.connects: Counter = Counter()  # port -> the program's own connects not yet accepted
        self.clients = 0
        self.remarks = 0

    def run(self) -> Recording:
        for event in self.events:
            if isinstance(event, Exit):
                self._exit(event.pid)
            elif isinstance(event, Syscall):
                self._call(event)
        return self._finish()

    # -- processes and descriptor tables ----------------------------------------------

    def proc(self, pid: int) -> _Proc:
        if pid not in self.procs:
            parent, shares = self.parents.get(pid, (None, False))
            if parent is None or parent == pid:
                self.procs[pid] = _Proc(_Table(), MAIN)
            else:
                self.procs[pid] = self._child(pid, parent, self.proc(parent), shares)
        return self.procs[pid]

    def _child(self, pid: int, ppid: int, parent: _Proc, shares: bool) -> _Proc:
        if shares:
            parent.table.members += 1
            return _Proc(parent.table, parent.actor)
        table = _Table(dict(parent.table.fds), set(parent.table.cloexec))
        inherited = [s for s in dict.fromkeys(table.fds.values())]
        for s in table.fds.values():
            s.refs += 1
        kept = [s for s in inherited if s.kept]
        for s in kept:
            s.inherited_by.append(pid)
        if kept:
            self.summary.inheriting.add(pid)
            self.comment(f"pid {pid} (forked by pid {ppid}) inherits ", *_joined(kept))
        return _Proc(table, parent.actor)

    def _exit(self, pid: int) -> None:
        proc = self.procs.pop(pid, None)
        if proc is None:
            return
        proc.table.members -= 1
        if proc.table.members == 0:
            for s in proc.table.fds.values():
                s.refs -= 1

    def _drop(self, table: _Table, fd: int) -> Optional[Sock]:
        """Forget a descriptor; the socket if that was its last reference anywhere."""
        table.cloexec.discard(fd)
        sock = table.fds.pop(fd, None)
        if sock is None:
            return None
        sock.refs -= 1
        return sock if sock.refs == 0 else None

    # -- output -------------------------------------------------------------------------

    def step(self, op: str, args: dict[str, Any], call: Syscall, note: str = "") -> Optional[Step]:
        if self.summary.steps >= MAX_STEPS:
            self.summary.dropped_calls += 1
            return None
        made = Step(op, args, _outcome(call), note)
        self.items.append(made)
        self.summary.steps += 1
        return made

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
        proc = self.proc(call.pid)
        if call.name in FORKS:
            if call.result is not None and call.result > 0:
                self.proc(call.result)
            return
        sock = None
        if call.args and call.name in ON_SOCKET:
            number = strace.fd(call.args[0])
            sock = proc.table.fds.get(number) if number is not None else None
        if sock is not None:
            port = strace.local_port(strace.annotation(call.args[0]))
            sock.local_port = sock.local_port or port
            if not sock.kept:
                self.summary.dropped_calls += 1
                if call.name == "close":
                    self._drop(proc.table, strace.fd(call.args[0]))
                return
            if call.pid != sock.creator:
                sock.used_by.add(call.pid)
        if call.name in DATA_CALLS:
            self.summary.data_calls += sock is not None
        elif call.name in HANDLERS:
            getattr(self, HANDLERS[call.name])(call, proc, sock)

    def _socket(self, call: Syscall, proc: _Proc, _: Optional[Sock]) -> None:
        family = call.args[0] if call.args else "?"
        flags = call.args[1].split("|") if len(call.args) > 1 else []
        if call.result is not None and call.result >= 0:
            self._drop(proc.table, call.result)
        if family not in FAMILIES:
            self.summary.non_ip[family] += 1
            return
        kind = TYPES.get(flags[0]) if flags else None
        if kind is None or (len(call.args) > 2 and call.args[2] not in PROTOCOLS):
            return self.unexpressed(call, "a socket type the format has no word for")
        sock = Sock(FAMILIES[family], kind, proc.actor, call.pid, call.result if call.result is not None else -1)
        if self._keep(sock):
            args = {"sock": sock, "type": kind, "family": sock.family}
            if proc.actor != MAIN:
                args["actor"] = proc.actor
            self.step("socket", args, call)
        if call.result is not None and call.result >= 0:
            proc.table.fds[call.result] = sock
            if "SOCK_CLOEXEC" in flags:
                proc.table.cloexec.add(call.result)

    def _address(self, call: Syscall, sock: Sock) -> Optional[tuple[str, Any]]:
        """(address, port) as the format writes them; None (and a comment) where it cannot."""
        addr = strace.sockaddr(call.args[1]) if len(call.args) > 1 else None
        if addr is None or addr.family not in FAMILIES or addr.ip is None or addr.port is None:
            self.unexpressed(call, "an address the format has no word for")
            return None
        try:
            written = symbolic_address(addr.ip)
        except Refused as exc:
            self.summary.refused.append(ops.hostport(addr.ip, addr.port))
            self.unexpressed(call, f"not replayed: {exc}")
            return None
        return written, addr.port if addr.port or call.name != "bind" else PortOf(sock)

    def _bind(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        where = self._address(call, sock) if sock else None
        if sock is None or where is None:
            return
        if call.result == 0:
            sock.bound = where
        note = "bound port 0: the kernel chose one; replayed as a free port" if isinstance(where[1], PortOf) else ""
        self.step("bind", {"sock": sock, "addr": where[0], "port": where[1]}, call, self._by(call, sock, note))

    def _connect(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        where = self._address(call, sock) if sock else None
        if sock is None or where is None:
            return
        made = self.step("connect", {"sock": sock, "addr": where[0], "port": where[1]}, call, self._by(call, sock))
        if sock.type == "tcp" and call.errno in (None, "EINPROGRESS") and call.finished:
            self.connects[_port_value(where[1])] += 1  # a connection the program will accept itself
        if made and call.errno == "EINPROGRESS":
            made.linux, made.note = ANY, "non-blocking connect: its completion was not recorded"
            self.awaiting[id(sock)] = made

    def _listen(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        if sock is None:
            return
        backlog = strace.int_value(call.args[1]) if len(call.args) > 1 else None
        if backlog is None:
            return self.unexpressed(call, "a backlog the format cannot write")
        written = min(max(backlog, 0), ops.OPS["listen"].fields["backlog"].maximum or 65535)
        note = f"backlog {backlog} written as {written}" if written != backlog else ""
        sock.listening = sock.listening or call.result == 0
        self.step("listen", {"sock": sock, "backlog": written}, call, self._by(call, sock, note))

    def _accept(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        if sock is None:
            return
        args: dict[str, Any] = {"sock": sock}
        if not call.finished:
            args["timeout_ms"] = BLOCKED_MS
            made = self.step("accept", args, call, self._by(call, sock, "blocked waiting for a connection when "
                                                                      "the recording stopped"))
            if made:
                made.linux = "timeout"
            return
        if call.errno in ("EAGAIN", "EWOULDBLOCK"):
            args["timeout_ms"] = 0
            made = self.step("accept", args, call, self._by(call, sock, "non-blocking: no connection was waiting"))
            if made:
                made.linux = "timeout"
            return
        if call.result is None or call.result < 0:
            self.step("accept", args, call, self._by(call, sock))
            return
        self._client_for(sock, call)
        new = Sock(sock.family, sock.type, sock.actor, call.pid, call.result, accepted_from=sock,
                   local_port=strace.local_port(call.annotation) or sock.local_port)
        if self._keep(new):
            args["as"] = new
        made = self.step("accept", args, call, self._by(call, sock))
        if made and self._shared(sock):
            new.unsure = True
            _unsure(made, "listeners share this port: the kernel picks which one gets a connection")
        self._drop(proc.table, call.result)
        proc.table.fds[call.result] = new
        if "SOCK_CLOEXEC" in (call.args[3] if len(call.args) > 3 else ""):
            proc.table.cloexec.add(call.result)

    def _keep(self, sock: Sock) -> bool:
        """Whether the socket is written (the first MAX_SOCKETS are) or only counted."""
        sock.kept = len(self.socks) < MAX_SOCKETS
        if sock.kept:
            self.socks.append(sock)
            self.summary.sockets += 1
        else:
            self.summary.dropped_sockets += 1
        return sock.kept

    def _shared(self, listener: Sock) -> bool:
        """Another listener, open now, on the same address and port (SO_REUSEPORT)."""
        return any(other is not listener and other.listening and not other.closed
                   and _where(other) == _where(listener) for other in self.socks)

    def _client_for(self, listener: Sock, call: Syscall) -> None:
        """A connection from outside the program: a client socket stands in for it, so the replay has one to
        accept. One the program made itself (a connect to this port earlier) needs none."""
        if listener.bound is None:
            return
        port = listener.bound[1]
        if self.connects[_port_value(port)] > 0:
            self.connects[_port_value(port)] -= 1
            return
        self.clients += 1
        client = Sock(listener.family, "tcp", MAIN, call.pid, -1, name=f"client{self.clients}")
        addr = {"any": "loopback", "any6": "loopback6", "0.0.0.0": "loopback", "::": "loopback6"}.get(
            listener.bound[0], listener.bound[0])
        why = "stands in for the client that connected while the program was recorded"
        for op, args in (("socket", {"sock": client, "type": "tcp", "family": client.family}),
                         ("connect", {"sock": client, "addr": addr, "port": port})):
            made = self.step(op, args, call, why)
            if made:
                made.linux = ANY

    def _setsockopt(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        option = self._option(call, sock)
        if option is None:
            return
        value = _option_value(option, call.args[3] if len(call.args) > 3 else "")
        if value is None:
            return self.unexpressed(call, f"a value of {option} the format cannot write")
        self.step("setsockopt", {"sock": sock, "opt": option, "value": value}, call, self._by(call, sock))

    def _getsockopt(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        if sock is not None and len(call.args) > 2 and call.args[2] == "SO_ERROR" and id(sock) in self.awaiting:
            connect = self.awaiting.pop(id(sock))
            code = _errno_of(call.args[3] if len(call.args) > 3 else "")
            if code is not None and call.result == 0:
                connect.linux = "ok" if code == "0" else code
                connect.note = "non-blocking connect: its outcome as getsockopt(SO_ERROR) read it"
            return
        option = self._option(call, sock)
        if option is None:
            return
        made = self.step("getsockopt", {"sock": sock, "opt": option}, call, self._by(call, sock))
        value = _option_value(option, call.args[3] if len(call.args) > 3 else "")
        if made and call.result == 0:
            made.linux = {"value": value} if isinstance(value, int) else ANY

    def _option(self, call: Syscall, sock: Optional[Sock]) -> Optional[str]:
        """The option's name where the format knows it at that level; otherwise a comment, and None."""
        if sock is None or len(call.args) < 3:
            return None
        level, option = LEVELS.get(call.args[1]), call.args[2]
        if option not in ops.OPTIONS or ops.OPTIONS[option] != level:
            self.unexpressed(call, "an option the format does not know")
            return None
        return option

    def _shutdown(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        how = HOW.get(call.args[1]) if sock is not None and len(call.args) > 1 else None
        if sock is not None and how is None:
            return self.unexpressed(call, "a shutdown the format cannot write")
        if sock is not None:
            self.step("shutdown", {"sock": sock, "how": how}, call, self._by(call, sock))

    def _close(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        number = strace.fd(call.args[0]) if call.args else None
        if sock is None or number is None:
            return
        if self._drop(proc.table, number) is sock:
            sock.closed = call.result == 0
            self.step("close", {"sock": sock}, call, self._by(call, sock))
        else:
            self.comment(f"pid {call.pid} closes its copy of ", sock, f" ({sock.refs} other(s) still hold it)")

    def _dup(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        if sock is None or call.result is None or call.result < 0:
            return
        self._drop(proc.table, call.result)  # dup2 over an open descriptor closes it first
        proc.table.fds[call.result] = sock
        sock.refs += 1

    def _fcntl(self, call: Syscall, proc: _Proc, sock: Optional[Sock]) -> None:
        command = call.args[1] if len(call.args) > 1 else ""
        if command.startswith("F_DUPFD"):
            self._dup(call, proc, sock)
        elif command == "F_SETFD" and sock is not None and call.result == 0:
            number = strace.fd(call.args[0])
            (proc.table.cloexec.add if "FD_CLOEXEC" in call.args[2] else proc.table.cloexec.discard)(number)

    def _execve(self, call: Syscall, proc: _Proc, _: Optional[Sock]) -> None:
        if call.result != 0:
            return
        for number in sorted(proc.table.cloexec & set(proc.table.fds)):
            sock = proc.table.fds[number]
            if self._drop(proc.table, number) is sock and sock.kept:
                self.step("close", {"sock": sock}, call, f"closed on exec by pid {call.pid} (close-on-exec)")

    def _setuid(self, call: Syscall, proc: _Proc, _: Optional[Sock]) -> None:
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

    def _setgid(self, call: Syscall, proc: _Proc, _: Optional[Sock]) -> None:
        if call.result == 0:
            self.comment(f"pid {call.pid} changes its groups: {call.raw} (an actor with `user:` takes that user's groups)")

    def _by(self, call: Syscall, sock: Sock, note: str = "") -> str:
        """The note of a step some other process than the socket's creator made (it inherited it)."""
        if call.pid == sock.creator:
            return note
        return "; ".join(filter(None, [note, f"by pid {call.pid}, which inherited this socket"]))

    # -- naming, ports, sharing: what needs the whole trace ---------------------------------

    def _finish(self) -> Recording:
        ports = _PortNames()
        for item in self.items:  # symbols in order of appearance, before sockets are named after them
            for key, value in item.args.items() if isinstance(item, Step) else ():
                if key == "port":
                    ports(value)
        _name_sockets(self.socks, ports)
        items: list[Union[dict, str]] = []
        for item in self.items:
            if isinstance(item, Comment):
                items.append("".join(p.name if isinstance(p, Sock) else p for p in item.parts))
                continue
            if getattr(item.args.get("sock"), "unsure", False):
                _unsure(item, "a connection the kernel may give another listener of the port in a replay")
            items.append(_written(item, ports))
        for sock in self.socks:
            if sock.inherited_by and sock.kept:
                users = sorted(sock.used_by)
                used = f", and pid(s) {', '.join(map(str, users))} used it" if users else ""
                items.append(f"{sock.name}: inherited by forked pid(s) "
                             f"{', '.join(map(str, sock.inherited_by[:10]))}{used}")
        return Recording(dict(sorted(self.actors.items())), items, self.summary)


def _where(sock: Sock) -> tuple[str, Any]:
    """The address and port number a socket bound, to find listeners sharing one."""
    return (sock.bound[0], _port_value(sock.bound[1])) if sock.bound else ("", id(sock))


def _unsure(step: Step, why: str) -> None:
    step.linux = ANY
    step.note = "; ".join(filter(None, [step.note, why]))


def _parents(events: list[Event]) -> dict[int, tuple[int, bool]]:
    """child pid -> (parent pid, shares the descriptor table), from every clone/fork that returned."""
    out = {}
    for e in events:
        if isinstance(e, Syscall) and e.name in FORKS and e.result is not None and e.result > 0:
            out[e.result] = (e.pid, "CLONE_FILES" in " ".join(e.args))
    return out


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
    if option == "SO_LINGER":
        parts = strace.fields(arg)
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


def _port_value(port: Any) -> Any:
    return port.sock.local_port if isinstance(port, PortOf) else port


class _PortNames:
    """Concrete ports to symbolic ones in order of appearance: the same number, the same symbol."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def __call__(self, port: Any) -> Any:
        number = _port_value(port)
        if not number:
            return 0
        if number not in self.names:
            n = len(self.names)
            self.names[number] = PORT_NAMES[n % len(PORT_NAMES)] + (str(n // len(PORT_NAMES)) if n >= len(PORT_NAMES) else "")
        return self.names[number]


def _name_sockets(socks: list[Sock], ports: _PortNames) -> None:
    """`tcp-P`, `udp6-Q` (type, family and the port it bound), `tcp-P.a1` (the first connection accepted
    on tcp-P), else `tcp-fd5`; a repeated name gets `.2`."""
    seen: Counter = Counter()
    accepted: Counter = Counter()
    for sock in socks:
        if sock.accepted_from:
            accepted[sock.accepted_from.name] += 1
            sock.name = f"{sock.accepted_from.name}.a{accepted[sock.accepted_from.name]}"
            continue
        port = ports(sock.bound[1]) if sock.bound else 0
        base = f"{sock.type}{'6' if sock.family == 'inet6' else ''}-{port or f'fd{sock.fd}'}"
        seen[base] += 1
        sock.name = base if seen[base] == 1 else f"{base}.{seen[base]}"


def _written(step: Step, ports: _PortNames) -> dict:
    """A step as the format writes it: sockets by name, ports symbolic, `linux:` then `default: any`."""
    args = {}
    for key, value in step.args.items():
        if isinstance(value, Sock):
            value = value.name
        elif key == "port":
            value = ports(value)
        args[key] = value
    out = {"op": step.op, **args, "expect": {"linux": step.linux, "default": ANY} if step.linux != ANY else ANY}
    if step.note:
        out["note"] = step.note
    return out


def _joined(socks: list[Sock]) -> list[Union[str, Sock]]:
    parts: list[Union[str, Sock]] = []
    for i, sock in enumerate(socks):
        parts += ([", "] if i else []) + [sock]
    return parts
