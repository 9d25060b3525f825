#!/usr/bin/env python
"""The harness agent: runs scenario steps against this machine's kernel.

The contract is docs/agent-protocol.md: one JSON document on stdin, JSON lines
(hello, one per scenario, end) on stdout, diagnostics on stderr.

This file is copied alone onto old guests, so it is one stdlib-only module that
runs unchanged on Python 2.6, 2.7 and 3.x (checked with vermin): no
comprehensions of dicts or sets, no str.format auto-numbering, no f-strings,
bytes and text kept apart by hand.

Process layout per scenario: the agent forks a supervisor in its own process
group (and, on Linux when asked, its own network namespace); the supervisor
forks one process per actor and sends them the steps one at a time over pipes.
Killing the group is therefore enough to end everything a scenario started.
"""
import os
import sys

# Run as `python harness/agent.py`, the script's directory comes first on
# sys.path, and a module of the harness package named like a standard one
# would shadow it.  os and sys are loaded before any script.
if __name__ == "__main__" and sys.path and \
        os.path.abspath(sys.path[0] or os.curdir) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import errno  # noqa: E402 (after the sys.path repair above)
import fcntl
import gc
import json
import platform
import pwd
import re
import resource
import select
import signal
import socket
import struct
import time

try:
    import ctypes
except ImportError:  # some minimal Pythons are built without libffi
    ctypes = None

AGENT_VERSION = "0.1.0"
PROTOCOL = 3
# The events of docs/agent-protocol.md; the harness reads these names from here.
HELLO, ENVIRONMENT, SCENARIO, END, ERROR = "hello", "environment", "scenario", "end", "error"

# A clock that never goes backwards where the Python has one (3.3+).
now = getattr(time, "monotonic", time.time)
# The text type: unicode on Python 2, str on 3 (u"" literals need 3.3).
TEXT = type(b"".decode("ascii"))
OS_FAMILY = platform.system().lower()

# ---------------------------------------------------------------------------
# Option numbers per OS.  Our own tables rather than the socket module's
# constants: old Pythons lack SO_REUSEPORT, and the numbers are the point of
# the project, so they are written down where a reviewer can check them.

# Linux values are those of include/uapi/asm-generic/socket.h, in.h, in6.h and
# tcp.h, used by x86, arm, arm64, riscv, powerpc, s390.  alpha, mips, parisc
# and sparc define their own SOL_SOCKET/SO_* numbers: see option_table().
# TCP_KEEPIDLE 4, TCP_KEEPINTVL 5, TCP_KEEPCNT 6, TCP_DEFER_ACCEPT 9,
# TCP_QUICKACK 12, TCP_USER_TIMEOUT 18, TCP_FASTOPEN 23: include/uapi/linux/tcp.h;
# IP_MTU_DISCOVER 10: include/uapi/linux/in.h; IPV6_MTU_DISCOVER 23, IPV6_MTU 24:
# include/uapi/linux/in6.h.
LINUX = {
    "SOL_SOCKET": 1, "IPPROTO_IP": 0, "IPPROTO_TCP": 6, "IPPROTO_IPV6": 41,
    "SO_REUSEADDR": 2, "SO_BROADCAST": 6, "SO_SNDBUF": 7, "SO_RCVBUF": 8,
    "SO_KEEPALIVE": 9, "SO_LINGER": 13, "SO_REUSEPORT": 15,
    "SO_REUSEPORT_LB": None,
    "IPV6_V6ONLY": 26, "TCP_NODELAY": 1, "IP_ADD_MEMBERSHIP": 35,
    "TCP_KEEPIDLE": 4, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 6,
    "TCP_DEFER_ACCEPT": 9, "TCP_QUICKACK": 12, "TCP_USER_TIMEOUT": 18,
    "TCP_FASTOPEN": 23, "IP_MTU_DISCOVER": 10, "IPV6_MTU_DISCOVER": 23,
    "IPV6_MTU": 24,
    "SO_BINDTODEVICE": 25,  # asm-generic/socket.h
    # linux/in.h: IP_FREEBIND 15, IP_TRANSPARENT 19, IP_BIND_ADDRESS_NO_PORT 24 (4.2),
    # IP_LOCAL_PORT_RANGE 51 (6.3); linux/in6.h: IPV6_FREEBIND 78 (4.15)
    "IP_FREEBIND": 15, "IP_TRANSPARENT": 19, "IP_BIND_ADDRESS_NO_PORT": 24,
    "IP_LOCAL_PORT_RANGE": 51, "IPV6_FREEBIND": 78,
    "IP_BINDANY": None, "IPV6_BINDANY": None, "SO_BINDANY": None,  # the BSDs' (below)
}
# 4.4BSD heritage (sys/socket.h, netinet/in.h, netinet6/in6.h, netinet/tcp.h):
# identical on FreeBSD, DragonFly, NetBSD, OpenBSD and Darwin for these names.
# None: the system defines no such option (the step's outcome is
# `unsupported`).  Linux-only everywhere below: TCP_DEFER_ACCEPT (FreeBSD has
# accept filters instead), TCP_QUICKACK, TCP_USER_TIMEOUT, IP_MTU_DISCOVER,
# IPV6_MTU_DISCOVER and IPV6_MTU (the BSDs have IP_DONTFRAG, IPV6_DONTFRAG and
# IPV6_USE_MIN_MTU under other names and numbers): none is defined in
# FreeBSD's sys/netinet/tcp.h, sys/netinet/in.h, sys/netinet6/in6.h, nor in
# XNU's bsd/netinet/tcp.h, NetBSD's, OpenBSD's or DragonFly's sys/netinet/tcp.h.
BSD = {
    "SOL_SOCKET": 0xffff, "IPPROTO_IP": 0, "IPPROTO_TCP": 6, "IPPROTO_IPV6": 41,
    "SO_REUSEADDR": 0x4, "SO_KEEPALIVE": 0x8, "SO_BROADCAST": 0x20,
    "SO_LINGER": 0x80, "SO_REUSEPORT": 0x200, "SO_SNDBUF": 0x1001,
    "SO_RCVBUF": 0x1002, "IPV6_V6ONLY": 27, "TCP_NODELAY": 1,
    "IP_ADD_MEMBERSHIP": 12, "SO_REUSEPORT_LB": None,
    "TCP_DEFER_ACCEPT": None, "TCP_QUICKACK": None, "TCP_USER_TIMEOUT": None,
    "IP_MTU_DISCOVER": None, "IPV6_MTU_DISCOVER": None, "IPV6_MTU": None,
    # Linux's binding options (above); where a BSD has its own (IP_BINDANY, IPV6_BINDANY,
    # SO_BINDANY), OPTION_TABLES gives its number.
    "SO_BINDTODEVICE": None, "IP_FREEBIND": None, "IP_TRANSPARENT": None,
    "IP_BIND_ADDRESS_NO_PORT": None, "IP_LOCAL_PORT_RANGE": None, "IPV6_FREEBIND": None,
    "IP_BINDANY": None, "IPV6_BINDANY": None, "SO_BINDANY": None,
}
# Keepalive tuning and TCP Fast Open differ by system:
# FreeBSD sys/netinet/tcp.h: TCP_KEEPIDLE 256, TCP_KEEPINTVL 512,
#   TCP_KEEPCNT 1024, TCP_FASTOPEN 1025.
# XNU bsd/netinet/tcp.h: TCP_KEEPALIVE 0x10 is macOS's TCP_KEEPIDLE (the idle
#   time before keepalives), TCP_KEEPINTVL 0x101, TCP_KEEPCNT 0x102,
#   TCP_FASTOPEN 0x105.
# NetBSD sys/netinet/tcp.h: TCP_KEEPIDLE 3, TCP_KEEPINTVL 5, TCP_KEEPCNT 6;
#   no TCP_FASTOPEN.
# DragonFly sys/netinet/tcp.h: TCP_KEEPIDLE 0x100, TCP_KEEPINTVL 0x200,
#   TCP_KEEPCNT 0x400; no TCP_FASTOPEN.
# OpenBSD sys/netinet/tcp.h defines none of the four.
KEEPALIVE_TFO = {
    "freebsd": (256, 512, 1024, 1025),
    "darwin": (0x10, 0x101, 0x102, 0x105),
    "netbsd": (3, 5, 6, None),
    "dragonfly": (0x100, 0x200, 0x400, None),
    "openbsd": (None, None, None, None),
}


def bsd_table(family, **changes):
    names = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_FASTOPEN")
    table = dict(BSD, **dict(zip(names, KEEPALIVE_TFO[family])))
    table.update(changes)
    return table


OPTION_TABLES = {
    "linux": LINUX,
    # SO_REUSEPORT_LB: FreeBSD 12+ only (older kernels answer ENOPROTOOPT).
    # netinet/in.h IP_BINDANY 24, netinet6/in6.h IPV6_BINDANY 64 (FreeBSD 8+).
    "freebsd": bsd_table("freebsd", SO_REUSEPORT_LB=0x10000, IP_BINDANY=24, IPV6_BINDANY=64),
    # DragonFly's SO_REUSEPORT already balances; it has no SO_REUSEPORT_LB.
    "dragonfly": bsd_table("dragonfly"),
    # netinet/in.h IP_BINDANY 27 (NetBSD 8+; older kernels answer ENOPROTOOPT).
    "netbsd": bsd_table("netbsd", IP_BINDANY=27),
    # sys/socket.h SO_BINDANY 0x1000.
    "openbsd": bsd_table("openbsd", SO_BINDANY=0x1000),
    # Darwin's SO_LINGER (0x80) counts l_linger in clock ticks; the scenario
    # value is seconds, which is Darwin's SO_LINGER_SEC (0x1080).
    "darwin": bsd_table("darwin", SO_LINGER=0x1080),
}
ODD_LINUX_ARCHES = ("alpha", "mips", "parisc", "sparc")

# Scenario option name -> the level it lives at (as harness/scenario/ops.py;
# a test checks that the two agree).
OPTION_LEVELS = {
    "SO_REUSEADDR": "SOL_SOCKET", "SO_REUSEPORT": "SOL_SOCKET",
    "SO_REUSEPORT_LB": "SOL_SOCKET", "SO_LINGER": "SOL_SOCKET",
    "SO_RCVBUF": "SOL_SOCKET", "SO_SNDBUF": "SOL_SOCKET",
    "SO_KEEPALIVE": "SOL_SOCKET", "SO_BROADCAST": "SOL_SOCKET",
    "IPV6_V6ONLY": "IPPROTO_IPV6", "TCP_NODELAY": "IPPROTO_TCP",
    "IP_ADD_MEMBERSHIP": "IPPROTO_IP",
    "TCP_KEEPIDLE": "IPPROTO_TCP", "TCP_KEEPINTVL": "IPPROTO_TCP",
    "TCP_KEEPCNT": "IPPROTO_TCP", "TCP_DEFER_ACCEPT": "IPPROTO_TCP",
    "TCP_FASTOPEN": "IPPROTO_TCP", "TCP_USER_TIMEOUT": "IPPROTO_TCP",
    "TCP_QUICKACK": "IPPROTO_TCP", "IP_MTU_DISCOVER": "IPPROTO_IP",
    "IPV6_MTU_DISCOVER": "IPPROTO_IPV6", "IPV6_MTU": "IPPROTO_IPV6",
    "SO_BINDTODEVICE": "SOL_SOCKET", "SO_BINDANY": "SOL_SOCKET",
    "IPV6_V6ONLY": "IPPROTO_IPV6", "IPV6_BINDANY": "IPPROTO_IPV6",
    "IPV6_FREEBIND": "IPPROTO_IPV6", "TCP_NODELAY": "IPPROTO_TCP",
    "IP_ADD_MEMBERSHIP": "IPPROTO_IP", "IP_BINDANY": "IPPROTO_IP",
    "IP_FREEBIND": "IPPROTO_IP", "IP_TRANSPARENT": "IPPROTO_IP",
    "IP_BIND_ADDRESS_NO_PORT": "IPPROTO_IP", "IP_LOCAL_PORT_RANGE": "IPPROTO_IP",
}
# send(2) flags by name: include/linux/socket.h; the BSDs' and XNU's sys/socket.h. A flag a system
# lacks is absent (the step is `unsupported`): MSG_FASTOPEN and MSG_MORE are Linux's, macOS has no
# MSG_NOSIGNAL (it has SO_NOSIGPIPE).
BSD_MSG = {"oob": 0x1, "dontroute": 0x4, "eor": 0x8, "dontwait": 0x80}
MSG_FLAGS = {
    "linux": {"oob": 0x1, "dontroute": 0x4, "dontwait": 0x40, "eor": 0x80, "nosignal": 0x4000,
              "more": 0x8000, "fastopen": 0x20000000},
    "freebsd": dict(BSD_MSG, nosignal=0x20000),
    "dragonfly": dict(BSD_MSG, nosignal=0x400),
    "netbsd": dict(BSD_MSG, nosignal=0x400),
    "openbsd": dict(BSD_MSG, nosignal=0x400),
    "darwin": BSD_MSG,
}
# poll(2) events: sys/poll.h and asm-generic/poll.h agree on these; POLLRDHUP is Linux's 0x2000
# (asm-generic/poll.h) and FreeBSD's 0x4000 (sys/sys/poll.h, FreeBSD 14); other systems lack it.
POLL_BITS = {"in": 0x1, "pri": 0x2, "out": 0x4, "err": 0x8, "hup": 0x10, "nval": 0x20}
POLL_RDHUP = {"linux": 0x2000, "freebsd": 0x4000}
POLL_ORDER = ("in", "pri", "out", "err", "hup", "nval", "rdhup")  # as harness/scenario/ops.py POLL_EVENTS
# Settings (or pairs of them) that set an ephemeral port range, as a scenario's sysctl: may.
RANGE_SETTINGS = (("net.ipv4.ip_local_port_range", None), ("net.inet.ip.anonportmin", "net.inet.ip.anonportmax"),
                  ("net.inet6.ip6.anonportmin", "net.inet6.ip6.anonportmax"),
                  ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"))
# FIONREAD: asm-generic/ioctls.h 0x541B on Linux; _IOR('f', 127, int) on the BSDs and XNU (sys/filio.h)
# and on Linux's alpha, powerpc and sparc ports (mips: _IOR without the size, 0x467f).
FIONREAD = {"linux": 0x541B, "bsd": 0x4004667F}
ODD_FIONREAD = {"alpha": 0x4004667F, "ppc": 0x4004667F, "powerpc": 0x4004667F, "sparc": 0x4004667F,
                "mips": 0x467F}
# The system's ephemeral (anonymous) port range: Linux /proc/sys; FreeBSD, DragonFly and macOS
# net.inet.ip.portrange.first/last; NetBSD net.inet.ip.anonportmin/max; OpenBSD porthifirst/porthilast.
EPHEMERAL_SETTINGS = {
    "linux": ("net.ipv4.ip_local_port_range",),
    "freebsd": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
    "dragonfly": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
    "darwin": ("net.inet.ip.portrange.first", "net.inet.ip.portrange.last"),
    "netbsd": ("net.inet.ip.anonportmin", "net.inet.ip.anonportmax"),
    "openbsd": ("net.inet.ip.porthifirst", "net.inet.ip.porthilast"),
}
ADDRESSES = {"any": "0.0.0.0", "any6": "::", "loopback": "127.0.0.1",
             "loopback6": "::1", "loopback2": "127.0.0.2"}
ADDRESS_FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
SHUTDOWN_HOW = {"rd": socket.SHUT_RD, "wr": socket.SHUT_WR,
                "rdwr": socket.SHUT_RDWR}

# errno names meaning "not yet" rather than failure: names, since the numbers are each
# kernel's own (a rump kernel's are NetBSD's, whatever the host's are).
AGAIN = ("EAGAIN", "EWOULDBLOCK", "EINTR")
IN_PROGRESS = ("EINPROGRESS", "EWOULDBLOCK", "EAGAIN")
# ... and, for a connect on a socket whose handshake is still under way (an
# earlier `wait: false` connect), EALREADY: a blocking connect waits there too.
STILL_CONNECTING = IN_PROGRESS + ("EALREADY",)
# A distribute receive loop keeps a socket after these (one-shot) errors.
TRANSIENT = AGAIN + ("ECONNABORTED", "ECONNREFUSED", "ECONNRESET", "EPROTO")

# Ops the supervisor runs itself; every other op is an Actor.op_<name> method.
SUPERVISOR_OPS = ("sleep", "distribute")

UDP_SETTLE = 0.03  # quiet time after the last datagram (multicast copies)
PACE_WAIT = 0.1    # this much silence from the receivers: what is in flight went elsewhere (written off)
COLLECT_QUIET = 1.0  # ... and at the end of a step, this much: nothing more is coming
DATAGRAM_COST = 2048  # receive buffer a small datagram may take (Linux: 768-1024 bytes of truesize)
MAX_WINDOW = 1024  # connections or datagrams in flight at most, whatever the backlogs and buffers
SPURIOUS_WAIT = 0.01  # between retries of a call its socket polls ready for but that would block
LINGER_RST = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT left
SETTLE_POLL = 0.0002  # between looks at a rump kernel's threads while one still runs

# Linux-only constants used through ctypes / ioctl / netlink.
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFINDEX = 0x8913, 0x8914, 0x8933
IFF_UP, IFF_MULTICAST = 0x1, 0x1000
RTM_NEWROUTE = 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
RTA_DST, RTA_OIF, RTA_PREFSRC = 1, 4, 7


class Timeout(Exception):
    """A wait reached its deadline."""


class Unsupported(Exception):
    """The option (or level) does not exist on this OS."""


class InfraError(Exception):
    """Something outside the scenario's own semantics failed: status error."""


class Skip(Exception):
    """The scenario cannot run here (e.g. the actor's user): status skipped."""


# ---------------------------------------------------------------------------
# Small helpers

def exc_errno(exc):
    """The errno of an OS-level exception (py2's select.error has no .errno)."""
    num = getattr(exc, "errno", None)
    if num is None and exc.args and isinstance(exc.args[0], int):
        num = exc.args[0]
    return num


# Names each system documents for a number its C library also knows by an alias: errno.errorcode
# keeps the last alias it was given (ENOTSUP for Linux's 95, EDEADLOCK for 35), which is not what
# the kernel's manual says (harness/errnos.py has the pairs and their sources).
CANONICAL_ERRNOS = ("EOPNOTSUPP", "EAGAIN", "EDEADLK")


def errno_name(num):
    """Failures are reported by name (numbers differ between kernels), the documented one."""
    for name in CANONICAL_ERRNOS:
        if getattr(errno, name, None) == num:
            return name
    return errno.errorcode.get(num, "E%d" % num)


def gai_name(num):
    """getaddrinfo failures have their own EAI_* namespace."""
    for name in dir(socket):
        if name.startswith("EAI_") and getattr(socket, name) == num:
            return name
    return "EAI_%d" % num


def exception_line():
    """The exception being handled, as the last line of its traceback (`KeyError: 'x'`)."""
    import traceback  # on failure only: the agent starts faster without it
    return traceback.format_exc().strip().splitlines()[-1]


def print_traceback():
    """The exception being handled, in full, on stderr (where the harness reads its diagnostics)."""
    import traceback
    traceback.print_exc()


def failure(exc, kernel):
    """The outcome record of a failed call into `kernel`."""
    num = exc_errno(exc)
    if num is None:
        return {"outcome": "EINVAL", "detail": str(exc)}
    if isinstance(exc, socket.gaierror):
        return {"outcome": gai_name(num), "errno": num, "detail": str(exc)}
    return {"outcome": kernel.errno_name(num), "errno": num}


def native(text):
    """Addresses as the native str type (py2's socket wants bytes-str)."""
    if isinstance(text, str):
        return text
    if isinstance(text, TEXT):
        return text.encode("utf-8")
    raise TypeError("expected an address, got %r" % (text,))


def ms_since(start):
    return round((now() - start) * 1000.0, 3)


def fd_of(obj):
    return obj if isinstance(obj, int) else obj.fileno()


READ_EVENTS = getattr(select, "POLLIN", 1) | getattr(select, "POLLERR", 8) | getattr(select, "POLLHUP", 16)
WRITE_EVENTS = getattr(select, "POLLOUT", 4) | getattr(select, "POLLERR", 8) | getattr(select, "POLLHUP", 16)


def wait_fds(rfds, wfds, deadline):
    """Wait until deadline (None: forever); returns (readable, writable) as given.

    poll() where the OS has it: select() refuses descriptors above FD_SETSIZE
    (1023), and a scenario may hold thousands of sockets. A failure of the wait
    itself is the agent's, never the kernel's answer to a step: InfraError.
    """
    while True:
        timeout = None
        if deadline is not None:
            timeout = max(0.0, deadline - now())
        try:
            if hasattr(select, "poll"):
                return poll_fds(rfds, wfds, timeout)
            ready = select.select(rfds, wfds, [], timeout)
            return ready[0], ready[1]
        except (select.error, OSError, IOError, ValueError):
            if exc_errno(sys.exc_info()[1]) != errno.EINTR:
                raise InfraError("waiting on %d descriptors failed: %s"
                                 % (len(rfds) + len(wfds), sys.exc_info()[1]))


def poll_fds(rfds, wfds, timeout):
    poller = select.poll()
    masks = {}
    for objs, events in ((rfds, select.POLLIN), (wfds, select.POLLOUT)):
        for obj in objs:
            fd = fd_of(obj)
            masks[fd] = masks.get(fd, 0) | events
    for fd in masks:
        poller.register(fd, masks[fd])
    ms = -1  # forever
    if timeout is not None:
        ms = int(timeout * 1000 + 0.999)  # rounded up: never wake before the deadline
    got = dict(poller.poll(ms))
    readable = [obj for obj in rfds if got.get(fd_of(obj), 0) & READ_EVENTS]
    writable = [obj for obj in wfds if got.get(fd_of(obj), 0) & WRITE_EVENTS]
    return readable, writable


def wait_ready(kernel, sock, write, deadline):
    """True when sock (of `kernel`) is readable (write=False) or writable before deadline."""
    if write:
        return bool(kernel.wait([], [sock], deadline)[1])
    return bool(kernel.wait([sock], [], deadline)[0])


def retry_until(kernel, sock, write, deadline, call):
    """call() at once, as a blocking call would; while it would block, wait
    (until deadline) for readiness and try again.  Trying first reports
    errors the kernel gives at once (ENOTCONN...) instead of a timeout.
    Readiness can last and still not let the call through (see wait_again)."""
    was_ready = False
    while True:
        try:
            return call()
        except socket.error:
            if kernel.errno_name(exc_errno(sys.exc_info()[1])) not in AGAIN:
                raise
        was_ready = wait_again(deadline, was_ready, lambda: wait_ready(kernel, sock, write, deadline))


def wait_again(deadline, was_ready, wait):
    """After a call that would block: Timeout at the deadline, else wait() for readiness (Timeout
    if none came). A socket can poll ready for good and still not let the call through (Linux: a
    UDP socket shut down for reading, recvfrom EAGAIN; NetBSD: a listener shut down for reading,
    accept EAGAIN): after such a wake-up the next wait comes SPURIOUS_WAIT later, never spinning."""
    if now() >= deadline:
        raise Timeout()
    if was_ready:
        time.sleep(min(SPURIOUS_WAIT, max(0.0, deadline - now())))
    if not wait():
        raise Timeout()
    return True


def accept_any(kernel, names, socks, deadline):
    """accept() on whichever of the listeners has a connection first, as a
    blocking accept would wait: (connection, peer, the listener's name).
    The first is the step's own listener: its errors are the step's; another
    that fails (it is not listening there) is only no longer waited on."""
    candidates = list(zip(names, socks))
    was_ready = False
    while True:
        for name, sock in list(candidates):
            try:
                conn, peer = sock.accept()
                return conn, peer, name
            except socket.error:
                if kernel.errno_name(exc_errno(sys.exc_info()[1])) not in AGAIN:
                    if sock is socks[0]:
                        raise
                    candidates.remove((name, sock))
        was_ready = wait_again(deadline, was_ready,
                               lambda: kernel.wait([sock for _, sock in candidates], [], deadline)[0])


def close_rst(kernel, sock):
    """Close without leaving TIME_WAIT behind (it would block later binds)."""
    try:
        kernel.linger_rst(sock)
    except socket.error:
        pass
    sock.close()


class SystemNumbers(object):
    """A kernel's numbers by name, from the agent's tables for its `family` (a HostKernel's or a
    RumpProcess's): send flags, poll events, sockaddr layout, and port ranges from its settings."""

    def msg_flags(self, names):
        """The MSG_* bits of `names`, or Unsupported naming the first the system lacks."""
        table, value = MSG_FLAGS.get(self.family, {}), 0
        for name in names:
            if name not in table:
                raise Unsupported("MSG_%s is not defined on %s" % (name.upper(), self.family))
            value |= table[name]
        return value

    def poll_bits(self):
        bits = dict(POLL_BITS)
        if self.family in POLL_RDHUP:
            bits["rdhup"] = POLL_RDHUP[self.family]
        return bits

    def poll_mask(self, names):
        bits = self.poll_bits()
        for name in names:
            if name not in bits:
                raise Unsupported("POLL%s is not defined on %s" % (name.upper(), self.family))
        return sum([bits[name] for name in names])

    def poll_names(self, revents):
        """The events set in `revents`, in the order docs/scenario-format.md lists them."""
        bits = self.poll_bits()
        return [name for name in POLL_ORDER if name in bits and revents & bits[name]]

    def sockaddr_bytes(self, family, addr, spec):
        """The address as the kernel reads it, with `spec`'s family and length put in its place: a
        malformed address for a bad-input test ({family: 0}, {len: 8})."""
        af = self.af_numbers()
        raw = pack_sockaddr(self.bsd_layout(), af[family], family, addr)
        claimed = spec.get("family")
        if claimed is not None:
            number = af.get(claimed, claimed)  # a name (unspec, inet, inet6) or a number
            if self.bsd_layout():
                raw = raw[:1] + struct.pack("B", number & 0xff) + raw[2:]
            else:
                raw = struct.pack("=H", number & 0xffff) + raw[2:]
        length = spec.get("len")
        if length is not None:
            raw = (raw + b"\0" * max(0, length - len(raw)))[:length]
            if self.bsd_layout() and raw:
                raw = struct.pack("B", min(length, 255)) + raw[1:]
        return raw

    def ephemeral_range(self):
        """(low, high) of the system's ephemeral ports as set where the scenario runs, or None."""
        names = EPHEMERAL_SETTINGS.get(self.family, ())
        values = " ".join([self.read_setting(name) or "" for name in names]).split()
        if len(values) == 2 and values[0].isdigit() and values[1].isdigit():
            return [int(values[0]), int(values[1])]
        return None


class HostKernel(SystemNumbers):
    """The kernel this process runs on, through the socket module.

    The seam between the agent and "the kernel a step calls": every socket an
    actor makes, every wait on sockets and every errno name goes through such
    an object, so that an actor may as well call a rump kernel (RumpProcess,
    below) with the same code.  Families and types are the socket module's
    constants whatever the kernel; option numbers are the kernel's (`table`).
    """

    inline_actors = False  # actors are forked processes (user: switches the host's uid)

    def __init__(self):
        self.family = OS_FAMILY
        self.table = option_table(OS_FAMILY, platform.machine())

    def socket(self, family, kind):
        return socket.socket(family, kind)

    def sender(self, family, kind, dest):
        """A socket for distribute to send from, to `dest`."""
        return socket.socket(family, kind)

    def wait(self, rsocks, wsocks, deadline):
        return wait_fds(rsocks, wsocks, deadline)

    def settle(self, deadline):
        """Nothing to wait for: a host's loopback delivers within the call that sends."""

    def errno_name(self, num):
        return errno_name(num)

    def so_error(self, sock):
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def linger_rst(self, sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)

    def v6only(self, sock):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)

    def bsd_layout(self):
        return self.family != "linux"  # sin_len first, then a one-byte family (4.4BSD)

    def af_numbers(self):
        return {"unspec": 0, "inet": socket.AF_INET, "inet6": socket.AF_INET6,
                socket.AF_INET: socket.AF_INET, socket.AF_INET6: socket.AF_INET6}

    def pending(self, sock):
        """FIONREAD: the bytes waiting to be read (TCP) or the next datagram's size (UDP)."""
        number = FIONREAD[self.family == "linux" and "linux" or "bsd"]
        for prefix in ODD_FIONREAD:
            if self.family == "linux" and platform.machine().startswith(prefix):
                number = ODD_FIONREAD[prefix]
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), number, struct.pack("i", 0)))[0]

    def poll(self, sock, mask, timeout_ms):
        """poll(2) on one socket: the revents bits, 0 when nothing happened within the timeout."""
        if not hasattr(select, "poll"):
            raise Unsupported("this Python has no poll()")
        poller = select.poll()
        poller.register(sock.fileno(), mask)
        got = poller.poll(timeout_ms)
        return got and got[0][1] or 0

    def call_raw(self, sock, name, raw, data=b"", flags=0):
        """bind, connect or sendto with the sockaddr bytes as given (the socket module would check
        them first): through the C library."""
        lib = c_library()
        if lib is None:
            raise Unsupported("a malformed address is passed through ctypes, which this Python lacks")
        func = getattr(lib, name)
        buf = ctypes.create_string_buffer(raw, max(1, len(raw)))
        if name == "sendto":
            func.restype = getattr(ctypes, "c_ssize_t", ctypes.c_long)
            result = func(sock.fileno(), data, ctypes.c_size_t(len(data)), flags, buf, ctypes.c_uint(len(raw)))
        else:
            result = func(sock.fileno(), buf, ctypes.c_uint(len(raw)))
        if result == -1:
            num = ctypes.get_errno()
            raise socket.error(num, os.strerror(num))
        return result

    def read_setting(self, name):
        return read_setting(name)

    def write_setting(self, name, value):
        """Set a kernel setting of this machine (or of the scenario's network namespace): Linux
        /proc/sys, the BSDs and macOS sysctl(8). Skip if the kernel has no such setting."""
        if self.family == "linux":
            path = "/proc/sys/" + name.replace(".", "/")
            if not os.path.exists(path):
                raise Skip("sysctl: this kernel has no setting %s" % name)
            try:
                handle = open(path, "w")
                try:
                    handle.write(value)
                finally:
                    handle.close()
            except (IOError, OSError):
                raise InfraError("sysctl: setting %s to %s: %s" % (name, value, errno_name(exc_errno(sys.exc_info()[1]))))
            return
        tool = [path for path in SYSCTL if os.path.exists(path)]
        if not tool:
            raise Skip("sysctl: no sysctl(8) here to set %s" % name)
        proc = subprocess.Popen([tool[0], "%s=%s" % (name, value)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = proc.communicate()[0].decode("ascii", "replace").strip()
        if proc.returncode != 0:
            raise InfraError("sysctl: setting %s to %s: %s" % (name, value, out))

    def usable_port(self, port):
        """Whether a symbolic port may be this free port (RumpProcess says why not always)."""
        return True


class Channel(object):
    """JSON lines over pipe ends: how the agent, supervisor and actors talk."""

    def __init__(self, rfd=None, wfd=None):
        self.rfd, self.wfd, self.buf = rfd, wfd, b""

    def fileno(self):
        return self.rfd

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode("ascii")
        while data:
            data = data[os.write(self.wfd, data):]

    def pending(self):
        """A whole message is already buffered (select would not see it)."""
        return b"\n" in self.buf

    def recv(self, deadline=None):
        """The next message, None at end of file; Timeout past deadline."""
        while b"\n" not in self.buf:
            if deadline is not None and not wait_fds([self.rfd], [], deadline)[0]:
                raise Timeout()
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode("ascii"))

    def close(self):
        for fd in (self.rfd, self.wfd):
            if fd is not None:
                os.close(fd)


def wait_channels(chans, deadline):
    """The channels with a message ready, waiting until deadline for one."""
    ready = [c for c in chans if c.pending()]
    if ready:
        return ready
    return wait_fds(chans, [], deadline)[0]


# ---------------------------------------------------------------------------
# Identity and platform hooks

def identity():
    """What the harness's selectors match on: family and numeric version."""
    system = platform.system()
    release = platform.release()
    match = re.match(r"\d+(\.\d+)*", release)
    version = match and match.group(0) or ""
    if system == "Darwin":  # selectors compare the macOS product version
        version = platform.mac_ver()[0] or version
    return {"system": system, "release": release, "version": version,
            "family": system.lower(), "machine": platform.machine(),
            "python": platform.python_version(),
            "hostname": socket.gethostname(), "uid": os.getuid(),
            "netns": netns_support()}


def netns_support():
    """Whether scenarios can get a network namespace each here, or why not (said in the identity)."""
    if OS_FAMILY != "linux":
        return "not on %s" % OS_FAMILY
    if libc() is None:
        return "unavailable: this Python has no ctypes"
    return "available"


# Kernel settings that change what some scenarios observe, recorded with every
# run: Linux reads /proc/sys, the BSDs and macOS ask sysctl(8).
SETTINGS = {
    "linux": ("net.ipv6.bindv6only", "net.ipv4.ip_local_port_range"),
    "freebsd": ("net.inet6.ip6.v6only", "net.inet.tcp.nolocaltimewait",
                "net.inet.tcp.blackhole", "net.inet.udp.blackhole"),
    "darwin": ("net.inet6.ip6.v6only", "net.inet.tcp.blackhole", "net.inet.udp.blackhole"),
    "netbsd": ("net.inet6.ip6.v6only",),
}
SYSCTL = ("/sbin/sysctl", "/usr/sbin/sysctl")  # not always on a login user's PATH


def read_setting(name):
    """One kernel setting as text ("0", "32768 60999"), or None if it cannot be read."""
    if OS_FAMILY == "linux":
        try:
            handle = open("/proc/sys/" + name.replace(".", "/"))
            try:
                return " ".join(handle.read().split())
            finally:
                handle.close()
        except (IOError, OSError):
            return None
    import subprocess  # the BSDs' sysctl(8) only: Linux reads /proc
    for tool in SYSCTL:
        if os.path.exists(tool):
            proc = subprocess.Popen([tool, "-n", name], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            out = proc.communicate()[0].decode("ascii", "replace").strip()
            return proc.returncode == 0 and out or None
    return None


def environment():
    return dict((name, read_setting(name)) for name in SETTINGS.get(OS_FAMILY, ()))


def use_netns(options):
    """A namespace per scenario when asked for and possible; without ctypes, scenarios share the
    host's network (fresh ports keep them apart) rather than not running at all."""
    return bool(options.get("netns")) and netns_support() == "available"


def environment_event(options):
    """The settings as the scenarios will see them: in a namespace of their own when they get one."""
    event = {"event": ENVIRONMENT, "where": "host", "values": None}
    if rump_library() is not None:
        event.update(where="each scenario's own rump kernel, as booted", values=rump_library().facts["settings"])
        return event
    if options.get("netns") and not use_netns(options):
        event["where"] = "host: no network namespace per scenario (%s)" % netns_support()
    if not use_netns(options):
        event["values"] = environment()
        return event
    event["where"] = "scenario network namespace"
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        run_child(report_namespace_environment, Channel(wfd=write_fd))
    os.close(write_fd)
    chan = Channel(rfd=read_fd)
    try:
        event["values"] = chan.recv(now() + 10)
    except (Timeout, ValueError):
        pass
    chan.close()
    os.waitpid(pid, 0)
    return event


def report_namespace_environment(chan):
    try:
        enter_netns()
    except InfraError:
        sys.stderr.write("agent: %s\n" % sys.exc_info()[1])
        return  # the scenarios will say why, each with status error
    chan.send(environment())


def option_table(family, machine):
    """This OS's numbers by name; a name it lacks is absent or None.

    Where we have no table (an unknown OS), or the Linux port has its own
    SOL_SOCKET/SO_* numbers, the socket module's constants stand in: it was
    compiled against this system's headers (but may lack SO_REUSEPORT).
    """
    table = OPTION_TABLES.get(family)
    if table is None:
        names = list(OPTION_LEVELS) + ["SOL_SOCKET", "IPPROTO_IP", "IPPROTO_TCP", "IPPROTO_IPV6"]
        table = dict((name, getattr(socket, name, None)) for name in names)
    elif family == "linux" and machine.startswith(ODD_LINUX_ARCHES):
        table = dict(table)
        for name in list(table):
            if name.startswith("SO"):
                table[name] = getattr(socket, name, None)
    return table


HOST = HostKernel()


_LIBC = []


def dlopen_self():
    """This process's C library through ctypes, or None (no ctypes, or it cannot be loaded)."""
    if ctypes is None:
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def libc():
    """The C library through ctypes (Linux only), loaded once before forking."""
    if not _LIBC:
        _LIBC.append(sys.platform.startswith("linux") and dlopen_self() or None)
    return _LIBC[0]


_ANY_LIBC = []


def c_library():
    """This process's C library through ctypes on any system (libc() is Linux's, for prctl and
    unshare), for the calls the socket module checks before the kernel sees them."""
    if not _ANY_LIBC:
        _ANY_LIBC.append(libc() or dlopen_self())
    return _ANY_LIBC[0]


def prctl(option, value):
    """Best-effort prctl: a missing feature only weakens cleanup guarantees."""
    lib = libc()
    if lib is not None:
        lib.prctl(option, value, 0, 0, 0)


def enter_netns():
    """A private network namespace: no scenario sees another's ports or TIME_WAIT."""
    lib = libc()
    if lib is None:
        raise InfraError("netns needs ctypes and Linux")
    if lib.unshare(CLONE_NEWNET) != 0:
        raise InfraError("unshare(CLONE_NEWNET): %s" % errno_name(ctypes.get_errno()))
    lo_index = bring_up_lo()
    try:
        add_multicast_route(lo_index)
    except (socket.error, OSError, IOError):
        exc = sys.exc_info()[1]
        sys.stderr.write("agent: no multicast route on lo: %s\n" % exc)


def bring_up_lo():
    """A new namespace's lo is down; up, it carries 127/8 and ::1.  Its ifindex."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fd = probe.fileno()
        flags = struct.unpack("16sh14x", fcntl.ioctl(fd, SIOCGIFFLAGS, ifreq(0)))[1]
        fcntl.ioctl(fd, SIOCSIFFLAGS, ifreq(flags | IFF_UP | IFF_MULTICAST))
        return struct.unpack("16si12x", fcntl.ioctl(fd, SIOCGIFINDEX, ifreq(0)))[1]
    finally:
        probe.close()


def ifreq(value):
    """struct ifreq for lo: the name, then a short (flags) or int (index)."""
    return struct.pack("16sh14x", b"lo", value)


def netlink_attr(kind, payload):
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("HH", 4 + len(payload), kind) + payload + b"\0" * pad


def add_multicast_route(lo_index):
    """224.0.0.0/4 via lo (ip route add 224.0.0.0/4 dev lo src 127.0.0.1).

    Without it joining a group or sending to one fails with ENODEV/ENETUNREACH
    in a namespace that has nothing but lo.
    """
    # struct rtmsg: family, dst_len, src_len, tos, table main, proto static,
    # scope link, type unicast, flags.
    body = struct.pack("BBBBBBBBI", socket.AF_INET, 4, 0, 0, 254, 4, 253, 1, 0)
    body += netlink_attr(RTA_DST, socket.inet_aton("224.0.0.0"))
    body += netlink_attr(RTA_PREFSRC, socket.inet_aton("127.0.0.1"))
    body += netlink_attr(RTA_OIF, struct.pack("i", lo_index))
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    header = struct.pack("IHHII", 16 + len(body), RTM_NEWROUTE, flags, 1, 0)
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    try:
        nl.settimeout(1.0)
        nl.send(header + body)
        err = struct.unpack("i", nl.recv(4096)[16:20])[0]
    finally:
        nl.close()
    if err:
        raise OSError(-err, os.strerror(-err))


def switch_user(user):
    """Become `user` (no supplementary groups) or raise Skip saying why."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise Skip("no such user: %s" % user)
    if (pw.pw_uid, pw.pw_gid) == (os.geteuid(), os.getegid()):
        return
    if os.geteuid() != 0:
        raise Skip("switching to user %s needs root" % user)
    try:
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    except OSError:
        raise Skip("cannot switch to user %s: %s"
                   % (user, errno_name(exc_errno(sys.exc_info()[1]))))


def run_child(func, *args):
    """Run func in a freshly forked child and never return into the parent's code.

    os._exit also keeps the child from flushing stdio buffers it inherited.
    """
    code = 0
    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        func(*args)
    except BaseException:
        print_traceback()
        code = 1
    os._exit(code)


def describe_exit(status):
    if os.WIFSIGNALED(status):
        return "killed by signal %d" % os.WTERMSIG(status)
    return "exit status %d" % os.WEXITSTATUS(status)


# ---------------------------------------------------------------------------
# Addresses and ports

def resolve_addr(addr, family):
    """Symbolic names to literals; an IPv4 address on an inet6 socket is v4-mapped."""
    host = native(ADDRESSES.get(addr, addr))
    if family == socket.AF_INET6 and re.match(r"^\d+\.\d+\.\d+\.\d+$", host):
        host = "::ffff:" + host
    return host


def sockaddr(family, addr, port):
    host = resolve_addr(addr, family)
    if family == socket.AF_INET6:
        return (host, port, 0, 0)
    return (host, port)


def family_of(addr):
    return socket.AF_INET6 if ":" in ADDRESSES.get(addr, addr) else socket.AF_INET


def is_port_name(port):
    """True for port names (`P`, `http`); numbers and digit strings are ports."""
    return isinstance(port, (str, TEXT)) and not port.isdigit()


def port_names(steps):
    """Symbolic port names in order of first use, but those a getsockname step reads (`as`)."""
    names, read = [], [step.get("as") for step in steps if step["op"] == "getsockname"]
    for step in steps:
        for port in (step.get("port"), (step.get("to") or {}).get("port")):
            if is_port_name(port) and port not in names and port not in read:
                names.append(port)
    return names


def avoided_ranges(settings):
    """The port ranges a scenario's settings make ephemeral (its `sysctl:`): the ports allocated for
    its names stay out of them, which the scenario may mean to exhaust."""
    values = dict((item["name"], item["value"]) for item in settings)
    spans = []
    for low, high in RANGE_SETTINGS:
        text = (values.get(low, "") + " " + (high and values.get(high, "") or "")).split()
        if len(text) == 2 and text[0].isdigit() and text[1].isdigit():
            spans.append((int(text[0]), int(text[1])))
    return spans


def ipv6_available(kernel):
    try:
        kernel.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        return True
    except socket.error:
        return False


def probe_bind(kernel, held, family, kind, port):
    """Bind a probe socket to the wildcard; True if the port was free."""
    probe = kernel.socket(family, kind)
    held.append(probe)
    if family == socket.AF_INET6:  # judge IPv6 apart from our IPv4 probes
        kernel.v6only(probe)
    try:
        probe.bind(sockaddr(family, "any6" if family == socket.AF_INET6 else "any", port))
    except socket.error:
        return False
    return True


def allocate_ports(kernel, names, avoid=()):
    """Distinct ports, each free for TCP and UDP (IPv4 and IPv6) on the wildcard, none in `avoid`.

    Probes stay bound until every name has a port, so names never collide.
    """
    checks = [(socket.AF_INET, socket.SOCK_DGRAM)]
    if ipv6_available(kernel):
        checks += [(socket.AF_INET6, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM)]
    held, ports = [], {}
    try:
        for name in names:
            ports[name] = free_port(kernel, held, checks, avoid)
    finally:
        for probe in held:
            probe.close()
    return ports


def free_port(kernel, held, checks, avoid=()):
    """A port the kernel picks for TCP on 0.0.0.0 that every other probe can bind too."""
    for _ in range(100):
        first = kernel.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(first)
        first.bind(("0.0.0.0", 0))
        port = first.getsockname()[1]
        if [span for span in avoid if span[0] <= port <= span[1]]:
            continue  # kept bound, so that the kernel picks another
        if kernel.usable_port(port) and all(probe_bind(kernel, held, family, kind, port) for family, kind in checks):
            return port
    raise InfraError("found no port free for both TCP and UDP")


# ---------------------------------------------------------------------------
# Actor: owns sockets and runs the steps it is sent

def known_ops():
    """Every op this agent can run (harness/scenario/ops.py must list the same)."""
    return sorted(list(SUPERVISOR_OPS) + [name[3:] for name in dir(Actor) if name.startswith("op_")])


class Actor(object):
    """One scenario actor process; the supervisor sends it one step at a time."""

    def __init__(self, chan, kernel):
        self.chan, self.kernel, self.table = chan, kernel, kernel.table
        self.socks = {}
        self.unnamed = []  # accepted without `as`: kept open, as a C program would

    def serve(self):
        while True:
            msg = self.chan.recv()
            if msg is None:
                return
            if msg["op"] == "_serve":
                self.serve_distribute(msg["socks"], msg["type"])
                continue
            try:
                reply = msg["op"] == "_together" and self.together(msg["steps"]) or self.run_step(msg)
            except Exception:
                reply = {"crash": exception_line()}
            self.chan.send(reply)

    def together(self, steps):
        """Armed with a together: group's steps: say so, wait for go, then run them in order."""
        self.chan.send({"armed": True})
        go = self.chan.recv()
        if go is None:
            return {"crash": "the supervisor went away before go"}
        return {"results": [self.run_step(step) for step in steps]}

    def run_step(self, step):
        start = now()
        handler = getattr(self, "op_" + step["op"], None)
        if handler is None:  # a harness defect, never an outcome a scenario could expect
            raise InfraError("the agent has no op %s" % step["op"])
        try:
            result = handler(step) or {}
            result["outcome"] = "ok"
        except Timeout:
            result = {"outcome": "timeout"}
        except Unsupported:
            result = {"outcome": "unsupported", "detail": str(sys.exc_info()[1])}
        except (socket.error, OSError, IOError):
            result = failure(sys.exc_info()[1], self.kernel)
        except (ValueError, TypeError, OverflowError):
            # Python refused the arguments before the kernel saw them.
            result = {"outcome": "EINVAL", "detail": str(sys.exc_info()[1])}
        result["ms"] = ms_since(start)
        return result

    def sock(self, name):
        try:
            return self.socks[name]
        except KeyError:
            raise socket.error(errno.EBADF, "no open socket named %s" % name)

    def deadline(self, step):
        return now() + step["timeout_ms"] / 1000.0

    def option(self, step):
        """(level, number) of the step's option on this OS, or Unsupported."""
        name = step["opt"]
        level_name = step.get("level") or OPTION_LEVELS.get(name, "SOL_SOCKET")
        for wanted in (name, level_name):
            if self.table.get(wanted) is None:
                raise Unsupported("%s is not defined on %s" % (wanted, self.kernel.family))
        return self.table[level_name], self.table[name]

    # -- the ops --------------------------------------------------------

    def op_socket(self, step):
        sock = self.kernel.socket(ADDRESS_FAMILIES[step["family"]], TYPES[step["type"]])
        if step.get("v6only") is not None:  # a family variant says it, whatever the system's default
            try:
                level, number = self.option({"opt": "IPV6_V6ONLY"})
                sock.setsockopt(level, number, int(step["v6only"]))
            except Exception:
                sock.close()  # the step failed: no half-made socket under its name
                raise
        sock.setblocking(0)
        if step["sock"] in self.socks:  # a reused name: keep the old one open
            self.unnamed.append(self.socks[step["sock"]])
        self.socks[step["sock"]] = sock

    def op_setsockopt(self, step):
        level, number = self.option(step)
        value = self.encode(step["opt"], step["value"])
        if step.get("size") is not None:  # a short or long value: padded with zeros, or cut
            raw = isinstance(value, bytes) and value or struct.pack("I", value & 0xffffffff)
            value = (raw + b"\0" * step["size"])[:step["size"]]
        self.sock(step["sock"]).setsockopt(level, number, value)

    def encode(self, name, value):
        if name == "SO_LINGER":  # false: l_onoff=0 (off); a number: on, that many seconds
            if value is False:
                return struct.pack("ii", 0, 0)
            return struct.pack("ii", 1, int(value))
        if name == "IP_ADD_MEMBERSHIP":  # struct ip_mreq, interface INADDR_ANY
            group = resolve_addr(value, socket.AF_INET)
            return socket.inet_aton(group) + socket.inet_aton("0.0.0.0")
        if name == "SO_BINDTODEVICE":  # the interface name, NUL-terminated
            return native(value).encode("ascii") + b"\0" if not isinstance(value, bytes) else value + b"\0"
        if name == "IP_LOCAL_PORT_RANGE" and isinstance(value, list):  # [low, high]: high << 16 | low
            return struct.pack("I", (value[1] << 16) | value[0])
        if isinstance(value, int) and value > 0x7fffffff:  # a 32-bit word written as unsigned
            return struct.pack("I", value)
        return int(value)

    def op_getsockopt(self, step):
        level, number = self.option(step)
        sock = self.sock(step["sock"])
        if step["opt"] == "SO_LINGER":
            onoff, linger = struct.unpack("ii", sock.getsockopt(level, number, 8))
            return {"value": linger, "raw": [onoff, linger]}
        if step["opt"] == "IP_LOCAL_PORT_RANGE":
            raw = struct.unpack("I", sock.getsockopt(level, number, 4)[:4])[0]
            return {"value": [raw & 0xffff, raw >> 16], "raw": raw}
        if step["opt"] == "SO_BINDTODEVICE":
            name = sock.getsockopt(level, number, 16).split(b"\0")[0].decode("ascii", "replace")
            return {"value": name, "raw": name}
        # What the kernel returned, as it returned it: for a boolean option Linux and
        # NetBSD say 1, FreeBSD, macOS, OpenBSD and DragonFly the option's flag bit.
        raw = sock.getsockopt(level, number)
        return {"value": raw, "raw": raw}

    def address(self, sock, step):
        """Where the step points (addr, port), or the sockaddr bytes of a malformed one (`sockaddr:`)."""
        addr = sockaddr(sock.family, step["addr"], step["port"])
        if step.get("sockaddr"):
            return self.kernel.sockaddr_bytes(sock.family, addr, step["sockaddr"])
        return addr

    def op_bind(self, step):
        sock = self.sock(step["sock"])
        addr = self.address(sock, step)
        if isinstance(addr, bytes):
            self.kernel.call_raw(sock, "bind", addr)
        else:
            sock.bind(addr)

    def op_listen(self, step):
        self.sock(step["sock"]).listen(step["backlog"])

    def op_connect(self, step):
        sock = self.sock(step["sock"])
        addr = self.address(sock, step)
        if isinstance(addr, bytes):
            try:
                self.kernel.call_raw(sock, "connect", addr)
                err = 0
            except socket.error:
                err = exc_errno(sys.exc_info()[1])
        else:
            err = sock.connect_ex(addr)
        if step.get("wait") is False:  # one non-blocking call: its answer as is (EINPROGRESS...)
            if err:
                raise socket.error(err, self.kernel.errno_name(err))
            return
        self.finish_connect(sock, err, self.deadline(step))

    def finish_connect(self, sock, err, deadline):
        """A non-blocking connect's outcome as a blocking one would return it: waited for until
        deadline (Timeout), then SO_ERROR (also through EALREADY, a handshake still under way)."""
        if self.kernel.errno_name(err) in STILL_CONNECTING:
            if not wait_ready(self.kernel, sock, True, deadline):
                raise Timeout()
            err = self.kernel.so_error(sock)
        if err:
            raise socket.error(err, self.kernel.errno_name(err))

    def op_accept(self, step):
        names = [step["sock"]] + list(step.get("or") or ())
        socks = [self.sock(name) for name in names]
        conn, peer, name = accept_any(self.kernel, names, socks, self.deadline(step))
        conn.setblocking(0)
        if step.get("as"):
            self.socks[step["as"]] = conn
        else:
            self.unnamed.append(conn)
        return {"peer": [peer[0], peer[1]], "from": name}

    def op_send(self, step):
        return self.send(step, None)

    def op_sendto(self, step):
        return self.send(step, self.address(self.sock(step["sock"]), step))

    def send(self, step, dest):
        """send or sendto (`dest`) with the step's flags, waited for as a blocking call would be. An
        implied connect (MSG_FASTOPEN on a TCP socket) that is under way is waited for, then the data
        sent, as a blocking sendto does."""
        sock = self.sock(step["sock"])
        data = step["data"].encode("utf-8")
        flags = self.kernel.msg_flags(step.get("flags") or ())
        deadline = self.deadline(step)

        def call():
            if isinstance(dest, bytes):
                return self.kernel.call_raw(sock, "sendto", dest, data, flags)
            if dest is None:
                return sock.send(data, flags)
            return sock.sendto(data, flags, dest)
        try:
            sent = retry_until(self.kernel, sock, True, deadline, call)
        except socket.error:
            err = exc_errno(sys.exc_info()[1])
            if "fastopen" not in (step.get("flags") or ()) or self.kernel.errno_name(err) not in IN_PROGRESS:
                raise
            self.finish_connect(sock, err, deadline)
            sent = data and retry_until(self.kernel, sock, True, deadline, lambda: sock.send(data)) or 0
        return {"bytes": sent}

    def op_recv(self, step):
        sock = self.sock(step["sock"])
        data = retry_until(self.kernel, sock, False, self.deadline(step), lambda: sock.recv(step["size"]))
        return {"data": data.decode("utf-8", "replace"), "bytes": len(data)}

    def op_recvfrom(self, step):
        sock = self.sock(step["sock"])
        data, peer = retry_until(self.kernel, sock, False, self.deadline(step),
                                 lambda: sock.recvfrom(step["size"]))
        return {"data": data.decode("utf-8", "replace"), "bytes": len(data),
                "peer": peer and [peer[0], peer[1]] or None}

    def op_getsockname(self, step):
        """The bound address and port (the supervisor adds which port names it equals, and the
        system's ephemeral range, and keeps it as `as` for later steps)."""
        name = self.sock(step["sock"]).getsockname()
        return {"addr": name and name[0] or None, "port": name and name[1] or 0}

    def op_poll(self, step):
        """poll(2) for the step's events on one socket, up to timeout_ms: what it reported ([] if
        nothing happened in time, as poll returning 0)."""
        sock = self.sock(step["sock"])
        revents = self.kernel.poll(sock, self.kernel.poll_mask(step["events"]), step["timeout_ms"])
        return {"events": self.kernel.poll_names(revents)}

    def op_pending(self, step):
        return {"value": self.kernel.pending(self.sock(step["sock"]))}

    def op_close(self, step):
        sock = self.sock(step["sock"])
        del self.socks[step["sock"]]
        sock.close()

    def op_shutdown(self, step):
        self.sock(step["sock"]).shutdown(SHUTDOWN_HOW[step["how"]])

    # -- distribute -----------------------------------------------------

    def serve_distribute(self, names, kind):
        """Accept (TCP) or receive (UDP) on `names` until told to stop.

        Each wakeup's receipts go to the supervisor as one `got` message of
        [socket, key] pairs; the key identifies the connection (client port)
        or datagram (payload) so the supervisor can tell what was lost.
        """
        active = {}
        for name in names:
            if name in self.socks:
                active[self.socks[name]] = name
        self.chan.send({"serving": True, "room": self.room(active, kind)})
        while True:
            if self.chan.pending():
                ready = [self.chan]
            else:
                ready = wait_fds([self.chan] + list(active), [], None)[0]
            if self.chan in ready:
                if self.chan.recv() is not None:
                    self.chan.send({"stopped": True})
                return
            got = []
            for sock in ready:
                got.extend(self.drain(sock, active, kind))
            if got:
                self.chan.send({"got": got})

    def room(self, active, kind):
        """How many datagrams the smallest receive queue of `active` holds (None for TCP)."""
        if kind == "tcp" or not active:
            return None
        sizes = []
        for sock in active:
            try:
                sizes.append(sock.getsockopt(self.table["SOL_SOCKET"], self.table["SO_RCVBUF"]))
            except socket.error:
                pass
        return sizes and max(1, min(sizes) // DATAGRAM_COST) or 1

    def drain(self, sock, active, kind):
        """Everything pending on sock; a socket that fails for good leaves the loop, and so does
        one whose one-shot error comes again at once (NetBSD: a listener shut down for reading
        answers every accept ECONNABORTED)."""
        got = []
        name = active[sock]
        transient = None
        while True:
            try:
                if kind == "tcp":
                    conn, peer = sock.accept()
                    close_rst(self.kernel, conn)
                    got.append([name, peer[1]])
                else:
                    data, peer = sock.recvfrom(256)
                    if not data and not peer:  # shut down for reading (NetBSD: an endless end of file)
                        del active[sock]
                        return got
                    got.append([name, data.decode("ascii", "replace")])
                transient = None
            except socket.error:
                error = self.kernel.errno_name(exc_errno(sys.exc_info()[1]))
                if error in AGAIN:
                    return got
                if error not in TRANSIENT or error == transient:
                    del active[sock]
                    return got
                transient = error  # a one-shot error (aborted connection, ICMP): keep draining


def actor_main(chan, user):
    """An actor process: become the user, say ready (or why not), then serve."""
    try:
        if user:
            switch_user(user)
    except Skip:
        chan.send({"skip": str(sys.exc_info()[1])})
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    chan.send({"ready": True})
    Actor(chan, HOST).serve()


class InlineActor(object):
    """An actor run inside the supervisor. On the host, the `main` actor of most scenarios (one
    actor, as the invoking user, no distribute), where a second process would only add a fork and
    two pipe messages per step; on a rump kernel, every actor (a process of that kernel: `kernel`).
    It answers as an ActorHandle does; its sockets close with the scenario, as a killed actor's do.
    For distribute it only records what it serves: the supervisor drains it (Tally.poll_inline)."""

    pid = None  # no process to kill

    def __init__(self, name, kernel):
        self.name, self.actor, self.step = name, Actor(None, kernel), None
        self.active, self.kind = {}, None  # sockets served (-> their names) during distribute

    def send(self, msg, what):
        self.step = msg

    def reply(self, deadline, what):
        step, self.step = self.step, None
        if step["op"] == "_serve":
            self.kind = step["type"]
            self.active = dict((self.actor.socks[name], name) for name in step["socks"]
                               if name in self.actor.socks)
            return {"serving": True, "room": self.actor.room(self.active, self.kind)}
        if step["op"] == "_stop":
            self.active = {}
            return {"stopped": True}
        try:
            return self.actor.run_step(step)
        except InfraError:
            raise
        except Exception:
            raise InfraError("%s: actor %s crashed: %s" % (
                what, self.name, exception_line()))

    def close(self):
        """At the scenario's end. NetBSD's close can fail (ENOTCONN for a UDP socket connected to
        the unspecified address: soclose's sodisconnect); what a step did not ask about is no outcome."""
        for sock in list(self.actor.socks.values()) + self.actor.unnamed:
            try:
                sock.close()
            except socket.error:
                pass
        self.actor.socks, self.actor.unnamed = {}, []


# ---------------------------------------------------------------------------
# Supervisor: one per scenario, drives the actors step by step

class ActorHandle(object):
    """The supervisor's side of one actor process."""

    def __init__(self, name, pid, chan):
        self.name, self.pid, self.chan = name, pid, chan

    def send(self, msg, what):
        try:
            self.chan.send(msg)
        except OSError:  # EPIPE: nobody reads the other end any more
            raise self.died(what)

    def reply(self, deadline, what):
        """The actor's next message; its death or silence is an infrastructure error."""
        try:
            msg = self.chan.recv(deadline)
        except Timeout:
            raise InfraError("%s: actor %s did not answer in time" % (what, self.name))
        if msg is None:
            raise self.died(what)
        if "crash" in msg:
            raise InfraError("%s: actor %s crashed: %s" % (what, self.name, msg["crash"]))
        return msg

    def close(self):
        self.chan.close()

    def died(self, what):
        """Reap the dead actor; the error that says how it ended."""
        status = os.waitpid(self.pid, 0)[1]
        self.pid = None
        return InfraError("%s: actor %s died (%s)" % (what, self.name, describe_exit(status)))


class Supervisor(object):
    """Runs one scenario: namespace, ports, actors, then the steps in order."""

    def __init__(self, scenario, options, out):
        self.scenario, self.options, self.out = scenario, options, out
        self.step_timeout = options.get("step_timeout_ms", 5000) / 1000.0
        self.kernel = HOST  # the kernel the scenario calls; a rump kernel's process of its own
        self.actors = {}
        self.owner = {}  # socket name -> actor name
        self.kind = {}   # socket name -> tcp/udp
        self.backlog = {}  # socket name -> listen backlog (paces distribute)
        self.ports = {}

    def run(self):
        status = {"status": "ran", "reason": None}
        try:
            self.prepare()
            steps, index = self.scenario["steps"], 0
            while index < len(steps):
                if steps[index].get("together") is None:
                    self.out.send({"step": self.run_step(index + 1, steps[index])})
                    index += 1
                    continue
                length = self.group_length(index)
                for result in self.run_together(index + 1, steps[index:index + length]):
                    self.out.send({"step": result})
                index += length
        except Skip:
            status = {"status": "skipped", "reason": str(sys.exc_info()[1])}
        except InfraError:
            status = {"status": "error", "reason": str(sys.exc_info()[1])}
        except Exception:  # a bug or exhausted resources: still report and clean up
            print_traceback()
            status = {"status": "error", "reason": "agent failure: %s"
                      % exception_line()}
        self.stop_actors()  # before reporting: nothing outlives the scenario
        self.out.send(status)

    def group_length(self, index):
        """How many steps from `index` on belong to its together: group (they are consecutive)."""
        steps, group, end = self.scenario["steps"], self.scenario["steps"][index].get("together"), index
        while end < len(steps) and steps[end].get("together") == group:
            end += 1
        return end - index

    def prepare(self):
        if use_netns(self.options):
            enter_netns()
        if rump_library() is not None:
            self.kernel = rump_library().boot().process(None)
        steps = self.scenario["steps"]
        if self.kernel.inline_actors and [step for step in steps if step.get("together") is not None]:
            raise Skip("together: actors cannot run at the same time here: one host thread drives the "
                       "rump kernel's processes, one call after another")
        settings = self.scenario.get("sysctl") or []
        self.ports = allocate_ports(self.kernel, port_names(steps), avoided_ranges(settings))
        self.out.send({"ports": self.ports})
        self.apply_settings(settings)
        actors = self.scenario.get("actors") or {"main": {}}
        if self.kernel.inline_actors:  # processes of the scenario's rump kernel
            for name in sorted(actors):
                try:
                    kernel = self.kernel.process((actors[name] or {}).get("user"))
                except Skip:
                    raise Skip("actor %s: %s" % (name, sys.exc_info()[1]))
                self.actors[name] = InlineActor(name, kernel)
            return
        if self.inline(actors):
            self.actors["main"] = InlineActor("main", HOST)
            return
        for name in sorted(actors):
            self.spawn(name, (actors[name] or {}).get("user"))
        deadline = now() + self.step_timeout
        for handle in self.actors.values():
            msg = handle.reply(deadline, "start")
            if "skip" in msg:
                raise Skip("actor %s: %s" % (handle.name, msg["skip"]))

    def inline(self, actors):
        """Whether the one actor, `main` as the invoking user, can run inside this process: only
        distribute needs actors serving while the supervisor sends them traffic."""
        return (list(actors) == ["main"] and not (actors["main"] or {}).get("user")
                and not any(step["op"] in SUPERVISOR_OPS for step in self.scenario["steps"]))

    def apply_settings(self, settings):
        """The scenario's `sysctl:` settings of this kernel's system, set where only the scenario sees
        them (its network namespace, its rump kernel); on the whole machine only with `host_sysctl`,
        each old value handed to the agent first, which restores it however the scenario ends."""
        if not settings:
            return
        mine = [item for item in settings if self.kernel.family in item["systems"]]
        if not mine:
            systems = sorted(set([system for item in settings for system in item["systems"]]))
            raise Skip("sysctl: the scenario sets %s, settings of %s; this is %s" % (
                ", ".join([item["name"] for item in settings]), ", ".join(systems), self.kernel.family))
        where = self.settings_scope(mine)
        if where is None and not self.options.get("host_sysctl"):
            raise Skip("sysctl: setting %s here would change the whole machine (%s); run with --host-sysctl to "
                       "allow it (restored after the scenario)" % (", ".join([item["name"] for item in mine]),
                                                                   netns_support()))
        if where is None:
            where = "the whole machine (--host-sysctl; restored after the scenario)"
            self.out.send({"restore": dict((item["name"], self.kernel.read_setting(item["name"])) for item in mine)})
        values = {}
        for item in mine:
            self.kernel.write_setting(item["name"], item["value"])
            values[item["name"]] = self.kernel.read_setting(item["name"])
        self.out.send({"sysctl": {"where": where, "values": values}})

    def settings_scope(self, settings):
        """Where settings set now stay: the scenario's network namespace (the settings Linux keeps per
        namespace), the scenario's rump kernel, or None: the whole machine."""
        if self.kernel.inline_actors:
            return "the scenario's own rump kernel"
        if use_netns(self.options) and [item for item in settings if item["per_netns"]] == settings:
            return "the scenario's network namespace"
        return None

    def spawn(self, name, user):
        cmd_r, cmd_w = os.pipe()
        rep_r, rep_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(cmd_w)
            os.close(rep_r)
            self.out.close()
            for other in self.actors.values():
                other.chan.close()
            run_child(actor_main, Channel(cmd_r, rep_w), user)
        os.close(cmd_r)
        os.close(rep_w)
        self.actors[name] = ActorHandle(name, pid, Channel(rep_r, cmd_w))

    def stop_actors(self):
        """Kill every actor, then reap them: they die in parallel."""
        alive = [handle.pid for handle in self.actors.values() if handle.pid is not None]
        for pid in alive:
            os.kill(pid, signal.SIGKILL)  # a dead, unreaped actor is still there to kill
        for pid in alive:
            os.waitpid(pid, 0)
        for handle in self.actors.values():
            handle.close()
        self.actors = {}

    def port(self, port, what="a step"):
        if is_port_name(port):
            if port not in self.ports:
                raise InfraError("%s uses port %s, which the getsockname step meant to read it did not "
                                 "(it failed)" % (what, port))
            return self.ports[port]
        if isinstance(port, (str, TEXT)):
            return int(port)
        return port

    def resolved(self, index, step):
        """The step as an actor runs it: its port names replaced by numbers."""
        step = dict(step)
        if "port" in step:
            step["port"] = self.port(step["port"], "step %d (%s)" % (index, step["op"]))
        return step

    def read_name(self, step, result):
        """getsockname's observation completed: the port names its port equals, the system's ephemeral
        range where the scenario runs, and how it reads in reports (`port_is`); a port read `as` a name
        is that name's for the steps after it."""
        if step["op"] != "getsockname" or result.get("outcome") != "ok":
            return result
        port = result.get("port")
        names = [name for name in sorted(self.ports) if self.ports[name] == port]
        span = self.kernel.ephemeral_range()
        result["names"], result["range"] = names, span
        kind = span and span[0] <= port <= span[1] and "ephemeral" or "other"
        result["port_is"] = port == 0 and "0" or names and names[0] or kind
        if step.get("as"):
            self.ports[step["as"]] = port
            self.out.send({"ports": self.ports})
        return result

    def run_step(self, index, step):
        """One step's outcome record; InfraError if the actor fails to answer. The kernel settles
        first (a rump kernel finishes handling what earlier steps sent), outside the step's time."""
        self.kernel.settle(now() + self.step_timeout)
        start = now()
        step = self.resolved(index, step)
        if step["op"] == "sleep":
            time.sleep(step["ms"] / 1000.0)
            return {"outcome": "ok", "ms": ms_since(start)}
        if step["op"] == "distribute":
            step["to"] = dict(step["to"], port=self.port(step["to"]["port"], "step %d (distribute)" % index))
            result = self.distribute(index, step)
            result["ms"] = ms_since(start)
            return result
        return self.run_on_actor(index, step)

    def handle(self, name, what):
        try:
            return self.actors[name]
        except KeyError:
            raise InfraError("%s: no actor named %s" % (what, name))

    def note(self, step, actor):
        """What distribute needs to know of a step: who owns which socket, its type, its backlog."""
        if step["op"] == "socket":
            self.owner[step["sock"]] = actor
            self.kind[step["sock"]] = step["type"]
        elif step["op"] == "listen":
            self.backlog[step["sock"]] = step["backlog"]
        elif step["op"] == "accept" and step.get("as"):
            self.owner[step["as"]] = actor
            self.kind[step["as"]] = "tcp"

    def run_on_actor(self, index, step):
        what = "step %d (%s)" % (index, step["op"])
        handle = self.handle(step.get("actor") or "main", what)
        self.note(step, handle.name)
        handle.send(step, what)
        budget = (step.get("timeout_ms") or 0) / 1000.0 + self.step_timeout
        return self.read_name(step, handle.reply(now() + budget, what))

    def run_together(self, first, steps):
        """A together: group: each actor is sent its steps and armed; once all are, each is told to
        go, at once, and runs its steps in order while the others run theirs. The results, in the
        group's written order. (A port a getsockname in the group reads serves the steps after it.)"""
        what = "steps %d-%d (together)" % (first, first + len(steps) - 1)
        mine = {}
        for offset, step in enumerate(steps):
            step = self.resolved(first + offset, step)
            mine.setdefault(step.get("actor") or "main", []).append((offset, step))
            self.note(step, step.get("actor") or "main")
        handles = [self.handle(actor, what) for actor in sorted(mine)]
        for handle in handles:
            handle.send({"op": "_together", "steps": [step for _, step in mine[handle.name]]}, what)
        deadline = now() + self.step_timeout
        for handle in handles:
            handle.reply(deadline, what)  # armed
        for handle in handles:
            handle.send({"op": "_go"}, what)
        budget = sum([(step.get("timeout_ms") or 0) / 1000.0 + self.step_timeout for step in steps])
        results = [None] * len(steps)
        for handle in handles:
            for (offset, step), result in zip(mine[handle.name], handle.reply(now() + budget, what)["results"]):
                results[offset] = self.read_name(step, result)
        return results

    # -- distribute -----------------------------------------------------

    def distribute(self, index, step):
        """Who gets each of `count` connections or datagrams: see the protocol doc."""
        what = "step %d (distribute)" % index
        over = step["over"]
        kind = step.get("type") or self.kind.get(over[0], "tcp")
        to = step["to"]
        try:
            family = family_of(to["addr"])
            dest = sockaddr(family, to["addr"], to["port"])
        except (ValueError, TypeError, OverflowError):
            return {"outcome": "EINVAL", "detail": str(sys.exc_info()[1])}
        serving, rooms = self.start_serving(over, kind, what)
        tally = Tally(over, serving, self.step_timeout, kind, self.kernel)
        deadline = now() + step["timeout_ms"] / 1000.0
        try:
            if kind == "tcp":
                window = min([self.backlog.get(name, 16) for name in over] + [MAX_WINDOW])
                connect_clients(self.kernel, family, dest, step["count"], deadline, tally, max(1, window))
                tally.collect(deadline, None)
            else:
                window = min(rooms + [MAX_WINDOW])
                send_datagrams(self.kernel, family, dest, step["count"], deadline, tally, window)
                tally.collect(deadline, UDP_SETTLE)
        finally:
            tally.stop()
        return {"outcome": "ok", "histogram": tally.histogram, "lost": step["count"] - tally.received}

    def start_serving(self, over, kind, what):
        """Put every actor owning a socket in `over` into its receive loop; the handles serving, and
        how many datagrams each one's smallest receive queue holds.

        Waiting until each confirms it is looping keeps the first connections
        from piling up in a listen queue nobody accepts from yet.
        """
        by_actor = {}
        for name in over:
            if name in self.owner:
                by_actor.setdefault(self.owner[name], []).append(name)
        serving = []
        for actor, names in sorted(by_actor.items()):
            handle = self.handle(actor, what)
            handle.send({"op": "_serve", "socks": names, "type": kind}, what)
            serving.append(handle)
        deadline = now() + self.step_timeout
        rooms = []
        for handle in serving:
            room = handle.reply(deadline, what).get("room")
            if room is not None:
                rooms.append(room)
        return serving, rooms


class Tally(object):
    """The receipts of one distribute step, as the serving actors report them.

    Only this step's own connections and datagrams count: a key (client port,
    payload) is counted when it is one this step sent and has not arrived yet,
    so a connection left in a listen queue by an earlier step, or one reported
    twice, changes nothing. Each client socket is closed once its connection
    or datagram is counted (or written off), so a step holds no more
    descriptors than its window, whatever its count.
    """

    def __init__(self, over, serving, step_timeout, kind, kernel):
        self.kernel = kernel  # the supervisor's: its clients are closed through it
        self.histogram = dict((name, 0) for name in over)
        self.received = 0   # this step's keys that arrived
        self.pending = {}   # key -> client socket: sent, not reported yet (in flight)
        self.late = {}      # key -> client socket: written off after a silence; counted if it comes
        self.copies = {} if kind == "udp" else None  # udp: key -> sockets it reached (multicast copies)
        self.serving = serving
        self.inline = [handle for handle in serving if isinstance(handle, InlineActor)]
        self.chans = dict((handle.chan, handle) for handle in serving if handle not in self.inline)
        self.step_timeout = step_timeout

    def expect(self, key, client):
        self.pending[key] = client

    def poll(self, deadline):
        """Fold the reports that arrive before deadline; False if none did."""
        if self.inline:
            return self.poll_inline(deadline)
        ready = wait_channels(list(self.chans), deadline)
        for chan in ready:
            self.fold(self.chans[chan].reply(now() + self.step_timeout, "distribute"))
        return bool(ready)

    def poll_inline(self, deadline):
        """Actors inside the supervisor (a rump kernel's processes) have no receive loop of their
        own: wait on every socket they serve at once, then drain the ready ones here."""
        owners = {}
        for handle in self.inline:
            for sock in handle.active:
                owners[sock] = handle
        ready = self.inline[0].actor.kernel.wait(list(owners), [], deadline)[0]
        got = []
        for sock in ready:
            handle = owners[sock]
            got += handle.actor.drain(sock, handle.active, handle.kind)
        self.fold({"got": got})
        if ready and not got:  # readable yet nothing to take (a socket shut down): no spinning
            time.sleep(min(SPURIOUS_WAIT, max(0.0, deadline - now())))
        return bool(ready) and now() < deadline

    def fold(self, msg):
        for name, key in msg.get("got", ()):
            if name not in self.histogram:
                continue
            client = self.pending.pop(key, None) or self.late.pop(key, None)
            if client is not None:
                close_rst(self.kernel, client)
                self.received += 1
                self.histogram[name] += 1
                if self.copies is not None:
                    self.copies[key] = set([name])
            elif self.copies is not None and name not in self.copies.get(key, (name,)):
                self.copies[key].add(name)  # a multicast copy: each socket it reached counts it
                self.histogram[name] += 1

    def pace(self, window, deadline):
        """Wait while `window` or more are in flight. Receivers silent for PACE_WAIT hold nothing
        of this step: what is in flight went elsewhere (a queue outside `over`), and is written off."""
        while self.serving and len(self.pending) >= window and now() < deadline:
            if not self.poll(min(deadline, now() + PACE_WAIT)):
                self.write_off()

    def write_off(self):
        for client in self.pending.values():
            close_rst(self.kernel, client)
        self.late.update(dict.fromkeys(self.pending, CLOSED))
        self.pending = {}

    def collect(self, deadline, settle):
        """Until everything in flight arrived (and, with `settle`, then nothing
        more for that long: multicast copies), the receivers fell silent for
        COLLECT_QUIET (what is missing went elsewhere), or the deadline."""
        while self.pending and self.serving and now() < deadline:
            if not self.poll(min(deadline, now() + COLLECT_QUIET)):
                break
        while settle is not None and self.serving and now() < deadline and self.poll(min(deadline, now() + settle)):
            pass

    def stop(self):
        """End the receive loops (receipts reported before `stopped` still count); close every client."""
        try:
            for handle in self.serving:
                handle.send({"op": "_stop"}, "distribute")
            deadline = now() + self.step_timeout
            for handle in self.serving:
                while True:
                    msg = handle.reply(deadline, "distribute")
                    if msg.get("stopped"):
                        break
                    self.fold(msg)
        finally:
            self.write_off()


class Closed(object):
    """A client socket already closed (written off): closing it again does nothing."""

    def setsockopt(self, *args):
        pass

    def close(self):
        pass


CLOSED = Closed()


def connect_clients(kernel, family, dest, count, deadline, tally, window):
    """One connection per new socket, each waited for and handed to the tally.

    At most `window` (the smallest listen backlog) connections wait to be
    accepted at any time, so no listen queue overflows into a dropped SYN
    and a one-second retransmission.
    """
    for _ in range(count):
        tally.pace(window, deadline)
        client = kernel.sender(family, socket.SOCK_STREAM, dest)
        client.setblocking(0)
        err, port = -1, None
        try:
            err = client.connect_ex(dest)
            port = client.getsockname()[1]
            if kernel.errno_name(err) in IN_PROGRESS:
                wait_ready(kernel, client, True, deadline)
                err = kernel.so_error(client)
        except socket.error:
            pass  # refused or unreachable: counted as lost
        # ECONNRESET: established, and already accepted and closed (RST)
        if err == 0 or kernel.errno_name(err) == "ECONNRESET":
            tally.expect(port, client)
        else:
            close_rst(kernel, client)


def send_datagrams(kernel, family, dest, count, deadline, tally, window):
    """One datagram per new socket (distinct source ports), never more in flight than the smallest
    receive queue holds: a flood the harness makes itself must not overflow it."""
    for number in range(count):
        tally.pace(window, deadline)
        client = kernel.sender(family, socket.SOCK_DGRAM, dest)
        client.setblocking(0)
        payload = "%d" % number
        try:
            client.sendto(payload.encode("ascii"), dest)
        except socket.error:
            client.close()
            continue
        tally.expect(payload, client)


def supervisor_main(scenario, options, out, agent_pid, console):
    """The scenario's process group leader; dies with the agent (Linux)."""
    os.setpgid(0, 0)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != agent_pid:  # the agent died before prctl took effect
        return
    # Nothing of the scenario may hold the agent's stdin/stdout: whoever
    # reads the agent's output sees end-of-file exactly when the agent exits.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    if console is not None:  # a rump kernel's console, read back if it crashes
        console.attach()
    Supervisor(scenario, options, out).run()


# ---------------------------------------------------------------------------
# The rump kernel: NetBSD's network stack as shared libraries, in this process
#
# With `--rump DIR` every scenario calls NetBSD's kernel instead of the host's:
# DIR holds NetBSD's librump*.so (docs/rump.md: where they come from).  The
# agent loads them once; each scenario's supervisor boots a kernel of its own
# (rump_init: once per host process, and a kernel's threads do not survive
# fork), so scenarios never see each other's ports or TIME_WAIT, as with a
# network namespace each.  Actors are processes of that kernel
# (rump_pub_lwproc_rfork), all driven by the supervisor's one thread: every
# socket is non-blocking and every wait is the kernel's own poll.

RUMP_LIBS = ("rumpuser", "rump", "rumpnet", "rumpnet_net", "rumpnet_netinet", "rumpnet_netinet6")
RUMP_RFCFDG = 0x02  # rump.h: a new process with a descriptor table of its own
RUMP_RFFD_SHARE = 0x00  # rump.h: a new process sharing the current one's descriptor table
NETBSD_RLIMIT_NOFILE = 8  # sys/resource.h

# NetBSD's numbers (sys/sys/errno.h, socket.h, fcntl.h, sockio.h, net/route.h, sysctl.h).
NETBSD_ERRNO = dict(enumerate((
    "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD",
    "EDEADLK", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV",
    "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC",
    "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EAGAIN", "EINPROGRESS", "EALREADY",
    "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL",
    "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN",
    "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "ELOOP", "ENAMETOOLONG",
    "EHOSTDOWN", "EHOSTUNREACH", "ENOTEMPTY", "EPROCLIM", "EUSERS", "EDQUOT", "ESTALE", "EREMOTE",
    "EBADRPC", "ERPCMISMATCH", "EPROGUNAVAIL", "EPROGMISMATCH", "EPROCUNAVAIL", "ENOLCK", "ENOSYS",
    "EFTYPE", "EAUTH", "ENEEDAUTH", "EIDRM", "ENOMSG", "EOVERFLOW", "EILSEQ", "ENOTSUP", "ECANCELED",
    "EBADMSG", "ENODATA", "ENOSR", "ENOSTR", "ETIME", "ENOATTR", "EMULTIHOP", "ENOLINK", "EPROTO"), 1))
NETBSD_AF = {socket.AF_INET: 2, socket.AF_INET6: 24}
NETBSD_AF_ROUTE = 34
NETBSD_SOCK_RAW = 3
NETBSD_SOCK_NONBLOCK = 0x20000000
NETBSD_SO_ERROR = 0x1007
NETBSD_POLLIN, NETBSD_POLLOUT, NETBSD_POLLERR, NETBSD_POLLHUP = 0x1, 0x4, 0x8, 0x10
# _IOW('i', 26, struct ifaliasreq): IOC_IN | sizeof (64) << 16 | 'i' << 8 | 26
NETBSD_SIOCAIFADDR = 0x80000000 | (64 << 16) | (ord("i") << 8) | 26
RTM_ADD, RTM_VERSION, RTM_HEADER = 1, 4, 120  # sizeof(struct rt_msghdr) on LP64
RTF_UP, RTF_STATIC = 0x1, 0x800
RTA_DST_GATEWAY_NETMASK = 0x1 | 0x2 | 0x4
# sysctl MIBs: kern.ostype, kern.osrelease, hw.machine_arch (sys/sysctl.h); net.inet6.ip6.v6only,
# anonportmin/max (IPV6CTL_V6ONLY 24, IPV6CTL_ANONPORTMIN 28, IPV6CTL_ANONPORTMAX 29: netinet6/in6.h);
# net.inet.ip.anonportmin/max (IPCTL_ANONPORTMIN 10, IPCTL_ANONPORTMAX 11: netinet/in.h).
SYSCTL_NAMES = {"kern.ostype": (1, 1), "kern.osrelease": (1, 2), "hw.machine_arch": (6, 10),
                "net.inet6.ip6.v6only": (4, 24, 41, 24),
                "net.inet.ip.anonportmin": (4, 2, 0, 10), "net.inet.ip.anonportmax": (4, 2, 0, 11),
                "net.inet6.ip6.anonportmin": (4, 24, 41, 28), "net.inet6.ip6.anonportmax": (4, 24, 41, 29)}
RUMP_NOISE = "could not find strtab, symtab or their sizes"  # librumpuser at every boot: harmless

_RUMP = []  # the loaded RumpLibrary (with what its kernel said at boot), once --rump is given


def rump_library():
    """The rump kernel libraries this agent runs scenarios on, or None: the host's kernel."""
    return _RUMP and _RUMP[0] or None


def netbsd_errno_name(num):
    return NETBSD_ERRNO.get(num, "E%d" % num)


def rump_calls():
    """Entry points of librump: (exported name, result type, argument types).

    rump_sys_* are macros over rump___sysimpl_*, with NetBSD's versioned names where a call was
    revised (include/rump/rump_syscalls.h: socket30, paccept...). Every argument is typed, so that
    ctypes passes size_t and pointers at their full width."""
    c = ctypes
    ssize = getattr(c, "c_ssize_t", c.c_long)
    ptr, uint = c.c_void_p, c.c_uint
    return {
        "init": ("rump_init", c.c_int, []),
        "rfork": ("rump_pub_lwproc_rfork", c.c_int, [c.c_int]),
        "switch": ("rump_pub_lwproc_switch", None, [ptr]),
        "curlwp": ("rump_pub_lwproc_curlwp", ptr, []),
        "socket": ("rump___sysimpl_socket30", c.c_int, [c.c_int, c.c_int, c.c_int]),
        "bind": ("rump___sysimpl_bind", c.c_int, [c.c_int, ptr, uint]),
        "connect": ("rump___sysimpl_connect", c.c_int, [c.c_int, ptr, uint]),
        "listen": ("rump___sysimpl_listen", c.c_int, [c.c_int, c.c_int]),
        "paccept": ("rump___sysimpl_paccept", c.c_int, [c.c_int, ptr, ptr, ptr, c.c_int]),
        "getsockname": ("rump___sysimpl_getsockname", c.c_int, [c.c_int, ptr, ptr]),
        "getpeername": ("rump___sysimpl_getpeername", c.c_int, [c.c_int, ptr, ptr]),
        "setsockopt": ("rump___sysimpl_setsockopt", c.c_int, [c.c_int, c.c_int, c.c_int, ptr, uint]),
        "getsockopt": ("rump___sysimpl_getsockopt", c.c_int, [c.c_int, c.c_int, c.c_int, ptr, ptr]),
        "sendto": ("rump___sysimpl_sendto", ssize, [c.c_int, ptr, c.c_size_t, c.c_int, ptr, uint]),
        "recvfrom": ("rump___sysimpl_recvfrom", ssize, [c.c_int, ptr, c.c_size_t, c.c_int, ptr, ptr]),
        "write": ("rump___sysimpl_write", ssize, [c.c_int, ptr, c.c_size_t]),
        "shutdown": ("rump___sysimpl_shutdown", c.c_int, [c.c_int, c.c_int]),
        "close": ("rump___sysimpl_close", c.c_int, [c.c_int]),
        "poll": ("rump___sysimpl_poll", c.c_int, [ptr, uint, c.c_int]),
        "ioctl": ("rump___sysimpl_ioctl", c.c_int, [c.c_int, c.c_ulong, ptr]),
        "sysctl": ("rump___sysimpl___sysctl", c.c_int, [ptr, uint, ptr, ptr, ptr, c.c_size_t]),
        "setgroups": ("rump___sysimpl_setgroups", c.c_int, [c.c_int, ptr]),
        "setgid": ("rump___sysimpl_setgid", c.c_int, [uint]),
        "setuid": ("rump___sysimpl_setuid", c.c_int, [uint]),
        "getrlimit": ("rump___sysimpl_getrlimit", c.c_int, [c.c_int, ptr]),
        "setrlimit": ("rump___sysimpl_setrlimit", c.c_int, [c.c_int, ptr]),
    }


class RumpLibrary(object):
    """NetBSD's kernel libraries, loaded once in the agent (before any fork), entry points typed."""

    def __init__(self, folder):
        if ctypes is None:
            raise InfraError("a rump kernel is called through ctypes, which this Python lacks")
        self.folder, self.facts = folder, None
        handles = []
        for name in RUMP_LIBS:  # in dependency order, each global: they link to each other by name
            path = os.path.join(folder, "lib%s.so" % name)
            if not os.path.exists(path):
                raise InfraError("%s: no such file (a rump kernel needs lib%s.so in %s)" % (path, name, folder))
            theirs, ours = elf_kind(path), elf_kind(sys.executable)
            if theirs != ours and None not in (theirs, ours):  # dlopen would only say "No such file"
                raise InfraError("%s is built for %s; this Python (%s) runs %s" % (path, theirs, sys.executable, ours))
            try:
                handles.append(ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL, use_errno=True))
            except OSError:
                raise InfraError("cannot load %s: %s" % (path, sys.exc_info()[1]))
        self.calls = {}
        for key, (symbol, restype, argtypes) in rump_calls().items():
            try:
                func = getattr(handles[1], symbol)
            except AttributeError:
                raise InfraError("%s has no %s: not a rump kernel this agent knows"
                                 % (os.path.join(folder, "librump.so"), symbol))
            func.restype, func.argtypes = restype, argtypes
            self.calls[key] = func

    def boot(self):
        """A NetBSD kernel in this process, loopback ready as the scenarios expect it."""
        unbuffer_stdout()  # the kernel's console is C's stdout: a panic must not die in a buffer
        # One virtual CPU unless told otherwise: the agent drives a kernel from one thread, and
        # each CPU adds kernel threads to start and to reap (benchmarks/rump.py).
        if "RUMP_NCPU" not in os.environ:
            os.environ["RUMP_NCPU"] = "1"
        error = self.calls["init"]()
        if error:
            raise InfraError("rump_init: %s" % netbsd_errno_name(error))
        kernel = RumpKernel(self)
        kernel.configure_loopback()
        return kernel


ELF_MACHINES = {3: "i386", 8: "mips", 20: "powerpc", 21: "ppc64", 22: "s390", 40: "arm", 62: "x86-64",
                183: "aarch64", 243: "riscv"}


def elf_kind(path):
    """`64-bit x86-64`-style words for an ELF file's class and machine, or None if it is not ELF."""
    try:
        handle = open(path, "rb")
        try:
            head = handle.read(20)
        finally:
            handle.close()
    except (IOError, OSError):
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    bits = {1: "32-bit", 2: "64-bit"}.get(struct.unpack("B", head[4:5])[0], "?-bit")
    machine = struct.unpack(head[5:6] == b"\x02" and ">H" or "<H", head[18:20])[0]
    return "%s %s" % (bits, ELF_MACHINES.get(machine, "machine %d" % machine))


def unbuffer_stdout():
    lib = libc()
    if lib is not None:
        try:
            lib.setvbuf(ctypes.c_void_p.in_dll(lib, "stdout"), None, 2, 0)  # _IONBF
        except (ValueError, AttributeError):
            pass  # another C library: its console may be lost in a crash, nothing else


def own_thread_id():
    """This host thread's id, as /proc/self/task names it (the main thread's is the pid)."""
    try:
        return os.readlink("/proc/thread-self").rsplit("/", 1)[1]
    except OSError:  # Linux < 3.17: the caller is the forked supervisor's one thread
        return str(os.getpid())


class OtherThreads(object):
    """This process's host threads other than the calling one (a rump kernel's softint, clock and
    worker threads), read from /proc (`tasks`: another process's, for a test). Their stat files stay
    open: a reread costs a third of an open, read and close, and a settle looks before every step."""

    def __init__(self, tasks="/proc/self/task"):
        self.tasks, self.files = tasks, {}
        self.driver = tasks == "/proc/self/task" and own_thread_id() or None

    def busy(self):
        """Names of those running or runnable (R) or in an uninterruptible wait (D)."""
        names = []
        for tid in os.listdir(self.tasks):
            if tid == self.driver:
                continue
            try:
                fd = self.files.get(tid)
                if fd is None:
                    fd = self.files[tid] = os.open("%s/%s/stat" % (self.tasks, tid), os.O_RDONLY)
                os.lseek(fd, 0, 0)
                stat = os.read(fd, 512)
            except OSError:  # ended meanwhile
                continue
            end = stat.rindex(b")")
            if stat[end + 2:end + 3] in (b"R", b"D"):
                names.append(stat[stat.index(b"(") + 1:end].decode("ascii", "replace"))
        return names


class RumpKernel(object):
    """A booted rump kernel: its processes, which one runs the next call, and waits on sockets.

    Every process it makes shares one descriptor table (that of `base`, made first), each with
    credentials of its own: a socket's owner is the process that created it (socreate takes the
    caller's uid), so the other-user rules are per actor as with separate tables, and one poll
    can wait on the sockets of every actor at once (a poll sees only its process's table).
    """

    def __init__(self, lib):
        self.lib, self.current = lib, None
        self.threads = OtherThreads()  # the kernel's own; the caller is the one host thread driving it
        error = self.lib.calls["rfork"](RUMP_RFCFDG)
        if error:
            raise InfraError("rump_pub_lwproc_rfork: %s" % netbsd_errno_name(error))
        self.base = self.current = self.lib.calls["curlwp"]()
        # As many descriptors as the kernel allows, as raise_descriptor_limit gives the host's agent:
        # NetBSD's soft limit (128) would refuse sockets a scenario can open on the other targets.
        limit = (ctypes.c_uint64 * 2)()  # struct rlimit: rlim_cur, rlim_max
        self.call(self.base, "getrlimit", NETBSD_RLIMIT_NOFILE, limit)
        limit[0] = limit[1]
        self.call(self.base, "setrlimit", NETBSD_RLIMIT_NOFILE, limit)

    def call(self, lwp, name, *args):
        """A system call as process `lwp`; failures raise socket.error with NetBSD's errno."""
        if lwp != self.current:
            self.lib.calls["switch"](lwp)
            self.current = lwp
        result = self.lib.calls[name](*args)
        if result == -1:
            num = ctypes.get_errno()
            raise socket.error(num, netbsd_errno_name(num))
        return result

    def process(self, user):
        """A new process of this kernel (an actor's), as `user` (None: the invoking user)."""
        if user is None:
            return self.process_as(os.geteuid(), os.getegid())
        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            raise Skip("no such user: %s" % user)
        return self.process_as(pw.pw_uid, pw.pw_gid)

    def process_as(self, uid, gid):
        """rfork from the base process (root, the shared table), then drop to uid/gid as
        switch_user does."""
        if self.current != self.base:
            self.lib.calls["switch"](self.base)
            self.current = self.base
        error = self.lib.calls["rfork"](RUMP_RFFD_SHARE)
        if error:
            raise InfraError("rump_pub_lwproc_rfork: %s" % netbsd_errno_name(error))
        proc = RumpProcess(self, self.lib.calls["curlwp"]())
        self.current = proc.lwp
        if (uid, gid) != (0, 0):
            proc.call("setgroups", 0, None)
            proc.call("setgid", gid)
            proc.call("setuid", uid)
        return proc

    def configure_loopback(self):
        """lo0 has 127.0.0.1 and ::1 once booted; add 127.0.0.2 and a route for multicast.

        127.0.0.2/32 is an alias (SIOCAIFADDR, as `ifconfig lo0 alias 127.0.0.2`), and
        224.0.0.0/4 is routed to 127.0.0.1 by an RTM_ADD message on a routing socket (as
        `route add -net 224.0.0.0/4 -interface 127.0.0.1`): without it joining a group finds no
        interface (EADDRNOTAVAIL), as in a Linux namespace that has nothing but lo.
        """
        proc = self.process_as(0, 0)
        try:
            sock = proc.call("socket", NETBSD_AF[socket.AF_INET], socket.SOCK_DGRAM, 0)
            request = ctypes.create_string_buffer(
                struct.pack("16s", b"lo0") + netbsd_sockaddr(socket.AF_INET, ("127.0.0.2", 0))
                + b"\0" * 16 + netbsd_sockaddr(socket.AF_INET, ("255.255.255.255", 0)), 64)
            proc.call("ioctl", sock, NETBSD_SIOCAIFADDR, request)
            proc.call("close", sock)
            addrs = b"".join(netbsd_sockaddr(socket.AF_INET, (host, 0))
                             for host in ("224.0.0.0", "127.0.0.1", "240.0.0.0"))
            header = struct.pack("=HBBHxxiiiiiii", RTM_HEADER + len(addrs), RTM_VERSION, RTM_ADD, 0,
                                 RTF_UP | RTF_STATIC, RTA_DST_GATEWAY_NETMASK, 0, 1, 0, 0, 0)
            message = header + b"\0" * (RTM_HEADER - len(header)) + addrs
            route = proc.call("socket", NETBSD_AF_ROUTE, NETBSD_SOCK_RAW, 0)
            proc.call("write", route, message, len(message))
            proc.call("close", route)
        except socket.error:
            raise InfraError("setting up the rump kernel's loopback: %s" % sys.exc_info()[1])

    def facts(self):
        """What the kernel says it is, and the settings the reports show (SETTINGS["netbsd"])."""
        proc = self.process_as(0, 0)
        facts = {}
        for name in ("kern.ostype", "kern.osrelease", "hw.machine_arch"):
            facts[name] = proc.sysctl(name).rstrip(b"\0").decode("ascii", "replace")
        settings = {}
        for name in SETTINGS["netbsd"]:
            try:
                settings[name] = "%d" % struct.unpack("i", proc.sysctl(name)[:4])[0]
            except (socket.error, struct.error):
                settings[name] = None
        facts["settings"] = settings
        return facts

    def settle(self, deadline):
        """Return once none of the kernel's own threads is running or runnable: what the calls so
        far put in flight (a datagram, a FIN, its ACK) has been handled. NetBSD hands loopback
        packets to a software interrupt (looutput -> ipintr, netinet/ip_input.c) that a NetBSD
        machine runs before the call returns to the process; a rump kernel runs it on a host thread
        of its own, which a loaded or stalled host may not run for a while (a `pending` right after
        a `sendto` saw 0 in 1 of 60 tries here, in 2 of 3 with the CPU shared by four processes)."""
        busy = self.threads.busy()
        while busy:
            if now() >= deadline:
                raise InfraError("the rump kernel's threads %s were still running after the step timeout"
                                 % ", ".join(busy))
            time.sleep(SETTLE_POLL)
            busy = self.threads.busy()

    def wait(self, rsocks, wsocks, deadline):
        """(readable, writable) of the sockets given (of any process: they share one table),
        waiting until deadline for one."""
        socks = list(rsocks) + [sock for sock in wsocks if sock not in rsocks]
        if not socks:
            if deadline is None:
                raise InfraError("waiting on no socket, forever")
            time.sleep(max(0.0, deadline - now()))
            return [], []
        while True:
            ms = -1
            if deadline is not None:  # rounded up: never wake before the deadline
                ms = int(max(0.0, deadline - now()) * 1000 + 0.999)
            fds = b"".join(struct.pack("ihh", sock.fd, (sock in rsocks and NETBSD_POLLIN or 0)
                                       | (sock in wsocks and NETBSD_POLLOUT or 0), 0) for sock in socks)
            buf = ctypes.create_string_buffer(fds, len(fds))
            if self.call(self.current, "poll", buf, len(socks), ms) > 0 or ms == 0:
                break
        revents = dict((sock, struct.unpack("ihh", buf.raw[i * 8:i * 8 + 8])[2]) for i, sock in enumerate(socks))
        gone = NETBSD_POLLERR | NETBSD_POLLHUP
        return ([sock for sock in rsocks if revents[sock] & (NETBSD_POLLIN | gone)],
                [sock for sock in wsocks if revents[sock] & (NETBSD_POLLOUT | gone)])


class RumpProcess(SystemNumbers):
    """One process of a rump kernel: the seam (as HostKernel) for the actor or supervisor it is."""

    inline_actors = True  # every actor is a process of the same kernel, driven by the supervisor
    family = "netbsd"
    table = OPTION_TABLES["netbsd"]

    def __init__(self, kernel, lwp):
        self.kernel, self.lwp = kernel, lwp

    def call(self, name, *args):
        return self.kernel.call(self.lwp, name, *args)

    def process(self, user):
        return self.kernel.process(user)

    def socket(self, family, kind):
        fd = self.call("socket", NETBSD_AF[family], kind | NETBSD_SOCK_NONBLOCK, 0)
        return RumpSocket(self, fd, family, kind)

    def sender(self, family, kind, dest):
        """As HostKernel.sender, bound first, to a port that is never dest's.

        NetBSD may give an AF_INET socket, as its ephemeral port, one an AF_INET6 socket holds on
        an IPv4-mapped address: check_suitable_port (netinet/portalgo.c) asks only
        in_pcblookup_port, which skips AF_INET6 PCBs, and udp4_realinput then delivers to the
        newcomer instead (an inet6-mapped distribute lost every datagram after such a sender).
        A datagram to a group is sent from 127.0.0.1: NetBSD takes no source address from a
        route through a loopback interface (in_selectsrc, netinet/in.c) and lo0 is all a rump
        kernel has, so from an unbound socket it fails with EADDRNOTAVAIL; a Linux namespace's
        route gives 127.0.0.1 too (docs/rump.md, "artefacts").
        """
        host = family == socket.AF_INET6 and "::" or "0.0.0.0"
        if family == socket.AF_INET and kind == socket.SOCK_DGRAM and 224 <= int(dest[0].split(".")[0]) < 240:
            host = "127.0.0.1"
        taken = []
        try:
            for _ in range(16):
                sock = self.socket(family, kind)
                sock.bind(sockaddr(family, host, 0))
                if sock.getsockname()[1] != dest[1]:
                    return sock
                taken.append(sock)  # held while another port is drawn
            raise InfraError("16 senders in a row were given the destination's port %d" % dest[1])
        finally:
            for sock in taken:
                sock.close()

    def wait(self, rsocks, wsocks, deadline):
        return self.kernel.wait(rsocks, wsocks, deadline)

    def settle(self, deadline):
        self.kernel.settle(deadline)

    def errno_name(self, num):
        return netbsd_errno_name(num)

    def so_error(self, sock):
        return sock.getsockopt(self.table["SOL_SOCKET"], NETBSD_SO_ERROR)

    def linger_rst(self, sock):
        sock.setsockopt(self.table["SOL_SOCKET"], self.table["SO_LINGER"], LINGER_RST)

    def v6only(self, sock):
        sock.setsockopt(self.table["IPPROTO_IPV6"], self.table["IPV6_V6ONLY"], 1)

    def usable_port(self, port):
        """Not a multiple of 128. NetBSD files every new PCB in its port hash under port 0 (128
        chains: TCBHASHSIZE, netinet/tcp_subr.c; in_pcballoc) and an accepted one stays there
        (syn_cache_get), so a bind's in_pcblookup_port sees the TIME_WAIT of an accepted
        connection only on ports whose chain is port 0's: one port in 128 would answer otherwise
        than all others (timewait/rebind-no-reuseaddr). Symbolic ports stand for any free port;
        this keeps them off the exception (docs/rump.md)."""
        return port % 128 != 0

    def sysctl(self, name, new=None):
        """The raw value of a sysctl node named in SYSCTL_NAMES; with `new` (an int), set it first."""
        mib = SYSCTL_NAMES[name]
        size = ctypes.c_size_t(256)
        buf = ctypes.create_string_buffer(256)
        newp, newlen = None, 0
        if new is not None:
            newp = ctypes.create_string_buffer(struct.pack("i", new), 4)
            newlen = 4
        self.call("sysctl", (ctypes.c_int * len(mib))(*mib), len(mib), buf, ctypes.byref(size), newp, newlen)
        return buf.raw[:size.value]

    def bsd_layout(self):
        return True

    def af_numbers(self):
        return {"unspec": 0, "inet": 2, "inet6": 24, socket.AF_INET: 2, socket.AF_INET6: 24}

    def pending(self, sock):
        count = ctypes.c_int(0)
        self.call("ioctl", sock.fd, FIONREAD["bsd"], ctypes.byref(count))
        return count.value

    def poll(self, sock, mask, timeout_ms):
        """poll(2) of the rump kernel on one socket: the revents bits (NetBSD's are the common ones)."""
        buf = ctypes.create_string_buffer(struct.pack("ihh", sock.fd, mask, 0), 8)
        self.call("poll", buf, 1, timeout_ms)
        return struct.unpack("ihh", buf.raw[:8])[2]

    def call_raw(self, sock, name, raw, data=b"", flags=0):
        if name == "sendto":
            return self.call("sendto", sock.fd, data, len(data), flags, raw, len(raw))
        return self.call(name, sock.fd, raw, len(raw))

    def read_setting(self, name):
        """A setting of the scenario's kernel as text, or None where the agent knows no MIB for it."""
        if name not in SYSCTL_NAMES:
            return None
        try:
            return "%d" % struct.unpack("i", self.sysctl(name)[:4])[0]
        except (socket.error, struct.error):
            return None

    def write_setting(self, name, value):
        """Set a setting of the scenario's own kernel (nothing outside it sees the change)."""
        if name not in SYSCTL_NAMES:
            raise Skip("sysctl: the rump target knows no MIB for %s" % name)
        try:
            self.sysctl(name, int(value))
        except socket.error:
            raise InfraError("sysctl: setting %s to %s: %s" % (name, value, sys.exc_info()[1]))


def pack_sockaddr(bsd, af, family, addr):
    """struct sockaddr_in / sockaddr_in6 as a kernel reads it: 4.4BSD's with sin_len and a one-byte
    family (`bsd`), else Linux's two-byte family; `af` is the kernel's number for the family."""
    host, port = native(addr[0]), addr[1]
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise OverflowError("port must be 0-65535.")  # the socket module's words
    if family == socket.AF_INET6:
        head = bsd and struct.pack("=BB", 28, af) or struct.pack("=H", af)
        return head + struct.pack("!HI16sI", port, 0, socket.inet_pton(socket.AF_INET6, host), 0)
    head = bsd and struct.pack("=BB", 16, af) or struct.pack("=H", af)
    return head + struct.pack("!H4s8x", port, socket.inet_pton(socket.AF_INET, host))


def netbsd_sockaddr(family, addr):
    """struct sockaddr_in / sockaddr_in6 with NetBSD's sin_len and family numbers."""
    return pack_sockaddr(True, NETBSD_AF[family], family, addr)


def host_address(raw):
    """A NetBSD sockaddr as the socket module gives addresses: (host, port[, flow, scope])."""
    if len(raw) < 2 or raw[0:1] == b"\0":
        return None
    family = struct.unpack("B", raw[1:2])[0]
    if family == NETBSD_AF[socket.AF_INET6]:
        port, flow, addr, scope = struct.unpack("!HI16sI", raw[2:28])
        return (socket.inet_ntop(socket.AF_INET6, addr), port, flow, scope)
    port, addr = struct.unpack("!H4s", raw[2:8])
    return (socket.inet_ntop(socket.AF_INET, addr), port)


class RumpSocket(object):
    """A socket of a rump kernel's process, answering as much of the socket module's socket API as
    the agent uses. Created non-blocking (SOCK_NONBLOCK), as the agent makes every socket."""

    def __init__(self, proc, fd, family, kind):
        self.proc, self.fd, self.family, self.type = proc, fd, family, kind

    def setblocking(self, flag):
        pass

    def setsockopt(self, level, name, value):
        if not isinstance(value, bytes):
            value = struct.pack("i", value)
        self.proc.call("setsockopt", self.fd, level, name, value, len(value))

    def getsockopt(self, level, name, buflen=None):
        """An int option as an int; with buflen, the bytes the kernel wrote (as the socket module)."""
        size = ctypes.c_uint(buflen or 4)
        buf = ctypes.create_string_buffer(size.value)
        self.proc.call("getsockopt", self.fd, level, name, buf, ctypes.byref(size))
        if buflen is None:
            return struct.unpack("i", buf.raw[:4])[0]
        return buf.raw[:size.value]

    def bind(self, addr):
        raw = netbsd_sockaddr(self.family, addr)
        self.proc.call("bind", self.fd, raw, len(raw))

    def listen(self, backlog):
        self.proc.call("listen", self.fd, backlog)

    def connect_ex(self, addr):
        raw = netbsd_sockaddr(self.family, addr)
        try:
            self.proc.call("connect", self.fd, raw, len(raw))
        except socket.error:
            return exc_errno(sys.exc_info()[1])
        return 0

    def address_call(self, name, *args):
        """A call that writes a sockaddr (accept, getsockname): its result and the address."""
        size = ctypes.c_uint(128)
        buf = ctypes.create_string_buffer(size.value)
        result = self.proc.call(name, self.fd, buf, ctypes.byref(size), *args)
        return result, host_address(buf.raw[:size.value])

    def accept(self):
        fd, peer = self.address_call("paccept", None, NETBSD_SOCK_NONBLOCK)
        return RumpSocket(self.proc, fd, self.family, self.type), peer

    def getsockname(self):
        return self.address_call("getsockname")[1]

    def getpeername(self):
        return self.address_call("getpeername")[1]

    def send(self, data, flags=0):
        return self.proc.call("sendto", self.fd, data, len(data), flags, None, 0)

    def sendto(self, data, flags_or_addr, addr=None):
        """As the socket module's: sendto(data, address) or sendto(data, flags, address)."""
        flags = addr is not None and flags_or_addr or 0
        raw = netbsd_sockaddr(self.family, addr is None and flags_or_addr or addr)
        return self.proc.call("sendto", self.fd, data, len(data), flags, raw, len(raw))

    def recvfrom(self, size):
        buf = ctypes.create_string_buffer(max(1, size))
        peer_size = ctypes.c_uint(128)
        peer = ctypes.create_string_buffer(peer_size.value)
        got = self.proc.call("recvfrom", self.fd, buf, size, 0, peer, ctypes.byref(peer_size))
        return buf.raw[:got], host_address(peer.raw[:peer_size.value])

    def recv(self, size):
        return self.recvfrom(size)[0]

    def shutdown(self, how):
        self.proc.call("shutdown", self.fd, how)

    def close(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            self.proc.call("close", fd)


def load_rump(folder, timeout=30.0):
    """Load the libraries in `folder` and boot a kernel once (in a child) to learn what it is.

    InfraError says why it cannot be used: missing or foreign libraries, or a kernel that does not
    boot (with the end of its console, where a panic says why)."""
    lib = RumpLibrary(folder)
    console = Console()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        run_child(report_rump_facts, lib, Channel(wfd=write_fd), console)
    os.close(write_fd)
    chan = Channel(rfd=read_fd)
    try:
        try:
            msg = chan.recv(now() + timeout)
        except (Timeout, ValueError):
            msg = None
    finally:
        chan.close()
        if msg is None:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        status = os.waitpid(pid, 0)[1]
    last_words = console.last_words()
    console.close()
    if not msg or "facts" not in msg:
        why = msg and msg.get("error") or "the kernel ended without a word (%s)" % describe_exit(status)
        raise InfraError("the rump kernel in %s did not boot: %s%s" % (folder, why, last_words))
    lib.facts = msg["facts"]
    _RUMP.append(lib)
    return lib


def report_rump_facts(lib, chan, console):
    console.attach()
    try:
        chan.send({"facts": lib.boot().facts()})
    except InfraError:
        chan.send({"error": str(sys.exc_info()[1])})


class Console(object):
    """Where a rump kernel's console (C's stdout) and stderr go: a file the agent reads back when
    the kernel crashed, so that the error can say why (`panic: ...`)."""

    made = [0]

    def __init__(self):
        """A file of no name: created private, then unlinked (gone when the last holder closes it)."""
        self.made[0] += 1
        path = os.path.join(os.environ.get("TMPDIR") or "/tmp",
                            "harness-console.%d.%d" % (os.getpid(), self.made[0]))
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 384)  # 0600
        os.unlink(path)

    def attach(self):
        """In the child: stdout and stderr into the file."""
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)

    def last_words(self, limit=400):
        """`; its console: ...` with the end of what it wrote (its known warning left out), or ''."""
        try:
            size = os.lseek(self.fd, 0, os.SEEK_END)
            os.lseek(self.fd, max(0, size - 65536), os.SEEK_SET)
            text = os.read(self.fd, 65536).decode("utf-8", "replace")
        except (IOError, OSError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip() and RUMP_NOISE not in line]
        said = " / ".join(lines)
        if not said:
            return ""
        return "; its console: %s" % (len(said) > limit and "..." + said[-limit:] or said)

    def close(self):
        os.close(self.fd)


def rump_identity(lib):
    """The kernel as it named itself at boot, on this host: never the host, never emulated."""
    ident = identity()
    facts = lib.facts
    release = facts["kern.osrelease"]
    match = re.match(r"\d+(\.\d+)*", release)
    ident.update({
        "system": facts["kern.ostype"], "family": facts["kern.ostype"].lower(),
        "release": "%s, rump kernel on %s %s" % (release, platform.system(), platform.release()),
        "version": match and match.group(0) or "", "machine": facts["hw.machine_arch"],
        "netns": "not used: each scenario boots a rump kernel of its own",
    })
    return ident


def option_value(argv, name):
    """The value given as `name VALUE` on the command line, or None."""
    if name in argv[1:-1]:
        return argv[argv.index(name) + 1]
    return None


# ---------------------------------------------------------------------------
# Agent: scenarios one after another, each in its own process group

CURRENT = []  # the running scenarios' supervisor pids (= their process groups)


def kill_group(pgid):
    """SIGKILL the scenario's group and reap it; the supervisor's exit status.

    The group is killed before the supervisor (its leader) is reaped, so the
    group id cannot have been reused.  As a child subreaper (Linux) the agent
    then also reaps actors orphaned by a supervisor killed mid-scenario.
    """
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
    status = None
    try:
        status = os.waitpid(pgid, 0)[1]
        while True:
            os.waitpid(-pgid, 0)
    except OSError:
        pass  # ECHILD: nothing left of the group among our children
    return status


def freeze_heap():
    """Children share the agent's heap copy-on-write: a collection in a child
    would write to (and so copy) all of it.  gc.freeze (3.7+) spares it."""
    getattr(gc, "freeze", lambda: None)()


class Job(object):
    """One scenario under way: its supervisor (a process group of its own), the result being
    relayed from it, and its budget."""

    def __init__(self, scenario, options):
        self.start = now()
        self.result = {"event": SCENARIO, "id": scenario.get("id"), "status": "error",
                       "reason": None, "ports": {}, "steps": []}
        self.budget_ms = options.get("scenario_timeout_ms", 60000)
        self.restore = {}  # setting -> the value it had, for settings changed machine-wide
        self.deadline = self.start + self.budget_ms / 1000.0
        self.console = rump_library() is not None and Console() or None
        read_fd, write_fd = os.pipe()
        agent_pid = os.getpid()
        freeze_heap()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            run_child(supervisor_main, scenario, options, Channel(wfd=write_fd), agent_pid, self.console)
        CURRENT.append(pid)
        os.close(write_fd)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child got there first, or already exited
        self.pid, self.chan = pid, Channel(rfd=read_fd)

    def feed(self):
        """Relay the supervisor's next message; True once its final status (or its end) came."""
        msg = self.chan.recv(self.deadline)
        if msg is None:
            return True
        if "ports" in msg:
            self.result["ports"] = msg["ports"]
        elif "sysctl" in msg:
            self.result["sysctl"] = msg["sysctl"]
        elif "restore" in msg:  # machine-wide settings the scenario changes: put back in finish()
            self.restore = msg["restore"]
        elif "step" in msg:
            self.result["steps"].append(msg["step"])
        else:
            self.result["status"], self.result["reason"] = msg["status"], msg["reason"]
            return True
        return False

    def finish(self, timed_out):
        """Kill and reap the scenario's group: nothing of it outlives it, not even a machine-wide
        setting it changed (restored here, by the agent, whichever way the scenario ended). The result."""
        if timed_out:
            self.result["reason"] = "scenario exceeded scenario_timeout_ms (%d ms)" % self.budget_ms
        status = kill_group(self.pid)
        for name in sorted(self.restore):
            if self.restore[name] is not None:
                try:
                    HOST.write_setting(name, self.restore[name])
                except (InfraError, Skip):
                    sys.stderr.write("agent: could not restore %s to %s: %s\n"
                                     % (name, self.restore[name], sys.exc_info()[1]))
        CURRENT.remove(self.pid)
        self.chan.close()
        if self.result["reason"] is None and self.result["status"] == "error":
            self.result["reason"] = "supervisor ended without a result (%s)" % (
                status is None and "unknown" or describe_exit(status))
            if self.console is not None:
                self.result["reason"] = "the scenario's rump kernel crashed: %s%s" % (
                    self.result["reason"], self.console.last_words())
        if self.console is not None:
            self.console.close()
        self.result["ms"] = ms_since(self.start)
        return self.result


def run_scenario(scenario, options):
    """One scenario, start to end: its result."""
    job = Job(scenario, options)
    try:
        while not job.feed():
            pass
    except Timeout:
        return job.finish(True)
    return job.finish(False)


def width(options):
    """How many scenarios may run at once: `parallel`, 0 meaning one per CPU. Only scenarios in
    namespaces of their own may share the machine: otherwise their ports could collide."""
    wanted = int(options.get("parallel") or 0)
    if not use_netns(options) and rump_library() is None:  # a rump kernel each is as good
        return 1
    if wanted <= 0:
        try:
            wanted = os.sysconf("SC_NPROCESSORS_ONLN")
        except (ValueError, OSError, AttributeError):
            wanted = 1
    return max(1, wanted)


def run_scenarios(scenarios, options):
    """Every scenario, up to width() at once, their results emitted in input order as they come."""
    if width(options) == 1:
        for scenario in scenarios:
            emit(run_scenario(scenario, options))
        return
    waiting = list(enumerate(scenarios))
    running, done, next_out = [], {}, 0
    while waiting or running:
        while waiting and len(running) < width(options):
            index, scenario = waiting.pop(0)
            running.append((index, Job(scenario, options)))
        ready = wait_channels([job.chan for _, job in running], min(job.deadline for _, job in running))
        for entry in list(running):
            index, job = entry
            finished = timed_out = False
            try:
                while job.chan in ready or job.chan.pending():
                    ready = [c for c in ready if c is not job.chan]
                    finished = job.feed()
                    if finished:
                        break
            except Timeout:
                finished = timed_out = True
            if not finished and now() >= job.deadline:
                finished = timed_out = True
            if finished:
                running.remove(entry)
                done[index] = job.finish(timed_out)
        while next_out in done:
            emit(done.pop(next_out))
            next_out += 1


def on_signal(signum, frame):
    """Killed while a scenario runs: take its process group down too."""
    for pid in CURRENT:
        kill_group(pid)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def raise_descriptor_limit(wanted=65536):
    """As many sockets per scenario as the OS allows: the soft RLIMIT_NOFILE up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard == resource.RLIM_INFINITY and wanted or min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # the limit stays; a step over it fails with EMFILE, which is what the OS says


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def hello():
    lib = rump_library()
    return {"event": HELLO, "protocol": PROTOCOL, "agent": AGENT_VERSION,
            "identity": lib is not None and rump_identity(lib) or identity()}


def read_request():
    """The input document, or a ValueError saying what is wrong with it."""
    raw = getattr(sys.stdin, "buffer", sys.stdin).read()
    request = json.loads(raw.decode("utf-8"))
    if not isinstance(request, dict) or not isinstance(request.get("scenarios"), list):
        raise ValueError("expected an object with a list of scenarios")
    if request.get("protocol", PROTOCOL) != PROTOCOL:
        raise ValueError("protocol %r is not %d" % (request.get("protocol"), PROTOCOL))
    return request


def main(argv):
    rump = option_value(argv, "--rump")
    if rump is not None:
        try:
            load_rump(rump)
        except InfraError:  # said instead of a hello: this target cannot run at all
            emit({"event": ERROR, "reason": str(sys.exc_info()[1])})
            return 3
    # The hello goes out before the input is read: the harness picks which
    # scenarios apply to this target from the identity, then sends them.
    emit(hello())
    if "--identity" in argv[1:]:
        return 0
    try:
        request = read_request()
    except ValueError:
        sys.stderr.write("agent: cannot read the input: %s\n" % sys.exc_info()[1])
        return 2
    options = request.get("options") or {}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    libc()  # loaded once here, not in every forked child
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    raise_descriptor_limit()
    emit(environment_event(options))
    start = now()
    run_scenarios(request["scenarios"], options)
    emit({"event": END, "ms": ms_since(start)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
