"""Every target the harness knows, by name."""
from __future__ import annotations

from .base import AgentError, AgentSession, Availability, Target, TargetInfo
from .local import local_targets

__all__ = ["AgentError", "AgentSession", "Availability", "Target", "TargetInfo", "all_targets", "select_targets"]


class UnknownTarget(ValueError):
    pass


def all_targets() -> dict[str, Target]:
    """Name -> target, in the order reports show them."""
    return {t.name: t for t in local_targets()}


def select_targets(spec: str) -> list[Target]:
    """`all` or a comma-separated list of names; raises UnknownTarget naming the known ones."""
    known = all_targets()
    if spec.strip() == "all":
        return list(known.values())
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UnknownTarget(f"unknown target {', '.join(unknown) or '(none given)'} (known: {', '.join(known)}, all)")
    return [known[n] for n in dict.fromkeys(names)]
