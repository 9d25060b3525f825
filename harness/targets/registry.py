"""Every kind of target, by provider: one registry entry each, modules loaded when used.

A target is named in `--targets` by a catalogue name (`local`, `freebsd`) or
by a URL whose scheme names its provider (`local://legacy`, `vagrant://freebsd`,
`ssh://user@host:2222?key=~/.ssh/id_ed25519`); this module is the one parser
of those specs. A provider is one module with `catalogue(settings)` (the
targets it offers by name, in the order reports show them) and
`from_url(url, settings)`. A provider with options or commands of its own
(Vagrant's --keep, `harness up`) also names a `cli` module with
`run_options(command)`, `settings(values)` and `COMMANDS`. Adding a provider
is one module plus one entry in PROVIDERS (docs/extending.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from .base import Target


@dataclass(frozen=True)
class Provider:
    name: str
    module: str  # defines catalogue(settings) and from_url(url, settings)
    scheme: str  # of its URLs
    cli: Optional[str] = None  # defines run_options, settings, COMMANDS


PROVIDERS: tuple[Provider, ...] = (
    Provider("local", "harness.targets.local", "local"),
    Provider("rump", "harness.targets.rump", "rump"),
    Provider("vagrant", "harness.targets.vagrant", "vagrant", cli="harness.targets.vagrant_commands"),
    Provider("ssh", "harness.targets.remote", "ssh"),
    Provider("ref", "harness.targets.reference", "ref"),
    Provider("model", "harness.targets.model", "model", cli="harness.targets.model_commands"),
)


@dataclass(frozen=True)
class TargetURL:
    """`scheme://[user@]host[:port][/path][?key=value&...]`, percent-escapes decoded."""

    text: str
    scheme: str
    host: str
    user: Optional[str] = None
    port: Optional[int] = None
    path: str = ""
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def authority(self) -> str:
        """`user@host:port` as written, for names and messages."""
        return (f"{self.user}@" if self.user else "") + self.host + (f":{self.port}" if self.port else "")

    def only(self, *allowed: str) -> None:
        """Refuse parameters the provider does not know (a typo must not be ignored)."""
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise ValueError(f"{self.text}: unknown parameter {', '.join(unknown)} "
                             f"(known: {', '.join(allowed) or 'none'})")


def parse_url(text: str) -> TargetURL:
    """A target URL, or ValueError saying what is wrong with it."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{text}: {exc}") from None
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    return TargetURL(text=text, scheme=parts.scheme, host=unquote(parts.hostname or ""),
                     user=unquote(parts.username) if parts.username else None, port=port,
                     path=unquote(parts.path), params=params)


def split_spec(spec: str) -> list[str]:
    """`a, b,ssh://h?x=1` -> items; a comma inside a URL is written %2C."""
    return [item.strip() for item in spec.split(",") if item.strip()]


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
    """Name -> target of every catalogue, providers in registry order."""
    return {t.name: t for p in PROVIDERS for t in provider_module(p).catalogue(settings)}


class _Catalogue:
    """Catalogue names resolved provider by provider, loading a provider's module only when needed."""

    def __init__(self, settings: TargetSettings) -> None:
        self.settings = settings
        self.known: dict[str, "Target"] = {}
        self._pending = list(PROVIDERS)

    def _load_next(self) -> None:
        provider = self._pending.pop(0)
        self.known.update((t.name, t) for t in provider_module(provider).catalogue(self.settings))

    def get(self, name: str) -> Optional["Target"]:
        while name not in self.known and self._pending:
            self._load_next()
        return self.known.get(name)

    def everything(self) -> list["Target"]:
        while self._pending:
            self._load_next()
        return list(self.known.values())


def from_url(text: str, settings: TargetSettings) -> "Target":
    url = parse_url(text)
    provider = next((p for p in PROVIDERS if p.scheme == url.scheme), None)
    if provider is None:
        raise ValueError(f"{text}: unknown scheme {url.scheme}:// (known: "
                         f"{', '.join(p.scheme + '://' for p in PROVIDERS)})")
    return provider_module(provider).from_url(url, settings)


def select_targets(spec: str, settings: TargetSettings = TargetSettings()) -> list["Target"]:
    """Targets for a `--targets` spec: `all` (every catalogue target but opt-in ones), names and URLs,
    comma-separated. UnknownTarget says what is wrong (an unknown name lists the known ones)."""
    catalogue, chosen, unknown = _Catalogue(settings), {}, []
    items = split_spec(spec)
    for item in items:
        if item == "all":
            chosen.update((t.name, t) for t in catalogue.everything() if not t.opt_in)
        elif "://" in item:
            try:
                target = from_url(item, settings)
            except ValueError as exc:
                raise UnknownTarget(f"bad target {exc}") from None
            chosen.setdefault(target.name, target)
        elif (target := catalogue.get(item)) is not None:
            chosen.setdefault(target.name, target)
        else:
            unknown.append(item)
    if unknown or not items:
        known = ", ".join(t.name for t in catalogue.everything())
        raise UnknownTarget(f"unknown target {', '.join(unknown) or '(none given)'} "
                            f"(known: {known}, all, or a URL such as ssh://user@host)")
    return list(chosen.values())
