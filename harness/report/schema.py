"""Reading a results file someone hands to `harness report`: only what docs/results.md describes.

A results file may come from another machine, another harness, or anywhere: it
is read only if it is a regular file of reasonable size whose JSON has the
documented shape, and otherwise refused with the file and the JSON path of the
first thing wrong (`results[3].steps[0].index: expected an integer`).
"""
from __future__ import annotations

import json
import os
import stat
from typing import Any, Callable

SCHEMA = "harness-results/1"
MAX_BYTES = 512 * 1024 * 1024


class ResultsFileError(ValueError):
    """A results file that cannot be read or is not a harness results document."""


# A spec is a type, a tuple of types, a dict of key -> spec (keys marked "?" optional), a
# one-element list (a list of that), or a callable returning an error text or None.
Spec = Any

OPTIONAL_TEXT = (str, type(None))
NUMBER = (int, float)
OBSERVED = {"outcome": str, "?ms": NUMBER}
STEP = {"index": int, "op": str, "text": str, "?line": int, "?note": OPTIONAL_TEXT,
        "?expect": [{"selector": str, "outcome": str}], "?rule": (int, type(None)),
        "?expected": OPTIONAL_TEXT, "?selector": OPTIONAL_TEXT, "?observed": (dict, type(None)),
        "?match": (bool, type(None)), "?not_run": OPTIONAL_TEXT}
RESULT = {"target": str, "suite": str, "scenario": str, "id": str, "verdict": str, "?reason": OPTIONAL_TEXT,
          "?file": str, "?line": int, "?description": OPTIONAL_TEXT, "?ms": (int, float, type(None)),
          "?params": dict, "steps": [STEP]}
IDENTITY = {"family": str, "version": str, "?release": str, "?system": str, "?hostname": str}
TARGET = {"name": str, "?provider": str, "?description": str, "?emulated": bool, "?reference": bool,
          "?ran": bool, "?reason": OPTIONAL_TEXT, "?identity": (dict, type(None)), "?declared": (dict, type(None)),
          "?details": dict, "?environment": (dict, type(None))}
DOCUMENT = {"schema": str, "?complete": bool, "targets": [TARGET], "results": [RESULT]}
VERDICT_NAMES = ("pass", "fail", "error", "skipped")


def _check(value: Any, spec: Spec, where: str) -> None:
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise ResultsFileError(f"{where}: expected an object, not {type(value).__name__}")
        for key, inner in spec.items():
            name = key.lstrip("?")
            if name in value:
                _check(value[name], inner, f"{where}.{name}" if where else name)
            elif not key.startswith("?"):
                raise ResultsFileError(f"{where + '.' if where else ''}{name}: missing")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise ResultsFileError(f"{where}: expected a list, not {type(value).__name__}")
        for i, item in enumerate(value):
            _check(item, spec[0], f"{where}[{i}]")
    elif not isinstance(value, spec) or (isinstance(value, bool) and bool not in _types(spec)):
        wanted = " or ".join(sorted(t.__name__ for t in _types(spec)))
        raise ResultsFileError(f"{where}: expected {wanted}, not {type(value).__name__}")


def _types(spec: Spec) -> tuple[type, ...]:
    return spec if isinstance(spec, tuple) else (spec,)


def _meaning(doc: dict[str, Any]) -> None:
    """What the shape cannot say: verdict names, identities of targets, observations."""
    for i, t in enumerate(doc["targets"]):
        for key in ("identity", "declared"):
            if t.get(key) is not None:
                _check(t[key], IDENTITY, f"targets[{i}].{key}")
    for i, r in enumerate(doc["results"]):
        if r["verdict"] not in VERDICT_NAMES:
            raise ResultsFileError(f"results[{i}].verdict: {r['verdict'][:40]!r} is not one of {', '.join(VERDICT_NAMES)}")
        for j, s in enumerate(r["steps"]):
            if s.get("observed") is not None:
                _check(s["observed"], OBSERVED, f"results[{i}].steps[{j}].observed")


def read(path: str, load: Callable[[str], Any] = json.loads) -> dict[str, Any]:
    """The results document at `path`, or ResultsFileError saying what is wrong with it, and where."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ResultsFileError(f"{path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise ResultsFileError(f"{path}: {info.st_size} bytes, more than a results file may be "
                                   f"({MAX_BYTES // (1024 * 1024)} MB)")
        with open(path, "rb") as handle:
            doc = load(handle.read(MAX_BYTES + 1).decode("utf-8"))
    except ResultsFileError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultsFileError(f"{path}: cannot read results: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("harness-results/"):
        raise ResultsFileError(f"{path}: not a harness results document (no harness-results schema)")
    if doc["schema"] != SCHEMA:
        raise ResultsFileError(f"{path}: written as {str(doc['schema'])[:40]}; this harness reads {SCHEMA}")
    try:
        _check(doc, DOCUMENT, "")
        _meaning(doc)
    except ResultsFileError as exc:
        raise ResultsFileError(f"{path}: {exc}") from None
    return doc
