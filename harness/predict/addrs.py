"""Addresses as a step names them (`loopback`, `any6`, `::ffff:127.0.0.1`), resolved as the agent does.

The agent (harness/agent.py resolve_addr) maps symbolic names to literals and gives an AF_INET6
socket an IPv4 literal as its v4-mapped form; the model resolves them the same way so that it
reasons about the address the kernel saw.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional, Union

from ..scenario.ops import ADDRESSES

IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")


class NotAnAddress(ValueError):
    """An address the agent cannot give this socket (an IPv6 literal on an AF_INET socket)."""


@dataclass(frozen=True)
class Addr:
    """One address as a socket of some family binds, connects or sends to it."""

    ip: IP

    @property
    def v6(self) -> bool:
        return self.ip.version == 6

    @property
    def mapped(self) -> Optional[ipaddress.IPv4Address]:
        return self.ip.ipv4_mapped if self.v6 else None

    @property
    def v4(self) -> Optional[ipaddress.IPv4Address]:
        """The IPv4 address it stands for: itself, or the one inside a v4-mapped address."""
        return self.ip if not self.v6 else self.mapped

    @property
    def wildcard(self) -> bool:
        """0.0.0.0 or :: (a v4-mapped ::ffff:0.0.0.0 is not: it is specific as an IPv6 address)."""
        return self.ip.is_unspecified

    @property
    def wild4(self) -> bool:
        """Covers every IPv4 address: 0.0.0.0, or ::ffff:0.0.0.0."""
        return self.v4 is not None and self.v4.is_unspecified

    @property
    def multicast(self) -> bool:
        return (self.v4 or self.ip).is_multicast

    @property
    def broadcast(self) -> bool:
        return self.v4 == ipaddress.IPv4Address("255.255.255.255")

    @property
    def loopback(self) -> bool:
        """An address of lo: 127.0.0.0/8 or ::1 (or their v4-mapped forms)."""
        return (self.v4 or self.ip).is_loopback

    def __str__(self) -> str:
        return str(self.ip)


def resolve(addr: str, family: str) -> Addr:
    """The address the agent passes for `addr` on a socket of `family` (inet/inet6)."""
    literal = ADDRESSES.get(addr, addr)
    ip = ipaddress.ip_address(literal)
    if family == "inet6" and ip.version == 4:
        ip = ipaddress.IPv6Address(f"::ffff:{ip}")
    if family == "inet" and ip.version == 6:
        raise NotAnAddress(f"{addr} is an IPv6 address; the agent cannot pass it to an AF_INET socket")
    return Addr(ip)


def client_family(addr: str) -> str:
    """The family of distribute's clients and of a connect's route: the destination's (agent family_of)."""
    return "inet6" if ":" in ADDRESSES.get(addr, addr) else "inet"
