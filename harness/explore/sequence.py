"""A generated call sequence, and the scenario file text the loader reads it from.

Sequences are plain data (calls as a scenario file writes them, omitted fields
absent) so that generating, shrinking and writing stay pure; the loader is the
one judge of validity: every sequence runs as the Scenario it loads into.
Which sockets a call defines or uses is read from its op's field kinds, so a
new op needs nothing here.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import yaml

from ..model import Scenario
from ..scenario.loader import MAIN, load_suite
from ..scenario.ops import OPS

SUITE = "explore"


@dataclass(frozen=True)
class Call:
    """One step as written (op, its fields, no defaults filled in), and where it came from."""

    op: str
    fields: Mapping[str, Any]
    origin: str = ""  # `sequence 17, step 4`, plus what shrinking changed in it

    def defines(self) -> list[str]:
        """The sockets this step creates (socket's `sock`, accept's `as`)."""
        return [self.fields[n] for n, f in OPS[self.op].fields.items() if f.kind == "sock_new" and n in self.fields]

    def uses(self) -> list[str]:
        """The earlier sockets this step acts on (`sock`, distribute's `over`)."""
        out: list[str] = []
        for name, fld in OPS[self.op].fields.items():
            value = self.fields.get(name)
            if fld.kind == "sock" and value is not None:
                out.append(value)
            elif fld.kind == "socks" and value:
                out.extend(value)
        return out

    def with_fields(self, changes: Mapping[str, Any], why: str = "") -> "Call":
        """A copy with fields changed (a value of None drops the field), its origin saying why."""
        fields = {k: v for k, v in {**self.fields, **changes}.items() if v is not None}
        return replace(self, fields=fields, origin=f"{self.origin}; {why}" if why else self.origin)


@dataclass(frozen=True)
class Sequence:
    """A scenario in the making: its name, its calls, and the user of each actor other than main."""

    name: str
    calls: tuple[Call, ...]
    users: Mapping[str, str] = field(default_factory=dict)

    def actors(self) -> dict[str, str]:
        """The actors its calls name, with their users (an actor no call names is left out)."""
        named = {c.fields["actor"] for c in self.calls if c.fields.get("actor", MAIN) != MAIN}
        return {a: u for a, u in self.users.items() if a in named}

    def socket_types(self) -> dict[str, str]:
        """Socket name -> tcp/udp, as its defining step says (accept makes tcp)."""
        types: dict[str, str] = {}
        for call in self.calls:
            for name in call.defines():
                owner = call.fields.get("sock")
                types[name] = call.fields.get("type") or types.get(owner, "tcp")
        return types


def flow(value: Any) -> str:
    """One YAML value on one line (a step as scenarios/ writes them), quoted where YAML needs it."""
    return yaml.safe_dump(value, default_flow_style=True, width=math.inf, sort_keys=False,
                          allow_unicode=True).strip().removesuffix(
        "\n...").strip()


def scenario_lines(seq: Sequence, steps: Iterable[Mapping[str, Any]], head: Mapping[str, Any] = {}) -> list[str]:
    """A scenario entry of a suite file: name, `head` keys (description, tags), actors, one step a line."""
    lines = [f"  - name: {seq.name}"] + [f"    {key}: {flow(value)}" for key, value in head.items()]
    actors = seq.actors()
    if actors:
        lines.append("    actors:")
        lines += [f"      {name}: {flow({'user': user})}" for name, user in actors.items()]
    lines.append("    steps:")
    lines += [f"      - {flow(dict(step))}" for step in steps]
    return lines


def batch_text(seqs: Iterable[Sequence]) -> str:
    """A suite file of sequences as they run (no expectations, no notes), in block style: libyaml
    composes it whatever its size (the loader gives files with many brackets to PyYAML's slower one)."""
    doc = {"suite": SUITE, "scenarios": [
        {"name": seq.name, **({"actors": {a: {"user": u} for a, u in seq.actors().items()}} if seq.actors() else {}),
         "steps": [{"op": c.op, **c.fields} for c in seq.calls]} for seq in seqs]}
    return yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Loader:
    """Sequences to Scenarios through the loader, by way of files in a private folder (removed on close)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="harness-explore-")
        self._count = 0

    def load(self, seqs: list[Sequence]) -> list[Scenario]:
        """The scenarios, in order; ScenarioFileError (every problem) if any sequence is not valid."""
        self._count += 1
        path = Path(self._tmp.name) / f"batch-{self._count}.yaml"
        path.write_text(batch_text(seqs), encoding="utf-8")
        return load_suite(str(path)).scenarios

    def valid(self, seq: Sequence) -> Optional[Scenario]:
        """The sequence's scenario, or None if the loader refuses it (a shrinking candidate may be)."""
        from ..scenario.loader import ScenarioFileError

        try:
            return self.load([seq])[0]
        except ScenarioFileError:
            return None

    def close(self) -> None:
        self._tmp.cleanup()
