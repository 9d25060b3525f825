"""Read `strace -f` output into typed system-call events, without judging them.

strace prints one line per call, prefixed by the pid (-f); a call that blocks while
another process runs is split into `name(args <unfinished ...>` and, later,
`<... name resumed>rest) = result`.  This module joins those halves, splits the
arguments at top level, and decodes the few argument shapes the recorder needs
(descriptors, socket addresses, option values, descriptors passed in SCM_RIGHTS).
A call still unfinished when the trace ends (the program was stopped while it
blocked) is kept with `finished=False`.

A joined call takes its place where it returned (an accept gets its connection when it
returns), except the calls that act when they start: a connect sends its SYN, a
sendmsg its descriptors, before the call that waits for them returns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Union

_LINE = re.compile(r"(?P<pid>\d+) +(?P<body>.*)$")
_CALL = re.compile(r"(?P<name>\w+)\((?P<rest>.*)$")
_RESUMED = re.compile(r"<\.\.\. (?P<name>\w+) resumed>(?P<rest>.*)$")
_EXIT = re.compile(r"\+\+\+ (exited with|killed by) ")
_RESULT = re.compile(r"(?P<value>-?\d+|\?|0x[0-9a-f]+)(?:<(?P<annotation>.*)>)?(?: (?P<errno>E[A-Z0-9]+|ERESTART\w*))?")
_FD = re.compile(r"(?P<fd>-?\d+)(?:<(?P<annotation>.*)>)?$")
_UNFINISHED = " <unfinished ...>"
ACT_AT_START = {"connect", "sendmsg", "sendto", "sendmmsg"}
_END = re.compile(r"\) +=(?: |$)")  # where the arguments end and the result starts (strace pads with spaces)


@dataclass(frozen=True)
class Syscall:
    """One system call as strace printed it: its top-level arguments as text, and what it returned."""

    pid: int
    name: str
    args: tuple[str, ...]
    result: Optional[int]  # None: `?` or no return at all
    errno: Optional[str]  # EADDRINUSE...; None when it succeeded
    finished: bool  # False: still blocked when the trace ended, or interrupted (ERESTART*)
    raw: str  # the call as one line, for comments in the scenario
    line: int  # where it takes its place in the trace (see the module's docstring)


@dataclass(frozen=True)
class Exit:
    """A process or thread ended (`+++ exited with N +++` or `+++ killed by SIG +++`)."""

    pid: int
    line: int


Event = Union[Syscall, Exit]


@dataclass(frozen=True)
class Sockaddr:
    family: str  # AF_INET, AF_INET6, AF_UNIX...
    ip: Optional[str] = None
    port: Optional[int] = None
    path: Optional[str] = None  # AF_UNIX: the path as strace wrote it (`@"..."` for the abstract namespace)


def parse(lines: Iterable[str]) -> list[Event]:
    """Every call and exit in the order strace printed them (a resumed call where it finished)."""
    events: list[Event] = []
    pending: dict[int, tuple[str, str, int]] = {}  # pid -> (name, first half of the arguments, line)
    for number, text in enumerate(lines, 1):
        m = _LINE.match(text.rstrip("\n"))
        if not m:
            continue
        pid, body = int(m["pid"]), m["body"]
        if _EXIT.match(body):
            events.append(Exit(pid, number))
            continue
        if body.endswith(_UNFINISHED):
            call = _CALL.match(body)
            if call:
                pending[pid] = (call["name"], body[len(call["name"]) + 1:-len(_UNFINISHED)], number)
            continue
        resumed = _RESUMED.match(body)
        if resumed:
            name, head, first = pending.pop(pid, (resumed["name"], "", number))
            events.append(_syscall(pid, name, head + resumed["rest"], first if name in ACT_AT_START else number))
            continue
        call = _CALL.match(body)
        if call:
            events.append(_syscall(pid, call["name"], call["rest"], number))
    for pid, (name, head, number) in pending.items():  # blocked when the program was stopped
        events.append(Syscall(pid, name, split_args(head.rstrip(", ")), None, None, False,
                              f"{name}({head.rstrip(', ')} <unfinished>", number))
    events.sort(key=lambda e: e.line)
    return events


def _syscall(pid: int, name: str, rest: str, line: int) -> Syscall:
    """`args) = result` -> Syscall; a line with no result (cut off) counts as unfinished."""
    ends = list(_END.finditer(rest))
    if not ends:
        return Syscall(pid, name, split_args(rest.rstrip(") ")), None, None, False, f"{name}({rest}", line)
    args, result = rest[:ends[-1].start()], rest[ends[-1].end():].strip()
    m = _RESULT.match(result)
    value = m["value"] if m else "?"
    errno = m["errno"] if m else None
    restarted = bool(errno and errno.startswith("ERESTART"))
    number = None if value == "?" or restarted else int(value, 0)
    raw = f"{name}({args}) = {result}"
    return Syscall(pid, name, split_args(args), number, errno if number is not None and number < 0 else None,
                   not restarted and value != "?" or name in ("exit_group", "exit"), raw, line)


def split_args(text: str) -> tuple[str, ...]:
    """Top-level comma-separated arguments; commas inside (), [], {}, <> or quotes do not split."""
    if not any(ch in text for ch in '"([{<'):  # most calls: descriptors and flags only
        return tuple(part.strip() for part in text.split(",")) if text.strip() else ()
    out, depth, quote, start, i = [], 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>" and depth and not (ch == ">" and text[i - 1:i] in ("-", "=")):  # `->`, `=>`
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i].strip())
            start = i + 1
        i += 1
    tail = text[start:].strip()
    return tuple(out + [tail]) if tail or out else ()


def fd(arg: str) -> Optional[int]:
    """The descriptor of an argument such as `3<TCP:[127.0.0.1:80]>`."""
    m = _FD.match(arg.strip())
    return int(m["fd"]) if m else None


def fd_list(arg: str) -> list[int]:
    """`[19, 20]` (socketpair's pair, pipe's ends) -> [19, 20]."""
    return [int(n) for n in re.findall(r"-?\d+", arg)] if arg.strip().startswith("[") else []


_RIGHTS = re.compile(r"cmsg_type=SCM_RIGHTS, cmsg_data=\[([-0-9, ]*)\]")


def passed_fds(arg: str) -> list[int]:
    """The descriptors a sendmsg/recvmsg message carries (SCM_RIGHTS), in order."""
    return [int(n) for group in _RIGHTS.findall(arg) for n in group.replace(" ", "").split(",") if n]


_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_IP4 = re.compile(r'inet_addr\("([^"]*)"\)')
_IP6 = re.compile(r'inet_pton\(AF_INET6?, "([^"]*)"')


def sockaddr(arg: str) -> Optional[Sockaddr]:
    """`{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}` -> Sockaddr; None if not one."""
    family = re.search(r"sa_family=(\w+)", arg)
    if not family:
        return None
    port, ip = _PORT.search(arg), _IP4.search(arg) or _IP6.search(arg)
    path = re.search(r'sun_path=(@?"(?:[^"\\]|\\.)*")', arg)
    return Sockaddr(family[1], ip[1] if ip else None, int(port[1]) if port else None, path[1] if path else None)


def int_value(arg: str) -> Optional[int]:
    """`[1]` or `1` -> 1; None for a structure or an address."""
    m = re.fullmatch(r"\[?(-?\d+)\]?", arg.strip())
    return int(m[1]) if m else None


def fields(arg: str) -> dict[str, str]:
    """`{l_onoff=1, l_linger=0}` -> {'l_onoff': '1', 'l_linger': '0'}."""
    inner = arg.strip()
    if not (inner.startswith("{") and inner.endswith("}")):
        return {}
    pairs = (part.split("=", 1) for part in split_args(inner[1:-1]) if "=" in part)
    return {k.strip(): v.strip() for k, v in pairs}
