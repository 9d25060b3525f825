"""Errno names per system: which names are one number there, and which name a result shows.

An expected errno is compared with an observed one by the number each name has
on the target's system, so a scenario may write either name of a pair that is
one number there (`EOPNOTSUPP` and `ENOTSUP` on Linux and FreeBSD, `EAGAIN`
and `EWOULDBLOCK` everywhere) and be right; where the two are different numbers
(macOS, NetBSD, OpenBSD: EOPNOTSUPP 102/45/45, ENOTSUP 45/86/91) they stay
different outcomes. The agent names an observed number by the first name of its
group here (the name each system documents), never by the C library's last
alias. Pure data; the loader also uses NAMES to catch a misspelt errno.
"""
from __future__ import annotations

from typing import Optional

# System -> groups of names that are one number there, the documented name first. Sources:
#   linux: include/uapi/asm-generic/errno.h (`#define EWOULDBLOCK EAGAIN`, `#define EDEADLOCK EDEADLK`);
#          ENOTSUP is the C library's (glibc bits/errno.h, musl: `#define ENOTSUP EOPNOTSUPP`);
#          the kernel's own code and manual pages say EOPNOTSUPP (listen(2), net/socket.c).
#   freebsd, dragonfly: sys/sys/errno.h (`#define EWOULDBLOCK EAGAIN`, `#define ENOTSUP EOPNOTSUPP`).
#   darwin (XNU bsd/sys/errno.h: ENOTSUP 45, EOPNOTSUPP 102), netbsd (sys/sys/errno.h: EOPNOTSUPP 45,
#   ENOTSUP 86), openbsd (sys/sys/errno.h: EOPNOTSUPP 45, ENOTSUP 91): only EWOULDBLOCK is an alias.
_WOULDBLOCK = ("EAGAIN", "EWOULDBLOCK")
ALIASES: dict[str, tuple[tuple[str, ...], ...]] = {
    "linux": (_WOULDBLOCK, ("EOPNOTSUPP", "ENOTSUP"), ("EDEADLK", "EDEADLOCK")),
    "freebsd": (_WOULDBLOCK, ("EOPNOTSUPP", "ENOTSUP")),
    "dragonfly": (_WOULDBLOCK, ("EOPNOTSUPP", "ENOTSUP")),
    "darwin": (_WOULDBLOCK,),
    "netbsd": (_WOULDBLOCK,),
    "openbsd": (_WOULDBLOCK,),
}

# Every errno name some system the harness knows defines (POSIX, Linux's asm-generic/errno*.h, the
# BSDs' and XNU's sys/errno.h), for catching a misspelt expectation; `E<number>` is what the agent
# reports for a number it has no name for, and is accepted too.
NAMES = frozenset("""
E2BIG EACCES EADDRINUSE EADDRNOTAVAIL EADV EAFNOSUPPORT EAGAIN EALREADY EASYNC EAUTH EBADARCH EBADE
EBADEXEC EBADF EBADFD EBADMACHO EBADMSG EBADR EBADRPC EBADRQC EBADSLT EBFONT EBUSY ECANCELED ECAPMODE
ECHILD ECHRNG ECOMM ECONNABORTED ECONNREFUSED ECONNRESET EDEADLK EDEADLOCK EDESTADDRREQ EDEVERR EDOM
EDOOFUS EDOTDOT EDQUOT EEXIST EFAULT EFBIG EFTYPE EHOSTDOWN EHOSTUNREACH EHWPOISON EIDRM EILSEQ
EINPROGRESS EINTEGRITY EINTR EINVAL EIO EIPSEC EISCONN EISDIR EISNAM EKEYEXPIRED EKEYREJECTED
EKEYREVOKED EL2HLT EL2NSYNC EL3HLT EL3RST ELIBACC ELIBBAD ELIBEXEC ELIBMAX ELIBSCN ELNRNG ELOOP
EMEDIUMTYPE EMFILE EMLINK EMSGSIZE EMULTIHOP ENAMETOOLONG ENAVAIL ENEEDAUTH ENETDOWN ENETRESET
ENETUNREACH ENFILE ENOANO ENOATTR ENOBUFS ENOCSI ENODATA ENODEV ENOENT ENOEXEC ENOKEY ENOLCK ENOLINK
ENOMEDIUM ENOMEM ENOMSG ENONET ENOPKG ENOPOLICY ENOPROTOOPT ENOSPC ENOSR ENOSTR ENOSYS ENOTBLK
ENOTCAPABLE ENOTCONN ENOTDIR ENOTEMPTY ENOTNAM ENOTRECOVERABLE ENOTSOCK ENOTSUP ENOTTY ENOTUNIQ ENXIO
EOPNOTSUPP EOVERFLOW EOWNERDEAD EPERM EPFNOSUPPORT EPIPE EPROCLIM EPROCUNAVAIL EPROGMISMATCH
EPROGUNAVAIL EPROTO EPROTONOSUPPORT EPROTOTYPE EPWROFF EQFULL ERANGE EREMCHG EREMOTE EREMOTEIO
ERESTART ERFKILL EROFS ERPCMISMATCH ESHLIBVERS ESHUTDOWN ESOCKTNOSUPPORT ESPIPE ESRCH ESRMNT ESTALE
ESTRPIPE ETIME ETIMEDOUT ETOOMANYREFS ETXTBSY EUCLEAN EUNATCH EUSERS EWOULDBLOCK EXDEV EXFULL
""".split())


def group(system: Optional[str], name: str) -> tuple[str, ...]:
    """The names that are one number with `name` on `system` (just `name` where it has no alias)."""
    return next((g for g in ALIASES.get(system or "", ()) if name in g), (name,))


def same(system: Optional[str], expected: str, observed: str) -> bool:
    """Whether two errno names are one number on `system` (an unknown system: only equal names)."""
    return expected == observed or observed in group(system, expected)


def canonical(system: Optional[str], name: str) -> str:
    """The name `system` documents for the number `name` has there."""
    return group(system, name)[0]


def known(name: str) -> bool:
    """A name some system defines, or the agent's `E<number>` for a number it could not name."""
    return name in NAMES or (name[1:].isdigit() and len(name) > 1)
