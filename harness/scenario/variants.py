"""Address-family variants: a scenario written once for IPv4 runs as inet, inet6 and inet6-mapped.

packetdrill runs every script as IPv4, IPv6 and IPv4-mapped IPv6, because the
kernels take other paths for each (Linux ipv6_rcv_saddr_equal and the v6only
rules, FreeBSD in6_pcbbind, IPV6_V6ONLY defaulting to 1 on FreeBSD and to 0 on
Linux). A scenario that lists `families:` is written with the IPv4 symbolic
addresses (any, loopback, loopback2); each variant says what they become and
sets IPV6_V6ONLY explicitly, so no variant depends on a system's default.
Pure data and pure functions; the loader applies them while it reads a step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

# What a scenario with families: writes: the IPv4 symbolic addresses, which every variant translates.
SYMBOLIC = ("any", "loopback", "loopback2")


@dataclass(frozen=True)
class Family:
    """One variant: the family of every socket, its IPV6_V6ONLY, and what each symbolic address becomes."""

    name: str
    socket: str  # inet or inet6: the family of every socket the scenario makes
    v6only: Optional[bool]  # IPV6_V6ONLY set right after socket(); None: not set (inet)
    addresses: dict[str, str]  # symbolic address -> what a step binds, connects or sends to
    clients: dict[str, str]  # symbolic address -> where distribute's clients go (it picks their family)
    missing: dict[str, str]  # symbolic address -> why this variant has no such address
    excluded: tuple[tuple[str, str], ...] = ()  # (selector, reason): systems that have no such variant
    summary: str = ""  # how the variant reads a description written for IPv4

    def describe(self, description: Optional[str]) -> Optional[str]:
        """A description written with IPv4 addresses, with what this variant makes of them."""
        if not self.summary:
            return description
        return f"{description} (as {self.name}: {self.summary})" if description else f"as {self.name}: {self.summary}"

    def address(self, symbolic: str, client: bool = False) -> Optional[str]:
        """What `symbolic` is in this variant, or None if it has none (see `missing`)."""
        return (self.clients if client else self.addresses).get(symbolic)

    def ipv4_only(self, what: str) -> Optional[str]:
        """Why a step that only IPv4 has (an IPPROTO_IP option, an IPv4 group) cannot run here."""
        return None if self.socket == "inet" else f"{what} is IPv4 only; this variant's sockets are AF_INET6"


_SAME = {name: name for name in SYMBOLIC}
_IPV6 = {"any": "any6", "loopback": "loopback6"}  # IPv6's own addresses; loopback2 has none
ADDRESS_FAMILIES: dict[str, Family] = {
    "inet": Family("inet", "inet", None, _SAME, _SAME, {}),
    "inet6": Family(
        "inet6", "inet6", True,
        _IPV6, _IPV6,
        {"loopback2": "IPv6 has a single loopback address (::1), and a scenario never uses any other "
                      "(loopback2 has no inet6 form)"},
        summary="AF_INET6 sockets with IPV6_V6ONLY=1; 127.0.0.1 is ::1, 0.0.0.0 is ::",
    ),
    # IPv4 traffic to AF_INET6 sockets: they bind v4-mapped addresses (or :: with IPV6_V6ONLY off),
    # and distribute's clients are plain IPv4 ones, as the IPv4 peers of a dual-stack server would be.
    "inet6-mapped": Family(
        "inet6-mapped", "inet6", False,
        {"any": "any6", "loopback": "::ffff:127.0.0.1", "loopback2": "::ffff:127.0.0.2"}, _SAME, {},
        excluded=(("openbsd", "OpenBSD has no IPv4-mapped IPv6 addresses: IPV6_V6ONLY cannot be turned off "
                              "(EINVAL, sys/netinet6/ip6_output.c ip6_ctloutput) and in6_pcbaddrisavail_lock "
                              "refuses mapped addresses (sys/netinet6/in6_pcb.c)"),),
        summary="AF_INET6 sockets with IPV6_V6ONLY=0; 127.0.0.1 is ::ffff:127.0.0.1, 0.0.0.0 is ::; "
                "IPv4 clients",
    ),
}
