"""A GitHub Actions job's steps, run on this machine: enough of the runner to test a workflow's logic.

tests/test_workflow_logic.py runs the nightly's linux and merge jobs with it. What it does as
GitHub's runner does (docs.github.com, "Workflow syntax" and "Evaluate expressions"):

- `run:` steps in order, in the workspace, with `bash -e {0}` when no shell is named and
  `bash --noprofile --norc -eo pipefail {0}` for `shell: bash`; `${{ ... }}` substituted first;
  GITHUB_WORKSPACE, RUNNER_TEMP, GITHUB_ENV, GITHUB_OUTPUT, GITHUB_PATH, GITHUB_STEP_SUMMARY,
  CI set; what a step writes to GITHUB_OUTPUT is `steps.<id>.outputs`, to GITHUB_ENV the next
  steps' environment, to GITHUB_PATH their PATH.
- `if:` with the status functions (`success()` by default, `always()`, `failure()`,
  `cancelled()`, `!cancelled()`), `==`/`!=` (strings case-insensitively, else as numbers, as
  GitHub coerces), `&&`, `||`, `!`; an expression this module does not know fails loudly.
- The actions the workflows use, by what their action.yml and code say they do:
  `actions/upload-artifact` v4+ (an existing name fails unless `overwrite: true`; hidden files
  left out; `if-no-files-found`), `actions/download-artifact` v5+ (`pattern`, `merge-multiple`;
  several artifacts each in path/<name>, a single one in path itself), `mikepenz/action-junit-
  report` (reads `report_paths`; none found is only a warning), `actions/checkout` (the workspace
  is the checkout) and `actions/setup-python` (the Python on PATH). Any other action fails loudly.

Steps the caller must not run here (network, VMs) are skipped through `skip`, with the reason
printed and kept in the result.
"""
from __future__ import annotations

import fnmatch
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

CONTEXTS = {"matrix", "steps", "env", "github", "runner", "job", "needs", "inputs", "vars", "strategy"}


# --- expressions ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
                    r"|(?P<name>[A-Za-z_][\w.\-]*))")


class ExpressionError(ValueError):
    """An expression this emulation does not know: the test must learn it, not guess."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot read {text!r} at {pos}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value.strip()) if value.strip() else 0.0
    except ValueError:
        return math.nan


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return _number(a) == _number(b)


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


class _Parser:
    def __init__(self, text: str, context: Mapping[str, Any], job_ok: bool) -> None:
        self.tokens, self.i, self.context, self.job_ok, self.text = _tokens(text), 0, context, job_ok, text

    def peek(self) -> Optional[str]:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise ExpressionError(f"{self.text!r} ends too soon")
        self.i += 1
        return self.tokens[self.i - 1]

    def parse(self) -> Any:
        value = self.either()
        if self.i != len(self.tokens):
            raise ExpressionError(f"unexpected {self.peek()!r} in {self.text!r}")
        return value

    def joined(self, op: str, operand: Callable[[], Any], stays: Callable[[Any], bool]) -> Any:
        """`a op b op c`: left to right, the left value kept where `stays` says so (as || and && do)."""
        value = operand()
        while self.peek() == op:
            self.take()
            other = operand()
            value = value if stays(value) else other
        return value

    def either(self) -> Any:
        return self.joined("||", self.both, truthy)

    def both(self) -> Any:
        return self.joined("&&", self.compare, lambda value: not truthy(value))

    def compare(self) -> Any:
        value = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            equal = _equal(value, self.unary())
            return equal if op == "==" else not equal
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.either()
            if self.take()[1] != ")":
                raise ExpressionError(f"no closing parenthesis in {self.text!r}")
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if self.peek() == "(":
            self.take()
            if self.take()[1] != ")":
                raise ExpressionError(f"{text}() with arguments is not emulated: {self.text!r}")
            functions = {"always": True, "success": self.job_ok, "failure": not self.job_ok, "cancelled": False}
            if text not in functions:
                raise ExpressionError(f"function {text}() is not emulated: {self.text!r}")
            return functions[text]
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        head, *rest = text.split(".")
        if head not in CONTEXTS:
            raise ExpressionError(f"context {head!r} is not emulated: {self.text!r}")
        value: Any = self.context.get(head, {})
        for part in rest:
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def evaluate(expression: str, context: Mapping[str, Any], job_ok: bool = True) -> Any:
    inner = expression.strip()
    if inner.startswith("${{") and inner.endswith("}}"):
        inner = inner[3:-2]
    return _Parser(inner, context, job_ok).parse()


def substitute(text: str, context: Mapping[str, Any]) -> str:
    """Every `${{ ... }}` replaced by its value, as the runner does before a script runs."""
    def value(m: re.Match) -> str:
        v = evaluate(m.group(1), context)
        return "" if v is None else ("true" if v is True else "false" if v is False else
                                     str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return re.sub(r"\$\{\{(.*?)\}\}", value, text, flags=re.S)


# --- artifacts -----------------------------------------------------------------------------------

@dataclass
class Artifacts:
    """One workflow run's artifacts (they outlive jobs and attempts) and its published checks."""

    root: Path
    checks: list[dict[str, Any]] = field(default_factory=list)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()) if self.root.exists() else []

    def path(self, name: str) -> Path:
        return self.root / name


def _files(path: Path, hidden: bool) -> list[tuple[Path, Path]]:
    """(file, its name in the artifact) as upload-artifact takes them from `path`."""
    if path.is_file():
        return [(path, Path(path.name))]
    if not path.is_dir():
        return []
    out = []
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if f.is_file() and (hidden or not any(part.startswith(".") for part in rel.parts)):
            out.append((f, rel))
    return out


def upload_artifact(inputs: Mapping[str, str], workspace: Path, artifacts: Artifacts) -> tuple[bool, str]:
    name = inputs.get("name") or "artifact"
    if any(ch in inputs.get("path", "") for ch in "*?[\n"):
        raise ExpressionError(f"upload-artifact path {inputs['path']!r}: patterns are not emulated")
    files = _files(workspace / inputs["path"], inputs.get("include-hidden-files", "false") == "true")
    if not files:
        mode = inputs.get("if-no-files-found", "warn")
        message = f"No files were found with the provided path: {inputs['path']}. No artifacts will be uploaded."
        return mode != "error", ("Error: " if mode == "error" else "Warning: ") + message
    target = artifacts.path(name)
    if target.exists():
        if inputs.get("overwrite", "false") != "true":
            return False, ("Error: Failed to CreateArtifact: Received non-retryable error: Failed request: (409) "
                           "Conflict: an artifact with this name already exists on the workflow run")
        shutil.rmtree(target)
    for f, rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target / rel)
    return True, f"Artifact {name} uploaded: {len(files)} file(s)"


def download_artifact(inputs: Mapping[str, str], workspace: Path, artifacts: Artifacts) -> tuple[bool, str]:
    dest = workspace / inputs.get("path", ".")
    if inputs.get("name"):
        if inputs["name"] not in artifacts.names():
            return False, f"Unable to download artifact(s): Artifact '{inputs['name']}' not found"
        chosen, single = [inputs["name"]], True
    else:
        chosen = [n for n in artifacts.names() if not inputs.get("pattern") or fnmatch.fnmatchcase(n, inputs["pattern"])]
        single = False
    merge = inputs.get("merge-multiple", "false") == "true"
    for name in chosen:
        into = dest if single or merge or len(chosen) == 1 else dest / name
        shutil.copytree(artifacts.path(name), into, dirs_exist_ok=True)
    return True, f"Total of {len(chosen)} artifact(s) downloaded: {', '.join(chosen)}"


def junit_report(inputs: Mapping[str, str], workspace: Path, artifacts: Artifacts) -> tuple[bool, str]:
    found = sorted(p for pattern in inputs["report_paths"].split(",") for p in workspace.glob(pattern.strip()))
    artifacts.checks.append({"name": inputs.get("check_name", "JUnit Test Report"),
                             "files": [p.read_bytes() for p in found]})
    if not found:
        return True, "Warning: No test results found!"
    return True, f"published {len(found)} report(s) as check {inputs.get('check_name')!r}"


ACTIONS: dict[str, Callable[[Mapping[str, str], Path, Artifacts], tuple[bool, str]]] = {
    "actions/checkout": lambda inputs, ws, a: (True, "the workspace is the checkout"),
    "actions/setup-python": lambda inputs, ws, a: (True, "the Python on PATH"),
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
    "mikepenz/action-junit-report": junit_report,
}


# --- jobs ----------------------------------------------------------------------------------------

@dataclass
class StepResult:
    name: str
    id: Optional[str]
    outcome: str  # success, failure, skipped
    output: str = ""
    status: Optional[int] = None  # a run: step's exit status
    reason: str = ""  # why it was skipped, or what an action did
    outputs: dict[str, str] = field(default_factory=dict)  # what it wrote to GITHUB_OUTPUT


@dataclass
class JobResult:
    job: str
    steps: list[StepResult]
    summary: str

    @property
    def conclusion(self) -> str:
        return "failure" if any(s.outcome == "failure" for s in self.steps) else "success"

    def step(self, name: str) -> StepResult:
        (found,) = [s for s in self.steps if s.name == name]
        return found

    def log(self, tail: int = 4) -> str:
        """Each step's outcome, and the last `tail` lines of its output (all of it with tail=0)."""
        def shown(output: str) -> str:
            lines = output.rstrip().splitlines()
            return "\n".join(("    " + line) for line in (lines[-tail:] if tail else lines))
        return "\n".join(f"--- {s.name}: {s.outcome}{f' ({s.status})' if s.status is not None else ''}"
                         f"{': ' + s.reason if s.reason else ''}" + (f"\n{shown(s.output)}" if s.output.strip() else "")
                         for s in self.steps)


def step_name(step: Mapping[str, Any]) -> str:
    return str(step.get("name") or (f"Run {step['uses']}" if "uses" in step else f"Run {step.get('run', '')}"))


def _read_pairs(path: Path) -> dict[str, str]:
    """KEY=value lines and KEY<<DELIMITER blocks, as GITHUB_OUTPUT and GITHUB_ENV are written."""
    out, lines = {}, path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            out[key] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        i += 1
    return out


def run_job(workflow: Mapping[str, Any], job_id: str, workspace: Path, artifacts: Artifacts, temp: Path,
            matrix: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None,
            variables: Optional[Mapping[str, str]] = None,
            skip: Callable[[Mapping[str, Any]], Optional[str]] = lambda step: None,
            timeout: float = 300, say: Callable[[str], None] = print) -> JobResult:
    """Every step of one job (one matrix entry), in order; `variables` are the repository's (`vars.X`)."""
    job = workflow["jobs"][job_id]
    temp.mkdir(parents=True, exist_ok=True)
    summary = temp / "step_summary.md"
    summary.touch()
    env: dict[str, str] = {**(environ or os.environ), "CI": "true", "GITHUB_ACTIONS": "true",
                           "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux",
                           "GITHUB_JOB": job_id, "GITHUB_STEP_SUMMARY": str(summary),
                           "GITHUB_WORKFLOW": str(workflow.get("name", "")), "GITHUB_RUN_ID": "1"}
    context: dict[str, Any] = {"matrix": dict(matrix or {}), "steps": {}, "env": {}, "needs": {},
                               "github": {"workflow": workflow.get("name", ""), "ref": "refs/heads/main",
                                          "workspace": str(workspace), "event_name": "schedule"},
                               "runner": {"temp": str(temp), "os": "Linux"}, "vars": dict(variables or {})}
    for scope in (workflow.get("env") or {}, job.get("env") or {}):
        env.update({k: substitute(str(v), context) for k, v in scope.items()})
    default_shell = ((job.get("defaults") or {}).get("run") or {}).get("shell") or \
        ((workflow.get("defaults") or {}).get("run") or {}).get("shell")
    results: list[StepResult] = []
    for n, step in enumerate(job["steps"]):
        name = substitute(step_name(step), context)
        job_ok = all(r.outcome != "failure" for r in results)
        context["env"] = dict(env)
        condition = step.get("if", "success()")
        if not truthy(evaluate(str(condition) if not isinstance(condition, bool) else str(condition).lower(),
                               context, job_ok)):
            results.append(StepResult(name, step.get("id"), "skipped", reason=f"if: {condition} is false"))
            continue
        why = skip(step)
        if why:
            say(f"[{job_id}] skipped step {name!r}: {why}")
            results.append(StepResult(name, step.get("id"), "skipped", reason=why))
            continue
        step_env = {**env, **{k: substitute(str(v), context) for k, v in (step.get("env") or {}).items()}}
        if "uses" in step:
            action = str(step["uses"]).split("@")[0]
            if action not in ACTIONS:
                raise ExpressionError(f"action {step['uses']} is not emulated")
            inputs = {k: substitute(str(v).lower() if isinstance(v, bool) else str(v), context)
                      for k, v in (step.get("with") or {}).items()}
            ok, message = ACTIONS[action](inputs, workspace, artifacts)
            results.append(StepResult(name, step.get("id"), "success" if ok else "failure", reason=message))
            continue
        files = {key: temp / f"{key.lower()}-{n}" for key in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
        for f in files.values():
            f.write_text("")
        script = temp / f"step-{n}.sh"
        script.write_text(substitute(str(step["run"]), context))
        shell = step.get("shell") or default_shell
        argv = {None: ["bash", "-e"], "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
                "sh": ["sh", "-e"]}[shell]
        proc = subprocess.run([*argv, str(script)], cwd=workspace / step.get("working-directory", "."),
                              env={**step_env, **{k: str(v) for k, v in files.items()}},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        outputs = _read_pairs(files["GITHUB_OUTPUT"])
        env.update(_read_pairs(files["GITHUB_ENV"]))
        for entry in reversed(files["GITHUB_PATH"].read_text().split()):
            env["PATH"] = f"{entry}{os.pathsep}{env['PATH']}"
        outcome = "success" if proc.returncode == 0 or step.get("continue-on-error") else "failure"
        results.append(StepResult(name, step.get("id"), outcome, proc.stdout, proc.returncode, outputs=outputs))
        if step.get("id"):
            context["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome, "conclusion": outcome}
    return JobResult(job_id, results, summary.read_text())
