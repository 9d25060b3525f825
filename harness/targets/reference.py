"""`ref://freebsd-14` (or `--reference freebsd-14`), named `ref:freebsd-14`: a column of expectations, no kernel.

Where no machine of a system is at hand, its column still shows what every
scenario expects of it, resolved for that system and marked as not measured,
so the contrast with the kernels that did answer stays visible. Reference
columns never run anything and never fail a run.
"""
from __future__ import annotations

from ..scenario.selector import parse_system
from .base import AgentSession, Availability, Target, TargetInfo
from .registry import TargetSettings, TargetURL

PREFIX = "ref:"


def catalogue(settings: TargetSettings) -> list[Target]:
    return []


def from_url(url: TargetURL, settings: TargetSettings) -> Target:
    url.only()
    family, version = parse_system(url.host)
    return ReferenceTarget(url.host, family, version)


class ReferenceTarget(Target):
    def __init__(self, spelled: str, family: str, version: str) -> None:
        system = f"{family} {version}"
        self.info = TargetInfo(f"{PREFIX}{spelled}", "ref",
                               f"what the scenarios expect of {system}; no kernel runs", system=system,
                               reference=True)

    def availability(self) -> Availability:
        return Availability(False, "expectations only: no kernel runs for a reference column")

    def skip_reason(self, avail: Availability) -> str:
        return f"reference column: what {self.info.system} is expected to do, not measured"

    def launch(self, needs_root: bool = False) -> AgentSession:
        raise NotImplementedError("a reference column runs nothing")
