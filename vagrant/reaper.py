#!/usr/bin/env python3
"""Runs a daemon as the child subreaper above it, reaping its orphans the moment they exit.

vagrant/host-daemons.sh starts libvirtd and virtlogd through this. A daemon
that forks away (`--daemon`), and the QEMU processes libvirtd double-forks,
would otherwise be orphans of init, which on some hosts (this project's CI
among them) reaps only every second or two: libvirt waits for a stopped QEMU
to vanish (kill(pid, 0) fails only once it is reaped), so every save and
destroy of a machine, and the daemons' own stop, waited for init. As the
nearest subreaper (PR_SET_CHILD_SUBREAPER) this process gets those orphans
instead and reaps them at once; it exits when none is left.
Usage: reaper.py COMMAND [ARG...]   (stdlib only; Linux)
"""
import ctypes
import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: reaper.py COMMAND [ARG...]\n")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        os.execvp(argv[1], argv[1:])  # not Linux enough to reap: the daemon as it was started before
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # it goes when its last child does, not before
    first = os.fork()
    if first == 0:
        for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)  # as a shell would have started it
        try:
            os.execvp(argv[1], argv[1:])
        finally:
            os._exit(127)
    status = 0
    while True:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            return status
        except InterruptedError:
            continue
        if pid == first:  # the command's own status (a daemon's parent that forked it away: 0)
            status = os.waitstatus_to_exitcode(code) if hasattr(os, "waitstatus_to_exitcode") else code >> 8


if __name__ == "__main__":
    sys.exit(main(sys.argv))
