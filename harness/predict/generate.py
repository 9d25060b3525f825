"""Seeded random call sequences, written as a scenario file, to hold the model against real kernels.

Small on purpose (issue 23's `harness explore` brings the real generator): a few sockets of random
type, family and owner; then binds, option changes, listens, connects, accepts, closes and
distributes over two ports, weighted toward what the address rules decide. Every step expects
`any`: such a file is run to compare targets, never to judge one. `shrink` removes steps from a
sequence while a caller's test still fails on it, so a disagreement is shown as a short sequence.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import yaml

PORTS = ("P", "Q")
ADDRS = {"inet": ("any", "loopback", "loopback2"), "inet6": ("any6", "loopback6"),
         "dual": ("any6", "loopback6", "loopback", "any")}  # an IPv4 name on AF_INET6: v4-mapped
OPTIONS = ("SO_REUSEADDR", "SO_REUSEPORT")
FAST_MS = 50  # accept and recv wait this long when nothing comes: a generated file runs in seconds


@dataclass
class Sequence:
    """One generated scenario: its name and its steps as a scenario file writes them."""

    name: str
    steps: list[dict[str, Any]]
    actors: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        scenario: dict[str, Any] = {"name": self.name, "tags": ["generated"], "steps": self.steps}
        if self.actors:
            scenario["actors"] = self.actors
        return scenario


class _Builder:
    def __init__(self, rng: random.Random, name: str) -> None:
        self.rng = rng
        self.name = name
        self.steps: list[dict[str, Any]] = []
        self.socks: dict[str, tuple[str, str]] = {}  # name -> (type, family kind: inet/inet6/dual)
        self.other = False
        self.counter = 0

    def fresh(self, prefix: str = "s") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def add(self, step: dict[str, Any]) -> None:
        self.steps.append({**step, "expect": "any"})

    def socket(self) -> None:
        r = self.rng
        name = self.fresh()
        kind = r.choice(("inet", "inet", "inet6", "dual"))
        type_ = r.choice(("tcp", "tcp", "udp"))
        step: dict[str, Any] = {"op": "socket", "sock": name, "type": type_}
        if kind != "inet":
            step.update(family="inet6", v6only=(kind == "inet6"))
        if r.random() < 0.15:
            step["actor"] = "other"
            self.other = True
        self.socks[name] = (type_, kind)
        self.add(step)

    def pick(self, type_: Optional[str] = None) -> Optional[str]:
        names = [n for n, (t, _) in self.socks.items() if type_ in (None, t)]
        return self.rng.choice(names) if names else None

    def step(self) -> None:
        r = self.rng
        sock = self.pick()
        if sock is None or r.random() < 0.12:
            return self.socket()
        type_, kind = self.socks[sock]
        op = r.choices(("setsockopt", "bind", "listen", "connect", "close", "getsockopt", "accept",
                        "distribute", "shutdown"), weights=(22, 26, 12, 8, 6, 5, 5, 6, 2))[0]
        if op == "setsockopt":
            self.add({"op": op, "sock": sock, "opt": r.choice(OPTIONS), "value": r.choice((1, 1, 1, 0))})
        elif op == "getsockopt":
            opts = OPTIONS + (("IPV6_V6ONLY",) if kind != "inet" else ())
            self.add({"op": op, "sock": sock, "opt": r.choice(opts)})
        elif op == "bind":
            self.add({"op": op, "sock": sock, "addr": r.choice(ADDRS[kind]), "port": r.choice(PORTS)})
        elif op == "listen":
            self.add({"op": op, "sock": sock})
        elif op == "connect":
            dest = r.choice(("loopback",) if kind == "inet" else ("loopback6", "loopback") if kind == "dual"
                            else ("loopback6",))
            self.add({"op": op, "sock": sock, "addr": dest, "port": r.choice(PORTS), "timeout_ms": 500})
        elif op == "close":
            self.add({"op": op, "sock": sock})
        elif op == "accept":
            name = self.fresh("a")
            self.add({"op": op, "sock": sock, "as": name, "timeout_ms": FAST_MS})
            self.socks[name] = ("tcp", kind)
        elif op == "shutdown":
            self.add({"op": op, "sock": sock, "how": r.choice(("rd", "wr", "rdwr"))})
        else:
            over = [n for n, (t, _) in self.socks.items() if t == type_]
            dest = r.choice(("loopback", "loopback6"))
            self.add({"op": "distribute", "to": {"addr": dest, "port": r.choice(PORTS)}, "over": over,
                      "type": type_, "count": 32, "timeout_ms": 1000 if type_ == "tcp" else 300})

    def build(self, length: int) -> Sequence:
        for _ in range(2):
            self.socket()
        while len(self.steps) < length:
            self.step()
        actors = {"main": {}, "other": {"user": "nobody"}} if self.other else {}
        return Sequence(self.name, self.steps, actors)


def sequences(seed: int, count: int, length: tuple[int, int] = (6, 14)) -> list[Sequence]:
    """`count` sequences, the same for the same seed."""
    rng = random.Random(seed)
    return [_Builder(rng, f"g{seed}-{i}").build(rng.randint(*length)) for i in range(count)]


def suite_text(items: list[Sequence], name: str = "generated") -> str:
    """The scenario file that holds them."""
    doc = {"suite": name, "description": "generated call sequences (harness/predict/generate.py); every step "
                                         "expects any", "scenarios": [s.document() for s in items]}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=200)


def shrink(seq: Sequence, still_fails: Callable[[Sequence], bool], budget: int = 60) -> Sequence:
    """A shorter sequence on which `still_fails` holds: steps removed one at a time, from the end,
    while the test keeps failing (a candidate the loader refuses counts as not failing)."""
    current = seq
    changed = True
    while changed and budget > 0:
        changed = False
        for i in reversed(range(len(current.steps))):
            if budget <= 0:
                break
            candidate = Sequence(current.name, current.steps[:i] + current.steps[i + 1:], current.actors)
            budget -= 1
            if still_fails(candidate):
                current, changed = candidate, True
    return current
