"""What a recording is made of while it is converted: sockets, steps, comments, the summary.

Plain data shared by the converter (convert.py), the naming of sockets and ports
(naming.py) and the reuseport groups (groups.py); render.py writes the result.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, Union

MAIN = "main"
ANY = "any"
MAX_SOCKETS = 200  # sockets written; a program that opens thousands gets these and a count of the rest
MAX_STEPS = 2000
MAX_COMMENTS = 200


@dataclass(eq=False)
class Sock:
    """One IPv4/IPv6 socket of the program, whichever descriptors and processes hold it."""

    family: str
    type: str
    actor: str
    creator: int  # the process (thread group) that made it
    fd: int
    kept: bool = True  # False: beyond MAX_SOCKETS, counted only
    name: str = ""
    local_port: Optional[int] = None  # the port the kernel gave a port-0 bind, as getsockname read it
    bound: Optional[tuple[str, Any]] = None  # (address written, port written)
    listening: bool = False
    reuseport: bool = False  # SO_REUSEPORT set (and not cleared)
    refs: int = 0  # descriptors (and messages in flight) referring to it
    inherited_by: list[int] = field(default_factory=list)
    received_by: set[int] = field(default_factory=set)  # processes that got it over a UNIX socket
    used_by: set[int] = field(default_factory=set)
    accepted_from: Optional["Sock"] = None
    from_outside: bool = False  # accepted from a client outside the program: a stand-in replays it
    closed: bool = False


@dataclass(frozen=True)
class PortOf:
    """The port the kernel gave a socket that bound port 0, resolved once the whole trace is read."""

    sock: Sock


@dataclass
class Step:
    op: str
    args: dict[str, Any]  # values may be Sock, a list of Sock or PortOf until they are named
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
    refused: list[str] = field(default_factory=list)
    non_ip: Counter = field(default_factory=Counter)
    inheriting: set[int] = field(default_factory=set)
    receiving: set[int] = field(default_factory=set)  # processes that got a socket over a UNIX socket
    unfollowed: int = 0  # descriptors received over UNIX sockets whose sender could not be told
    groups: int = 0  # SO_REUSEPORT groups given a distribute step

    def line(self) -> str:
        parts = [f"{self.sockets} socket(s), {self.steps} step(s)",
                 f"{self.comments} call(s) the format cannot express kept as comments"]
        if self.dropped_sockets or self.dropped_calls:
            parts.append(f"{self.dropped_sockets} more socket(s) and {self.dropped_calls} more call(s) left out "
                         f"(a file holds at most {MAX_SOCKETS} sockets and {MAX_STEPS} steps)")
        if self.refused:
            parts.append(f"{len(self.refused)} address(es) outside loopback refused: {', '.join(self.refused[:5])}")
        if self.non_ip:
            parts.append(f"{sum(self.non_ip.values())} non-IP socket(s) left out "
                         f"({', '.join(sorted(self.non_ip))})")
        if self.inheriting:
            parts.append(f"{len(self.inheriting)} forked process(es) inherited sockets")
        if self.receiving:
            parts.append(f"{len(self.receiving)} process(es) received sockets over UNIX sockets")
        if self.unfollowed:
            parts.append(f"{self.unfollowed} descriptor(s) received over UNIX sockets could not be followed")
        if self.groups:
            parts.append(f"{self.groups} SO_REUSEPORT group(s) given a distribute step")
        return "; ".join(parts)


@dataclass
class Recording:
    actors: dict[str, str]  # actor name -> user
    items: list[Union[dict, str]]  # steps as the format writes them, and comment lines
    summary: Summary
    served: bool = False  # the program accepted a connection (it got as far as serving)
