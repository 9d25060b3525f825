"""JUnit XML for CI, written with the junit-xml package.

One testsuite per target (named after it, its identity in the properties),
one testcase per scenario, identified the same way on every target and night
(classname = suite, name = scenario) so that GitLab, Jenkins and the GitHub
JUnit actions track it over time; `file` and `line` point at the scenario in
its YAML (GitLab and the GitHub actions annotate with them; Jenkins ignores
them, and they are the one liberty taken with its junit-10.xsd). Behaviour
that differs from the expectation is a failure; with a baseline, a changed
kernel answer is a failure (old -> new) and a known, unchanged mismatch is
skipped saying so; an infrastructure problem is an error, never a failure;
skipped says why.

junit-xml's pitfalls, handled here: a failure with neither message nor output
is dropped, so every one gets a message; a second add_* on a case overwrites
the first, so each case gets exactly one; its `disabled` attribute and
six-decimal suite times are not in the Jenkins schema (junit-10.xsd), so the
document is brought to it before writing; it is written as UTF-8.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

from junit_xml import TestCase, TestSuite, to_xml_report_string

from .. import observation
from ..files import atomic_write
from .matrix import Cell, Column, Matrix, Row, StepCell


def _properties(column: Column) -> dict[str, str]:
    ident = column.identity or {}
    props = {
        "target": column.name,
        "provider": column.provider,
        "os.family": ident.get("family", ""),
        "os.release": ident.get("release", ""),
        "os.version": ident.get("version", ""),
        "emulated": "true" if column.emulated else "false",
        "emulated_on": ident.get("emulated_on") or "",
        "python": ident.get("python", ""),
        "source": column.source,
    }
    if not column.ran:
        props["unavailable"] = column.reason or "did not run"
        props["declared"] = column.os_label if column.declared else ""
    props.update({f"detail.{k}": str(v) for k, v in column.details.items()})
    props.update({f"env.{name}": value for _, name, value in column.settings})
    return {k: v for k, v in props.items() if v != ""}


def step_line(row: Row, index: int, cell: StepCell) -> str:
    step = row.steps[index]
    return observation.mismatch_line(step.index, step.text, step.line, cell.expected, cell.selector, step.op,
                                     cell.observed)


def changed_line(row: Row, index: int, cell: StepCell) -> str:
    """`step 17 (distribute ...) at line 30: changed since baseline: spread -> single:s3`."""
    step, mark = row.steps[index], cell.baseline
    return (f"step {step.index} ({step.text}) at line {step.line}: changed since baseline: {mark.old} -> {mark.new}"
            f"{' (' + mark.where + ')' if mark.where else ''}")


def test_case(row: Row, column: Column, cell: Cell) -> Optional[TestCase]:
    """One scenario on one target. The test's identity is the same on every target and night
    (classname = suite, name = scenario), so dashboards track it; the target is the suite's name."""
    if cell.verdict is None:
        return None
    case = TestCase(name=row.scenario, classname=row.suite, elapsed_sec=round((cell.ms or 0) / 1000, 3),
                    file=row.file or None, line=row.line or None)
    changed = [changed_line(row, i, sc) for i, sc in enumerate(cell.steps) if sc.baseline and sc.baseline.fails]
    mismatches = [step_line(row, i, sc) for i, sc in enumerate(cell.steps) if sc.match is False]
    if cell.verdict == "error":
        case.add_error_info(message=cell.reason or "infrastructure error", error_type="infrastructure")
    elif changed:
        case.add_failure_info(message="; ".join(changed), output="\n".join(changed + mismatches),
                              failure_type="changed")
    elif cell.verdict == "fail" and cell.known:
        case.add_skipped_info(message="known mismatch, unchanged since baseline: " + "; ".join(mismatches))
    elif cell.verdict == "fail":
        case.add_failure_info(message="; ".join(mismatches) or "behaviour differs from expectation",
                              output="\n".join(mismatches + [f"scenario: {row.file}:{row.line}"]),
                              failure_type="behaviour")
    elif cell.verdict == "skipped":
        case.add_skipped_info(message=cell.reason or "skipped")
    return case


def suites(matrix: Matrix) -> list[TestSuite]:
    """One per target; reference columns (expectations only, by design) are no test of anything."""
    out = []
    for i, column in enumerate(matrix.columns):
        if column.reference:
            continue
        cases = [c for c in (test_case(row, column, row.cells[i]) for row in matrix.rows) if c is not None]
        out.append(TestSuite(name=column.key, test_cases=cases, properties=_properties(column),
                             hostname=(column.identity or {}).get("hostname") or None))
    return out


def _to_jenkins_schema(xml_text: str) -> ET.Element:
    root = ET.fromstring(xml_text.encode("utf-8"))
    for element in [root, *root.iter("testsuite")]:
        element.attrib.pop("disabled", None)
        if "time" in element.attrib:
            element.set("time", f"{float(element.get('time')):.3f}")
    return root


def render(matrix: Matrix) -> bytes:
    root = _to_jenkins_schema(to_xml_report_string(suites(matrix), prettyprint=False, encoding="utf-8"))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def write(matrix: Matrix, path: Path) -> None:
    atomic_write(path, render(matrix))
