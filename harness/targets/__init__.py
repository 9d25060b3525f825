"""Every target the harness knows, by name."""
from __future__ import annotations

from typing import Callable

from .base import AgentError, AgentSession, Availability, Target, TargetInfo
from .local import local_targets
from .vagrant import Lifecycle, vagrant_targets

__all__ = ["AgentError", "AgentSession", "Availability", "Lifecycle", "Target", "TargetInfo", "all_targets",
           "select_targets", "UnknownTarget"]


class UnknownTarget(ValueError):
    pass


def all_targets(lifecycle: Lifecycle = Lifecycle(), log: Callable[[str], None] = lambda line: None
                ) -> dict[str, Target]:
    """Name -> target, in the order reports show them."""
    targets: list[Target] = [*local_targets(), *vagrant_targets(lifecycle, log)]
    return {t.name: t for t in targets}


def select_targets(spec: str, lifecycle: Lifecycle = Lifecycle(),
                   log: Callable[[str], None] = lambda line: None) -> list[Target]:
    """`all` (every target but opt-in ones) or a comma-separated list; UnknownTarget names the known ones."""
    known = all_targets(lifecycle, log)
    if spec.strip() == "all":
        return [t for t in known.values() if not t.opt_in]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UnknownTarget(f"unknown target {', '.join(unknown) or '(none given)'} (known: {', '.join(known)}, all)")
    return [known[n] for n in dict.fromkeys(names)]
