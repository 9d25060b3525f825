"""Kernel settings a scenario may set for itself (`sysctl:`): which system has each, and where it lives.

A scenario that depends on a setting (a small ephemeral port range, autobind
reuse, the IPv6 v6only default) names it with the value it needs. The agent
applies the settings of its own system where they cannot leak out of the
scenario: inside the scenario's own network namespace (Linux, for the settings
Linux keeps per namespace) or in the scenario's own kernel (the `rump` target).
Where a setting would change the whole machine (a Linux host without
namespaces, a BSD or macOS host) the scenario is skipped with the reason,
unless the run was started with `--host-sysctl`; a target whose system has
none of the scenario's settings skips it, saying which systems it is for.
Pure data.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    system: str  # the OS family that has it
    kind: str  # "bool" (0 or 1), "int", or "range" (two ports, written "LOW HIGH" or [LOW, HIGH])
    per_netns: bool = False  # Linux keeps it per network namespace (else: one for the whole kernel)


# Sources: Linux net/ipv4/sysctl_net_ipv4.c `ipv4_net_table` and net/ipv6/sysctl_net_ipv6.c
# `ipv6_table_template` (the per-namespace tables); FreeBSD netinet/in_pcb.c (`_net_inet_ip_portrange`)
# and netinet6/in6_proto.c; NetBSD netinet/ip_input.c `sysctl_net_inet_ip_setup` (IPCTL_ANONPORTMIN 10,
# IPCTL_ANONPORTMAX 11 in netinet/in.h) and netinet6/ip6_input.c (IPV6CTL_V6ONLY 24,
# IPV6CTL_ANONPORTMIN 28, IPV6CTL_ANONPORTMAX 29 in netinet6/in6.h).
SETTINGS: dict[str, Setting] = {
    "net.ipv4.ip_local_port_range": Setting("linux", "range", True),
    "net.ipv4.ip_autobind_reuse": Setting("linux", "bool", True),
    "net.ipv4.ip_nonlocal_bind": Setting("linux", "bool", True),
    "net.ipv4.ip_unprivileged_port_start": Setting("linux", "int", True),
    "net.ipv4.tcp_fastopen": Setting("linux", "int", True),
    "net.ipv4.tcp_tw_reuse": Setting("linux", "int", True),
    "net.ipv6.bindv6only": Setting("linux", "bool", True),
    "net.ipv6.ip_nonlocal_bind": Setting("linux", "bool", True),
    "net.inet.ip.portrange.first": Setting("freebsd", "int"),
    "net.inet.ip.portrange.last": Setting("freebsd", "int"),
    "net.inet.ip.portrange.randomized": Setting("freebsd", "bool"),
    "net.inet6.ip6.v6only": Setting("freebsd", "bool"),
    "net.inet.ip.anonportmin": Setting("netbsd", "int"),
    "net.inet.ip.anonportmax": Setting("netbsd", "int"),
    "net.inet6.ip6.anonportmin": Setting("netbsd", "int"),
    "net.inet6.ip6.anonportmax": Setting("netbsd", "int"),
}
# A name two systems share is written once per system by the table's keys; these are shared:
SHARED: dict[str, tuple[str, ...]] = {"net.inet6.ip6.v6only": ("freebsd", "netbsd", "darwin")}


def systems_of(name: str) -> tuple[str, ...]:
    """The OS families that have the setting."""
    return SHARED.get(name) or (SETTINGS[name].system,)


def text(kind: str, value: object) -> str:
    """A setting's value as the kernel reads it: `1`, `40000 49999`."""
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(int(value)) if isinstance(value, bool) else str(value)
