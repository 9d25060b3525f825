"""What an exploration leaves in --out: a scenario file per finding, explore.json, explore.html.

Each file is written whole or not at all (atomic_write) and loaded back: a
file the loader refuses is the exploration's defect, said as such. Files an
earlier exploration wrote there (they start with MARK) and this one does not
write again are removed, so that the folder holds one exploration's findings;
any other scenario file in it is refused before anything runs.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from ..files import atomic_write
from ..scenario.loader import load_suite
from ..scenario.ops import OPS, describe
from .findings import Finding
from .session import CHECKS, Outcome
from .write import render

if TYPE_CHECKING:
    from .bench import Bench

MARK = "# Found by `harness explore"
PAGE, SUMMARY = "explore.html", "explore.json"


def foreign_files(out: Path) -> list[Path]:
    """Scenario files in the folder that no exploration wrote."""
    if not out.is_dir():
        return []
    return [p for p in sorted(out.glob("*.y*ml")) if not _ours(p)]


def _ours(path: Path) -> bool:
    return path.read_text(encoding="utf-8", errors="replace").startswith(MARK)


def names(findings: list[Finding]) -> list[str]:
    """A distinct file and suite name per finding."""
    out: list[str] = []
    for finding in findings:
        base = finding.slug() or "finding"
        name, n = base, 1
        while name in out:
            n += 1
            name = f"{base}-{n}"
        out.append(name)
    return out


def write_findings(outcome: Outcome, out: Path) -> list[tuple[Finding, Path]]:
    """Every finding's scenario file (loaded back to be sure it validates); stale ones removed."""
    findings = outcome.book.ranked()
    written = []
    for finding, name in zip(findings, names(findings)):
        path = out / f"{name}.yaml"
        atomic_write(path, render(finding, outcome.how, name).encode("utf-8"))
        load_suite(str(path))  # ScenarioFileError here is a defect of write.py
        written.append((finding, path))
    keep = {p.resolve() for _, p in written}
    for stale in out.glob("*.yaml"):
        if stale.resolve() not in keep and _ours(stale):
            stale.unlink()
    return written


def _row(finding: Finding, path: Path) -> dict[str, Any]:
    return {"slug": path.stem, "title": finding.title(), "count": finding.count, "instances": len(finding.instances),
            "alike": len(finding.alike), "answers": list(finding.difference.answers),
            "steps": [describe(c.op, {**_defaults(c.op), **c.fields}) for c in finding.sequence.calls],
            "raw": finding.raw.name, "raw_steps": len(finding.raw.calls), "runs": finding.runs, "file": path.name}


def _defaults(op: str) -> dict[str, Any]:
    return {name: fld.default for name, fld in OPS[op].fields.items()}


def summary(outcome: Outcome, written: list[tuple[Finding, Path]], report: Optional[str]) -> dict[str, Any]:
    """explore.json: the exploration and its findings by signature, with counts (for scripts)."""
    c = outcome.counts
    return {
        "command": outcome.how.command, "seed": outcome.how.seed, "budget": outcome.how.budget,
        "targets": list(outcome.how.targets), "interrupted": outcome.interrupted,
        "counts": {k: v for k, v in vars(c).items() if k != "infra_reasons"}, "rate": round(c.rate, 1),
        "infrastructure": c.infra_reasons, "report": report,
        "findings": [{**_row(f, p), "signature": f.title(), "sequences": {"containing": f.instances,
                                                                           "alike": f.alike}} for f, p in written],
    }


def page(outcome: Outcome, written: list[tuple[Finding, Path]], report: Optional[str]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined  # loaded only when a page is written

    templates = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=True,
                            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    how = outcome.how
    labels = {t: (how.identities[t].label() if how.identities.get(t) else "") for t in how.targets}
    return templates.get_template("explore.html.j2").render(
        generated=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), how=how, labels=labels,
        counts=outcome.counts, rows=[_row(f, p) for f, p in written], report=report, checks=CHECKS,
        interrupted=outcome.interrupted)


def write_summary(outcome: Outcome, written: list[tuple[Finding, Path]], out: Path, report: Optional[str]) -> None:
    atomic_write(out / SUMMARY, (json.dumps(summary(outcome, written, report), indent=2) + "\n").encode("utf-8"))
    atomic_write(out / PAGE, page(outcome, written, report).encode("utf-8"))


def report_run(files: list[Path], bench: "Bench", out: Path, command: list[str]) -> str:
    """Every finding's file run once more on every target, as `harness run` would: results.json,
    junit.xml and report.html in the folder (each step's observation next to its expectation)."""
    from ..report import matrix
    from ..report.formats import REPORTS, write_all
    from ..run.results import ResultsWriter
    from ..run.runner import Runner
    from ..scenario.loader import load_files

    scenarios = [sc for suite in load_files([str(f) for f in files]) for sc in suite.scenarios]
    writer = ResultsWriter(out / "results.json", command, [str(f) for f in files],
                           [t.name for t in bench.targets], [sc.id for sc in scenarios])
    Runner(scenarios, bench.config, [writer]).run(list(bench.targets))
    problems = [p for p in [writer.finish(False)] if p]
    written, failed = write_all(matrix.build([(str(writer.path), writer.doc)]),
                                {fmt.name: out / fmt.filename for fmt in REPORTS})
    if problems + failed:
        raise OSError("; ".join(problems + failed))
    return next(fmt.filename for fmt in REPORTS if fmt.name == "html")
