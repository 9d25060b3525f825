"""Write a recording as a scenario file: the project's format, one step a line, comments kept.

PyYAML cannot write comments, so the file is assembled line by line, each step
dumped as one YAML flow mapping (PyYAML does the quoting) as scenarios/ writes them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import yaml

from ..terminal import clean
from .convert import Recording

COMMENT_WIDTH = 400  # characters of one raw call in a comment


@dataclass(frozen=True)
class Header:
    name: str  # suite and scenario name
    command: str  # as the user typed it
    kernel: str  # `Linux 6.1.0-18-amd64 x86_64`
    when: str  # UTC time of the recording
    schema: Optional[str]  # path of docs/scenario.schema.json relative to the file, if there is one
    stopped: str  # how the program ended: `exited with status 0`, `stopped after 5 s (--duration)`


def scenario_name(text: str) -> str:
    """A suite/scenario name ([a-z0-9_.-]+) from a command or a --name."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.")
    return name or "recorded"


def render(rec: Recording, head: Header) -> str:
    lines = []
    if head.schema:
        lines.append(f"# yaml-language-server: $schema={head.schema}")
    lines += [
        f"# Recorded by `harness record` from: {_comment(head.command)}",
        f"# on {_comment(head.kernel)}, {head.when}; the program {_comment(head.stopped)}.",
        "# Each step is a call the program made, in order; `linux:` is what this kernel returned,",
        "# `default: any` claims nothing for other systems (replace it with what they should return).",
        f"# Summary: {_comment(rec.summary.line())}",
        f"suite: {head.name}",
        f"description: {_flow('socket calls of ' + head.command)}",
        "scenarios:",
        f"  - name: {head.name}",
        f"    description: {_flow(f'recorded on {head.kernel}, {head.when}')}",
        "    tags: [recorded]",
    ]
    if rec.actors:
        lines.append("    actors:")
        lines += [f"      {name}: {_flow({'user': user})}" for name, user in rec.actors.items()]
    lines.append("    steps:")
    for item in rec.items:
        lines.append(f"      # {_comment(item)}" if isinstance(item, str) else f"      - {_flow(item)}")
    return "\n".join(lines) + "\n"


# libyaml's emitter where PyYAML was built with it: a file of 2,000 steps in a tenth of the time.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ONE_LINE = 2**31 - 1  # the widest line libyaml takes: never wrap


def _flow(value: Any) -> str:
    """One YAML value on one line, quoted where YAML needs it."""
    return yaml.dump(value, Dumper=DUMPER, default_flow_style=True, width=ONE_LINE, sort_keys=False,
                     allow_unicode=True).strip().removesuffix("\n...").strip()


def _comment(text: str) -> str:
    return clean(text, COMMENT_WIDTH)
