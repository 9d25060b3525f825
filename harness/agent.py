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
import subprocess
import time
import traceback

try:
    import ctypes
except ImportError:  # some minimal Pythons are built without libffi
    ctypes = None

AGENT_VERSION = "0.1.0"
PROTOCOL = 3
# The events of docs/agent-protocol.md; the harness reads these names from here.
HELLO, ENVIRONMENT, SCENARIO, END = "hello", "environment", "scenario", "end"

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
    "freebsd": bsd_table("freebsd", SO_REUSEPORT_LB=0x10000),
    # DragonFly's SO_REUSEPORT already balances; it has no SO_REUSEPORT_LB.
    "dragonfly": bsd_table("dragonfly"),
    "netbsd": bsd_table("netbsd"),
    "openbsd": bsd_table("openbsd"),
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
}
ADDRESSES = {"any": "0.0.0.0", "any6": "::", "loopback": "127.0.0.1",
             "loopback6": "::1", "loopback2": "127.0.0.2"}
ADDRESS_FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}
TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
SHUTDOWN_HOW = {"rd": socket.SHUT_RD, "wr": socket.SHUT_WR,
                "rdwr": socket.SHUT_RDWR}

# errno values meaning "not yet" rather than failure.
AGAIN = set([errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR])
IN_PROGRESS = set([errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN])
# ... and, for a connect on a socket whose handshake is still under way (an
# earlier `wait: false` connect), EALREADY: a blocking connect waits there too.
STILL_CONNECTING = IN_PROGRESS | set([errno.EALREADY])
# A distribute receive loop keeps a socket after these (one-shot) errors.
TRANSIENT = AGAIN | set([errno.ECONNABORTED, errno.ECONNREFUSED,
                         errno.ECONNRESET, errno.EPROTO])

# Ops the supervisor runs itself; every other op is an Actor.op_<name> method.
SUPERVISOR_OPS = ("sleep", "distribute")

UDP_SETTLE = 0.03  # quiet time after the last datagram (multicast copies)
PACE_WAIT = 0.1    # this much silence from the receivers: what is in flight went elsewhere (written off)
COLLECT_QUIET = 1.0  # ... and at the end of a step, this much: nothing more is coming
DATAGRAM_COST = 2048  # receive buffer a small datagram may take (Linux: 768-1024 bytes of truesize)
MAX_WINDOW = 1024  # connections or datagrams in flight at most, whatever the backlogs and buffers
LINGER_RST = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT left

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


def errno_name(num):
    """Failures are reported by name: numbers differ between kernels."""
    return errno.errorcode.get(num, "E%d" % num)


def gai_name(num):
    """getaddrinfo failures have their own EAI_* namespace."""
    for name in dir(socket):
        if name.startswith("EAI_") and getattr(socket, name) == num:
            return name
    return "EAI_%d" % num


def exception_line():
    """The exception being handled, as the last line of its traceback (`KeyError: 'x'`)."""
    return traceback.format_exc().strip().splitlines()[-1]


def failure(exc):
    """The outcome record of a failed call."""
    num = exc_errno(exc)
    if num is None:
        return {"outcome": "EINVAL", "detail": str(exc)}
    if isinstance(exc, socket.gaierror):
        return {"outcome": gai_name(num), "errno": num, "detail": str(exc)}
    return {"outcome": errno_name(num), "errno": num}


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


def wait_ready(sock, write, deadline):
    """True when sock is readable (write=False) or writable before deadline."""
    if write:
        return bool(wait_fds([], [sock], deadline)[1])
    return bool(wait_fds([sock], [], deadline)[0])


def retry_until(sock, write, deadline, call):
    """call() at once, as a blocking call would; while it would block, wait
    (until deadline) for readiness and try again.  Trying first reports
    errors the kernel gives at once (ENOTCONN...) instead of a timeout."""
    while True:
        try:
            return call()
        except socket.error:
            if exc_errno(sys.exc_info()[1]) not in AGAIN:
                raise
        if not wait_ready(sock, write, deadline):
            raise Timeout()


def accept_any(names, socks, deadline):
    """accept() on whichever of the listeners has a connection first, as a
    blocking accept would wait: (connection, peer, the listener's name).
    The first is the step's own listener: its errors are the step's; another
    that fails (it is not listening there) is only no longer waited on."""
    candidates = list(zip(names, socks))
    while True:
        for name, sock in list(candidates):
            try:
                conn, peer = sock.accept()
                return conn, peer, name
            except socket.error:
                if exc_errno(sys.exc_info()[1]) not in AGAIN:
                    if sock is socks[0]:
                        raise
                    candidates.remove((name, sock))
        if not wait_fds([sock for _, sock in candidates], [], deadline)[0]:
            raise Timeout()


def close_rst(sock):
    """Close without leaving TIME_WAIT behind (it would block later binds)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
    except socket.error:
        pass
    sock.close()


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
            if deadline is not None and not wait_ready(self.rfd, False, deadline):
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


_LIBC = []


def libc():
    """The C library through ctypes (Linux only), loaded once before forking."""
    if not _LIBC:
        lib = None
        if ctypes is not None and sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(None, use_errno=True)
            except OSError:
                lib = None
        _LIBC.append(lib)
    return _LIBC[0]


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
        traceback.print_exc()
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
    """Symbolic port names in order of first use."""
    names = []
    for step in steps:
        for port in (step.get("port"), (step.get("to") or {}).get("port")):
            if is_port_name(port) and port not in names:
                names.append(port)
    return names


def ipv6_available():
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        return True
    except socket.error:
        return False


def probe_bind(held, family, kind, port):
    """Bind a probe socket to the wildcard; True if the port was free."""
    probe = socket.socket(family, kind)
    held.append(probe)
    if family == socket.AF_INET6:  # judge IPv6 apart from our IPv4 probes
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    try:
        probe.bind(sockaddr(family, "any6" if family == socket.AF_INET6 else "any", port))
    except socket.error:
        return False
    return True


def allocate_ports(names):
    """Distinct ports, each free for TCP and UDP (IPv4 and IPv6) on the wildcard.

    Probes stay bound until every name has a port, so names never collide.
    """
    checks = [(socket.AF_INET, socket.SOCK_DGRAM)]
    if ipv6_available():
        checks += [(socket.AF_INET6, socket.SOCK_STREAM), (socket.AF_INET6, socket.SOCK_DGRAM)]
    held, ports = [], {}
    try:
        for name in names:
            ports[name] = free_port(held, checks)
    finally:
        for probe in held:
            probe.close()
    return ports


def free_port(held, checks):
    """A port the kernel picks for TCP on 0.0.0.0 that every other probe can bind too."""
    for _ in range(100):
        first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(first)
        first.bind(("0.0.0.0", 0))
        port = first.getsockname()[1]
        if all(probe_bind(held, family, kind, port) for family, kind in checks):
            return port
    raise InfraError("found no port free for both TCP and UDP")


# ---------------------------------------------------------------------------
# Actor: owns sockets and runs the steps it is sent

def known_ops():
    """Every op this agent can run (harness/scenario/ops.py must list the same)."""
    return sorted(list(SUPERVISOR_OPS) + [name[3:] for name in dir(Actor) if name.startswith("op_")])


class Actor(object):
    """One scenario actor process; the supervisor sends it one step at a time."""

    def __init__(self, chan, table):
        self.chan, self.table = chan, table
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
                reply = self.run_step(msg)
            except Exception:
                reply = {"crash": exception_line()}
            self.chan.send(reply)

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
            result = failure(sys.exc_info()[1])
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
                raise Unsupported("%s is not defined on %s" % (wanted, OS_FAMILY))
        return self.table[level_name], self.table[name]

    # -- the ops --------------------------------------------------------

    def op_socket(self, step):
        sock = socket.socket(ADDRESS_FAMILIES[step["family"]], TYPES[step["type"]])
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
        self.sock(step["sock"]).setsockopt(level, number, self.encode(step["opt"], step["value"]))

    def encode(self, name, value):
        if name == "SO_LINGER":  # false: l_onoff=0 (off); a number: on, that many seconds
            if value is False:
                return struct.pack("ii", 0, 0)
            return struct.pack("ii", 1, int(value))
        if name == "IP_ADD_MEMBERSHIP":  # struct ip_mreq, interface INADDR_ANY
            group = resolve_addr(value, socket.AF_INET)
            return socket.inet_aton(group) + socket.inet_aton("0.0.0.0")
        return int(value)

    def op_getsockopt(self, step):
        level, number = self.option(step)
        sock = self.sock(step["sock"])
        if step["opt"] == "SO_LINGER":
            onoff, linger = struct.unpack("ii", sock.getsockopt(level, number, 8))
            return {"value": linger, "raw": [onoff, linger]}
        # What the kernel returned, as it returned it: for a boolean option Linux and
        # NetBSD say 1, FreeBSD, macOS, OpenBSD and DragonFly the option's flag bit.
        raw = sock.getsockopt(level, number)
        return {"value": raw, "raw": raw}

    def op_bind(self, step):
        sock = self.sock(step["sock"])
        sock.bind(sockaddr(sock.family, step["addr"], step["port"]))

    def op_listen(self, step):
        self.sock(step["sock"]).listen(step["backlog"])

    def op_connect(self, step):
        sock = self.sock(step["sock"])
        err = sock.connect_ex(sockaddr(sock.family, step["addr"], step["port"]))
        if step.get("wait") is False:  # one non-blocking call: its answer as is (EINPROGRESS...)
            if err:
                raise socket.error(err, os.strerror(err))
            return
        if err in STILL_CONNECTING:
            if not wait_ready(sock, True, self.deadline(step)):
                raise Timeout()
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise socket.error(err, os.strerror(err))

    def op_accept(self, step):
        names = [step["sock"]] + list(step.get("or") or ())
        socks = [self.sock(name) for name in names]
        conn, peer, name = accept_any(names, socks, self.deadline(step))
        conn.setblocking(0)
        if step.get("as"):
            self.socks[step["as"]] = conn
        else:
            self.unnamed.append(conn)
        return {"peer": [peer[0], peer[1]], "from": name}

    def op_send(self, step):
        sock = self.sock(step["sock"])
        data = step["data"].encode("utf-8")
        sent = retry_until(sock, True, self.deadline(step), lambda: sock.send(data))
        return {"bytes": sent}

    def op_sendto(self, step):
        sock = self.sock(step["sock"])
        data = step["data"].encode("utf-8")
        dest = sockaddr(sock.family, step["addr"], step["port"])
        sent = retry_until(sock, True, self.deadline(step), lambda: sock.sendto(data, dest))
        return {"bytes": sent}

    def op_recv(self, step):
        sock = self.sock(step["sock"])
        data = retry_until(sock, False, self.deadline(step), lambda: sock.recv(step["size"]))
        return {"data": data.decode("utf-8", "replace"), "bytes": len(data)}

    def op_recvfrom(self, step):
        sock = self.sock(step["sock"])
        data, peer = retry_until(sock, False, self.deadline(step),
                                 lambda: sock.recvfrom(step["size"]))
        return {"data": data.decode("utf-8", "replace"), "bytes": len(data),
                "peer": peer and [peer[0], peer[1]] or None}

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
                sizes.append(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            except socket.error:
                pass
        return sizes and max(1, min(sizes) // DATAGRAM_COST) or 1

    def drain(self, sock, active, kind):
        """Everything pending on sock; a socket that fails for good leaves the loop."""
        got = []
        name = active[sock]
        while True:
            try:
                if kind == "tcp":
                    conn, peer = sock.accept()
                    close_rst(conn)
                    got.append([name, peer[1]])
                else:
                    data = sock.recvfrom(256)[0]
                    got.append([name, data.decode("ascii", "replace")])
            except socket.error:
                num = exc_errno(sys.exc_info()[1])
                if num in AGAIN:
                    return got
                if num not in TRANSIENT:
                    del active[sock]
                    return got
                # a one-shot error (aborted connection, ICMP): keep draining


def actor_main(chan, user, table):
    """An actor process: become the user, say ready (or why not), then serve."""
    try:
        if user:
            switch_user(user)
    except Skip:
        chan.send({"skip": str(sys.exc_info()[1])})
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    chan.send({"ready": True})
    Actor(chan, table).serve()


class InlineActor(object):
    """The `main` actor run inside the supervisor: for most scenarios (one actor, as the invoking
    user, no distribute) a second process would only add a fork and two pipe messages per step.
    It answers as an ActorHandle does; its sockets close with the scenario, as a killed actor's do."""

    pid = None  # no process to kill

    def __init__(self, name, table):
        self.name, self.actor, self.step = name, Actor(None, table), None

    def send(self, msg, what):
        self.step = msg

    def reply(self, deadline, what):
        step, self.step = self.step, None
        try:
            return self.actor.run_step(step)
        except InfraError:
            raise
        except Exception:
            raise InfraError("%s: actor %s crashed: %s" % (
                what, self.name, exception_line()))

    def close(self):
        for sock in list(self.actor.socks.values()) + self.actor.unnamed:
            sock.close()
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
        self.table = option_table(OS_FAMILY, platform.machine())
        self.actors = {}
        self.owner = {}  # socket name -> actor name
        self.kind = {}   # socket name -> tcp/udp
        self.backlog = {}  # socket name -> listen backlog (paces distribute)
        self.ports = {}

    def run(self):
        status = {"status": "ran", "reason": None}
        try:
            self.prepare()
            for index, step in enumerate(self.scenario["steps"]):
                self.out.send({"step": self.run_step(index + 1, step)})
        except Skip:
            status = {"status": "skipped", "reason": str(sys.exc_info()[1])}
        except InfraError:
            status = {"status": "error", "reason": str(sys.exc_info()[1])}
        except Exception:  # a bug or exhausted resources: still report and clean up
            traceback.print_exc()
            status = {"status": "error", "reason": "agent failure: %s"
                      % exception_line()}
        self.stop_actors()  # before reporting: nothing outlives the scenario
        self.out.send(status)

    def prepare(self):
        if use_netns(self.options):
            enter_netns()
        self.ports = allocate_ports(port_names(self.scenario["steps"]))
        self.out.send({"ports": self.ports})
        actors = self.scenario.get("actors") or {"main": {}}
        if self.inline(actors):
            self.actors["main"] = InlineActor("main", self.table)
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
            run_child(actor_main, Channel(cmd_r, rep_w), user, self.table)
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

    def port(self, port):
        if is_port_name(port):
            return self.ports[port]
        if isinstance(port, (str, TEXT)):
            return int(port)
        return port

    def run_step(self, index, step):
        """One step's outcome record; InfraError if the actor fails to answer."""
        start = now()
        step = dict(step)
        if "port" in step:
            step["port"] = self.port(step["port"])
        if step["op"] == "sleep":
            time.sleep(step["ms"] / 1000.0)
            return {"outcome": "ok", "ms": ms_since(start)}
        if step["op"] == "distribute":
            step["to"] = dict(step["to"], port=self.port(step["to"]["port"]))
            result = self.distribute(index, step)
            result["ms"] = ms_since(start)
            return result
        return self.run_on_actor(index, step)

    def handle(self, name, what):
        try:
            return self.actors[name]
        except KeyError:
            raise InfraError("%s: no actor named %s" % (what, name))

    def run_on_actor(self, index, step):
        what = "step %d (%s)" % (index, step["op"])
        handle = self.handle(step.get("actor") or "main", what)
        if step["op"] == "socket":
            self.owner[step["sock"]] = handle.name
            self.kind[step["sock"]] = step["type"]
        elif step["op"] == "listen":
            self.backlog[step["sock"]] = step["backlog"]
        elif step["op"] == "accept" and step.get("as"):
            self.owner[step["as"]] = handle.name
            self.kind[step["as"]] = "tcp"
        handle.send(step, what)
        budget = (step.get("timeout_ms") or 0) / 1000.0 + self.step_timeout
        return handle.reply(now() + budget, what)

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
        tally = Tally(over, serving, self.step_timeout, kind)
        deadline = now() + step["timeout_ms"] / 1000.0
        try:
            if kind == "tcp":
                window = min([self.backlog.get(name, 16) for name in over] + [MAX_WINDOW])
                connect_clients(family, dest, step["count"], deadline, tally, max(1, window))
                tally.collect(deadline, None)
            else:
                window = min(rooms + [MAX_WINDOW])
                send_datagrams(family, dest, step["count"], deadline, tally, window)
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

    def __init__(self, over, serving, step_timeout, kind):
        self.histogram = dict((name, 0) for name in over)
        self.received = 0   # this step's keys that arrived
        self.pending = {}   # key -> client socket: sent, not reported yet (in flight)
        self.late = {}      # key -> client socket: written off after a silence; counted if it comes
        self.copies = {} if kind == "udp" else None  # udp: key -> sockets it reached (multicast copies)
        self.serving = serving
        self.chans = dict((handle.chan, handle) for handle in serving)
        self.step_timeout = step_timeout

    def expect(self, key, client):
        self.pending[key] = client

    def poll(self, deadline):
        """Fold the reports that arrive before deadline; False if none did."""
        ready = wait_channels(list(self.chans), deadline)
        for chan in ready:
            self.fold(self.chans[chan].reply(now() + self.step_timeout, "distribute"))
        return bool(ready)

    def fold(self, msg):
        for name, key in msg.get("got", ()):
            if name not in self.histogram:
                continue
            client = self.pending.pop(key, None) or self.late.pop(key, None)
            if client is not None:
                close_rst(client)
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
            close_rst(client)
        self.late.update(dict.fromkeys(self.pending, CLOSED))
        self.pending = {}

    def collect(self, deadline, settle):
        """Until everything in flight arrived (and, with `settle`, then nothing
        more for that long: multicast copies), the receivers fell silent for
        COLLECT_QUIET (what is missing went elsewhere), or the deadline."""
        while self.pending and self.serving:
            if not self.poll(min(deadline, now() + COLLECT_QUIET)):
                break
        while settle is not None and self.serving and self.poll(min(deadline, now() + settle)):
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


def connect_clients(family, dest, count, deadline, tally, window):
    """One connection per new socket, each waited for and handed to the tally.

    At most `window` (the smallest listen backlog) connections wait to be
    accepted at any time, so no listen queue overflows into a dropped SYN
    and a one-second retransmission.
    """
    for _ in range(count):
        tally.pace(window, deadline)
        client = socket.socket(family, socket.SOCK_STREAM)
        client.setblocking(0)
        err, port = -1, None
        try:
            err = client.connect_ex(dest)
            port = client.getsockname()[1]
            if err in IN_PROGRESS:
                wait_ready(client, True, deadline)
                err = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except socket.error:
            pass  # refused or unreachable: counted as lost
        # ECONNRESET: established, and already accepted and closed (RST)
        if err in (0, errno.ECONNRESET):
            tally.expect(port, client)
        else:
            close_rst(client)


def send_datagrams(family, dest, count, deadline, tally, window):
    """One datagram per new socket (distinct source ports), never more in flight than the smallest
    receive queue holds: a flood the harness makes itself must not overflow it."""
    for number in range(count):
        tally.pace(window, deadline)
        client = socket.socket(family, socket.SOCK_DGRAM)
        client.setblocking(0)
        payload = "%d" % number
        try:
            client.sendto(payload.encode("ascii"), dest)
        except socket.error:
            client.close()
            continue
        tally.expect(payload, client)


def supervisor_main(scenario, options, out, agent_pid):
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
    Supervisor(scenario, options, out).run()


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
        self.deadline = self.start + self.budget_ms / 1000.0
        read_fd, write_fd = os.pipe()
        agent_pid = os.getpid()
        freeze_heap()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            run_child(supervisor_main, scenario, options, Channel(wfd=write_fd), agent_pid)
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
        elif "step" in msg:
            self.result["steps"].append(msg["step"])
        else:
            self.result["status"], self.result["reason"] = msg["status"], msg["reason"]
            return True
        return False

    def finish(self, timed_out):
        """Kill and reap the scenario's group: nothing of it outlives it. The result."""
        if timed_out:
            self.result["reason"] = "scenario exceeded scenario_timeout_ms (%d ms)" % self.budget_ms
        status = kill_group(self.pid)
        CURRENT.remove(self.pid)
        self.chan.close()
        if self.result["reason"] is None and self.result["status"] == "error":
            self.result["reason"] = "supervisor ended without a result (%s)" % (
                status is None and "unknown" or describe_exit(status))
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
    if not use_netns(options):
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
    return {"event": HELLO, "protocol": PROTOCOL, "agent": AGENT_VERSION,
            "identity": identity()}


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
