"""Which systems the model knows, spelled as `--reference` spells them (`freebsd-14`, `macos-14`, `linux-3.8`).

A version is compared as selectors compare it (missing components count as 0: `linux-6` is 6.0).
Each family's module holds its kernel model; this table says which one a system gets. The
model of Linux 3.8 *as local-legacy emulates it* (this machine's kernel with SO_REUSEPORT refused)
is `System.emulated("3.8", host)`, used to compare the model with that target.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..model import Identity
from ..scenario.selector import parse_system
from .kernel import Kernel


def _version(text: str) -> tuple[int, ...]:
    """`6.18.44-fc-v1252` -> (6, 18, 44): the leading digits of each component, up to the first without."""
    out = []
    for piece in text.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        out.append(int(digits.group()))
        if digits.end() < len(piece):
            break
    return tuple(out)


@dataclass(frozen=True)
class System:
    family: str
    version: str
    emulated_on: Optional[str] = None  # Linux only: the host kernel under local-legacy's emulation
    spelled: str = ""  # as the user wrote it (`macos-14` for darwin 14)

    @classmethod
    def parse(cls, text: str) -> "System":
        """`freebsd-14` -> System; ValueError naming the families otherwise."""
        family, version = parse_system(text)
        return cls(family, version, spelled=text.strip().lower())

    @classmethod
    def emulated(cls, version: str, host: str) -> "System":
        return cls("linux", version, emulated_on=host)

    @property
    def name(self) -> str:
        """`freebsd-14`: as a target URL (`model://freebsd-14`) and the command line write it."""
        if self.spelled:
            return self.spelled
        return f"{self.family}-{self.version}" + (f"-on-{self.emulated_on}" if self.emulated_on else "")

    @property
    def label(self) -> str:
        return f"{self.family} {self.version}" + (f" (emulated on {self.emulated_on})" if self.emulated_on else "")

    def kernel(self) -> Kernel:
        version = _version(self.version)
        if self.family == "linux":
            from .linux import Linux
            kernel: Kernel = Linux(version, _version(self.emulated_on) if self.emulated_on else None)
        else:
            from .bsd_systems import FAMILIES
            kernel = FAMILIES[self.family](version)
        if not version:
            kernel.unsupported = f"no version of {self.family} was given ({self.version!r}): the rules differ by version"
        return kernel


def system_of(ident: Optional[Identity]) -> Optional[System]:
    """The system the model predicts for a target that ran: its own, or for an emulated Linux (local-legacy)
    the emulated version on the host's kernel."""
    if ident is None:
        return None
    if ident.emulated_on:
        host = ident.emulated_on.split()[-1] if ident.emulated_on.split() else ident.emulated_on
        return System.emulated(ident.version, host)
    return System(ident.family, ident.version)
