"""Who holds what: processes, their descriptor tables, and descriptors passed over UNIX sockets.

Pure bookkeeping for the converter, fed from the calls themselves (so strace needs no `-yy`,
which costs a netlink query per descriptor): fork copies a table, a thread shares it, dup
and fcntl(F_DUPFD) add references, close, dup2 over a descriptor, close_range, exec
(close-on-exec) and a process's exit drop them. A descriptor sent in SCM_RIGHTS is in flight
(it holds its object open) until the process at the other end of that UNIX socket receives
it. Ends are paired by socketpair, or by a connect to the path another socket listens on.

What a descriptor refers to is any object with a `refs` count (the converter's IP sockets,
`UnixEnd`s here); when the last reference goes, `released(obj, pid, why)` is called, so the
converter can write the close the kernel made implicitly.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import strace
from .strace import Syscall

FORKS = {"clone", "clone3", "fork", "vfork"}
Released = Callable[[Any, int, str], None]


@dataclass(eq=False)
class UnixEnd:
    """One end of an AF_UNIX socket: descriptors sent to it wait in `inbox` until received."""

    stream: bool
    refs: int = 0
    peer: Optional["UnixEnd"] = None  # where what is sent on this end arrives
    path: Optional[str] = None  # bound to
    inbox: deque = field(default_factory=deque)  # lists of objects in flight, oldest first


@dataclass
class Table:
    """A descriptor table; threads share one (CLONE_FILES), fork copies it."""

    fds: dict[int, Any] = field(default_factory=dict)
    cloexec: set[int] = field(default_factory=set)
    members: int = 1


@dataclass
class Proc:
    pid: int
    table: Table
    actor: str
    group: int  # the thread group (process) it belongs to: a thread shares its process's sockets
    forked_from: Optional[int] = None  # the process it was forked from, when it was


class Processes:
    def __init__(self, events: list, main_actor: str, released: Released,
                 inherited: Callable[[Proc, list[Any]], None]) -> None:
        self.parents = _parents(events)
        self.main_actor = main_actor
        self.released = released
        self.inherited = inherited  # a forked process got copies of these objects
        self.procs: dict[int, Proc] = {}
        self.listening: dict[str, UnixEnd] = {}  # UNIX path -> the stream socket listening there
        self.bound: dict[str, UnixEnd] = {}  # UNIX path -> the datagram socket bound there
        self.connecting: defaultdict[str, deque] = defaultdict(deque)  # path -> ends yet to be accepted
        self.unfollowed = 0  # descriptors received whose sender could not be told

    # -- processes ------------------------------------------------------------------------

    def get(self, pid: int) -> Proc:
        if pid not in self.procs:
            parent, flags = self.parents.get(pid, (None, ""))
            if parent is None or parent == pid:
                self.procs[pid] = Proc(pid, Table(), self.main_actor, pid)
            else:
                self.procs[pid] = self._child(pid, self.get(parent), flags)
        return self.procs[pid]

    def _child(self, pid: int, parent: Proc, flags: str) -> Proc:
        group = parent.group if "CLONE_THREAD" in flags else pid
        if "CLONE_FILES" in flags:
            parent.table.members += 1
            return Proc(pid, parent.table, parent.actor, group, parent.forked_from)
        table = Table(dict(parent.table.fds), set(parent.table.cloexec))
        for obj in table.fds.values():
            obj.refs += 1
        child = Proc(pid, table, parent.actor, group, parent.pid)
        self.inherited(child, list(dict.fromkeys(table.fds.values())))
        return child

    def exit(self, pid: int) -> None:
        """A thread or process ended; the last member of a table closes every descriptor in it."""
        proc = self.procs.pop(pid, None)
        if proc is None:
            return
        proc.table.members -= 1
        if proc.table.members == 0:
            for fd in sorted(proc.table.fds):
                self.drop(proc, fd, f"when pid {pid} exited")

    def exec(self, proc: Proc) -> None:
        for fd in sorted(proc.table.cloexec & set(proc.table.fds)):
            self.drop(proc, fd, f"on exec by pid {proc.pid} (close-on-exec)")

    # -- descriptors ----------------------------------------------------------------------

    def drop(self, proc: Proc, fd: int, why: Optional[str]) -> Optional[Any]:
        """Forget a descriptor; the object if that was its last reference. `why` the kernel closed it
        implicitly (then `released` is told); None for the program's own close."""
        proc.table.cloexec.discard(fd)
        obj = proc.table.fds.pop(fd, None)
        return self._unref(obj, proc.pid, why) if obj is not None else None

    def _unref(self, obj: Any, pid: int, why: Optional[str]) -> Optional[Any]:
        obj.refs -= 1
        if obj.refs > 0:
            return None
        if isinstance(obj, UnixEnd):  # descriptors still in flight to it die with it
            while obj.inbox:
                for held in obj.inbox.popleft():
                    if held is not None:
                        self._unref(held, pid, why or f"with the UNIX socket pid {pid} closed, in flight on it")
        if why is not None:
            self.released(obj, pid, why)
        return obj

    def install(self, proc: Proc, fd: int, obj: Any, cloexec: bool = False, counted: bool = False) -> None:
        """`fd` now refers to obj (an open descriptor there is closed first, as dup2 does)."""
        self.drop(proc, fd, f"when pid {proc.pid} reused descriptor {fd}")
        proc.table.fds[fd] = obj
        if not counted:
            obj.refs += 1
        if cloexec:
            proc.table.cloexec.add(fd)

    def close_range(self, proc: Proc, call: Syscall) -> None:
        first, last = (strace.int_value(a) for a in (call.args + ("", ""))[:2])
        if call.result != 0 or first is None or last is None:
            return
        for fd in sorted(n for n in proc.table.fds if first <= n <= (last & 0xFFFFFFFF)):
            if "CLOSE_RANGE_CLOEXEC" in " ".join(call.args[2:]):
                proc.table.cloexec.add(fd)
            else:
                self.drop(proc, fd, f"by close_range in pid {proc.pid}")

    # -- UNIX sockets and the descriptors they carry ----------------------------------------

    def unix_call(self, proc: Proc, call: Syscall, end: Optional[UnixEnd]) -> None:
        """socketpair, bind, listen, connect, accept, sendmsg, recvmsg on a UNIX socket."""
        if call.name == "socketpair":
            ends = strace.fd_list(call.args[3]) if len(call.args) > 3 and call.result == 0 else []
            if len(ends) == 2:
                a, b = UnixEnd(_stream(call)), UnixEnd(_stream(call))
                a.peer, b.peer = b, a
                for fd, obj in zip(ends, (a, b)):
                    self.install(proc, fd, obj, "SOCK_CLOEXEC" in call.args[1])
            return
        if end is None or (call.result is not None and call.result < 0):
            return
        address = strace.sockaddr(call.args[1]) if len(call.args) > 1 else None
        path = address.path if address else None
        if call.name == "bind" and path:
            end.path = path
            if not end.stream:
                self.bound[path] = end
        elif call.name == "listen" and end.path:
            self.listening[end.path] = end
        elif call.name == "connect" and path:
            if path in self.listening:
                self.connecting[path].append(end)
            elif path in self.bound:
                end.peer = self.bound[path]
        elif call.name in ("accept", "accept4") and call.result is not None:
            new = UnixEnd(True)
            waiting = self.connecting.get(end.path or "")
            if waiting:
                new.peer = waiting.popleft()
                new.peer.peer = new
            self.install(proc, call.result, new, "SOCK_CLOEXEC" in " ".join(call.args[3:]))
        elif call.name == "sendmsg":
            self._send(proc, call, end)
        elif call.name == "recvmsg":
            self._receive(proc, call, end)

    def _send(self, proc: Proc, call: Syscall, end: UnixEnd) -> None:
        fds = strace.passed_fds(call.args[1]) if len(call.args) > 1 else []
        if not fds:
            return
        address = strace.sockaddr(call.args[1])
        to = self.bound.get(address.path or "") if address and address.path else end.peer
        objects = [proc.table.fds.get(fd) for fd in fds]
        if to is None:
            return
        for obj in objects:
            if obj is not None:
                obj.refs += 1  # in flight: the message holds it open
        to.inbox.append(objects)

    def _receive(self, proc: Proc, call: Syscall, end: UnixEnd) -> None:
        fds = strace.passed_fds(call.args[1]) if len(call.args) > 1 else []
        if not fds:
            return
        objects = end.inbox.popleft() if end.inbox else None
        if objects is None or len(objects) != len(fds):
            self.unfollowed += len(fds)
            for obj in objects or ():
                if obj is not None:
                    self._unref(obj, proc.pid, f"in a message pid {proc.pid} received without it")
            return
        cloexec = "MSG_CMSG_CLOEXEC" in " ".join(call.args[2:])
        for fd, obj in zip(fds, objects):
            if obj is not None:
                self.install(proc, fd, obj, cloexec, counted=True)
            else:
                self.drop(proc, fd, f"when pid {proc.pid} received another descriptor as {fd}")


def _stream(call: Syscall) -> bool:
    return len(call.args) > 1 and call.args[1].startswith("SOCK_STREAM")


def _parents(events: list) -> dict[int, tuple[int, str]]:
    """child pid -> (parent pid, the clone's flags as text), from every clone/fork that returned."""
    out = {}
    for e in events:
        if isinstance(e, Syscall) and e.name in FORKS and e.result is not None and e.result > 0:
            out[e.result] = (e.pid, " ".join(e.args))
    return out
