"""Every kind of target, by provider: one registry entry each, modules loaded when used.

A provider is one module with `catalogue(settings) -> list[Target]`: the
targets it offers by name, in the order reports show them. A provider with
options or commands of its own (Vagrant's --keep, `harness up`) also names a
`cli` module with `run_options(command)`, `settings(values)` and `COMMANDS`.
Adding a provider is one module plus one entry in PROVIDERS (docs/extending.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

if TYPE_CHECKING:
    from .base import Target


@dataclass(frozen=True)
class Provider:
    name: str
    module: str  # defines catalogue(settings)
    cli: Optional[str] = None  # defines run_options, settings, COMMANDS


PROVIDERS: tuple[Provider, ...] = (
    Provider("local", "harness.targets.local"),
    Provider("vagrant", "harness.targets.vagrant", cli="harness.targets.vagrant_commands"),
)


@dataclass(frozen=True)
class TargetSettings:
    """What providers get from the run: where to log, and each provider's own options by provider name."""

    log: Callable[[str], None] = lambda line: None
    options: Mapping[str, Any] = field(default_factory=dict)


class UnknownTarget(ValueError):
    pass


def provider_module(provider: Provider) -> ModuleType:
    return importlib.import_module(provider.module)


def cli_modules() -> list[tuple[Provider, ModuleType]]:
    """The CLI extensions of the providers that have one."""
    return [(p, importlib.import_module(p.cli)) for p in PROVIDERS if p.cli]


def all_targets(settings: TargetSettings = TargetSettings()) -> dict[str, "Target"]:
    """Name -> target, providers in registry order."""
    return {t.name: t for p in PROVIDERS for t in provider_module(p).catalogue(settings)}


def select_targets(spec: str, settings: TargetSettings = TargetSettings()) -> list["Target"]:
    """`all` (every target but opt-in ones) or a comma-separated list; UnknownTarget names the known ones."""
    known = all_targets(settings)
    if spec.strip() == "all":
        return [t for t in known.values() if not t.opt_in]
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UnknownTarget(f"unknown target {', '.join(unknown) or '(none given)'} (known: {', '.join(known)}, all)")
    return [known[n] for n in dict.fromkeys(names)]
