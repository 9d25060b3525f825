"""The run's results document (schema: docs/results.md), written as the run goes.

The file is replaced atomically (write aside, then rename), at most every
FLUSH_INTERVAL seconds and at the end, so a run killed half way leaves a valid
document holding every scenario that finished, marked `"complete": false`.
"""
from __future__ import annotations

import codecs
import datetime as dt
import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from .. import __version__
from ..files import atomic_write, fallback_path, in_place
from ..model import VERDICTS, Identity, ScenarioVerdict, StepVerdict
from ..scenario.ops import describe
from ..targets.base import Target
from .runner import Listener

SCHEMA = "harness-results/1"
FLUSH_INTERVAL = 0.5


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def identity_dict(ident: Identity) -> dict[str, Any]:
    return {**asdict(ident), "emulated": ident.emulated, "label": ident.label()}


def _step_dict(sv: StepVerdict) -> dict[str, Any]:
    step = sv.step
    shown = _shown(sv)
    return {
        "index": step.index,
        "op": step.op,
        "actor": step.actor,
        "args": step.args,
        "text": describe(step.op, step.args),
        "line": step.pos.line,
        "note": step.note,
        "expect": [{"selector": str(r.selector), "outcome": str(r.outcome)} for r in step.expect.rules],
        "rule": sv.rule,
        **shown,
        "observed": None if sv.observed is None else sv.observed.record,
        "match": sv.ok if sv.observed is not None else None,
        **({"not_run": sv.not_run} if sv.not_run is not None else {}),  # why no kernel saw it
    }


def _shown(sv: StepVerdict) -> dict[str, Any]:
    """What a step shows where it was not observed: the written expectation (`expected_from`: written), or
    the model's prediction where none was written, or in a model column (`expected_from`: model, with the
    prediction's rules and sources in `predicted`). docs/results.md."""
    if sv.predicted is None or sv.observed is not None:
        written = str(sv.expected) if sv.expected else None
        return {"expected": written, "selector": str(sv.selector) if sv.selector else None,
                "expected_from": "written" if written else None}
    shown = {"expected": sv.predicted.outcome, "selector": None, "expected_from": "model",
             "predicted": sv.predicted.record()}
    if sv.agreement is not None:
        shown["agrees"] = sv.agreement
    return shown


def verdict_dict(v: ScenarioVerdict) -> dict[str, Any]:
    sc = v.scenario
    return {
        "target": v.target,
        "suite": sc.suite,
        "scenario": sc.name,
        "id": sc.id,
        "file": sc.pos.file,
        "line": sc.pos.line,
        "description": sc.description,
        "tags": sc.tags,
        **({"params": sc.params} if sc.params else {}),  # a variant's family and matrix values
        "verdict": v.verdict,
        "reason": v.reason,
        "ms": v.run.ms if v.run else None,
        "ports": v.run.ports if v.run else {},
        "steps": [_step_dict(sv) for sv in v.steps],
    }


class ResultsWriter(Listener):
    """Collects targets and verdicts from any thread and keeps the file current."""

    def __init__(self, path: Path, command: Sequence[str], files: Sequence[str],
                 target_names: Sequence[str] = (), scenario_ids: Sequence[str] = ()) -> None:
        """Targets and scenarios are kept in the order given, whatever order they finish in."""
        self.path = path
        self._target_rank = {name: i for i, name in enumerate(target_names)}
        self._scenario_rank = {sid: i for i, sid in enumerate(scenario_ids)}
        self._lock = threading.Lock()
        self._last_flush = 0.0
        self._timer: Optional[threading.Timer] = None
        self.write_error: Optional[str] = None
        self._in_place = in_place(path)
        self._wrote = False  # a copy of the document is where it was asked for
        self.doc: dict[str, Any] = {
            "schema": SCHEMA,
            "harness": __version__,
            "started": _now(),
            "finished": None,
            "complete": False,
            "interrupted": False,
            "command": list(command),
            "files": list(files),
            "targets": [],
            "results": [],
            "summary": dict.fromkeys(VERDICTS, 0),
        }

    def target_ready(self, target: Target, ident: Optional[Identity], reason: Optional[str]) -> None:
        info = target.info
        declared = None if ident else target.declared()
        entry = {
            "name": info.name,
            "provider": info.provider,
            "description": info.description,
            "emulated": info.emulated,
            "reference": info.reference,
            "model": info.model,
            "details": info.details,
            "ran": ident is not None,
            "reason": reason,
            "identity": identity_dict(ident) if ident else None,
            "declared": identity_dict(declared) if declared else None,
            "environment": None,
        }
        with self._lock:
            targets = [t for t in self.doc["targets"] if t["name"] != info.name]
            self.doc["targets"] = targets + [entry]
        self.flush()

    def target_environment(self, target: Target, environment: dict[str, Any]) -> None:
        with self._lock:
            for entry in self.doc["targets"]:
                if entry["name"] == target.name:
                    entry["environment"] = environment
        self.flush()

    def verdict(self, verdict: ScenarioVerdict) -> None:
        with self._lock:
            self.doc["results"].append(verdict_dict(verdict))
            self.doc["summary"][verdict.verdict] += 1
        self.flush()

    def flush(self, force: bool = False) -> None:
        """Write now if forced or due; otherwise make sure a write follows within FLUSH_INTERVAL.
        A device or FIFO (`--json /dev/stdout`) is written once, at the end: it cannot be replaced."""
        if self._in_place and not force:
            return
        with self._lock:
            wait = FLUSH_INTERVAL - (time.monotonic() - self._last_flush)
            if not force and wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self.flush, kwargs={"force": True})
                    self._timer.daemon = True
                    self._timer.start()
                return
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last_flush = time.monotonic()
            self._write()

    def _sorted(self) -> None:
        last = len(self._target_rank)
        self.doc["targets"].sort(key=lambda t: self._target_rank.get(t["name"], last))
        self.doc["results"].sort(key=lambda r: (self._scenario_rank.get(r["id"], len(self._scenario_rank)),
                                                self._target_rank.get(r["target"], last)))

    def _write(self) -> None:
        """A failed write (a full disk) loses nothing: the document stays in memory, the next flush
        tries again, and finish() falls back to another place if it must."""
        self._sorted()
        try:
            atomic_write(self.path, encode(self.doc))
            self.write_error = None
            self._wrote = True
        except OSError as exc:
            self.write_error = f"cannot write {self.path}: {exc.strerror or exc}"

    def finish(self, interrupted: bool) -> Optional[str]:
        """The final write; where it fails, the results go to a fallback file (and an earlier, partial
        copy where they were asked for is removed: it would pass for the run's). None, or what happened."""
        with self._lock:
            self.doc["finished"] = _now()
            self.doc["complete"] = not interrupted
            self.doc["interrupted"] = interrupted
        self.flush(force=True)
        if self.write_error is None:
            return None
        asked, spare = self.path, fallback_path(self.path)
        try:
            atomic_write(spare, encode(self.doc))
        except OSError as exc:
            return f"{self.write_error}; the fallback {spare} failed too ({exc.strerror or exc}): results lost"
        if self._wrote and not self._in_place:
            try:
                asked.unlink()
            except OSError:
                pass
        self.path = spare
        return f"{self.write_error}; the results are in {spare}"


def _visible_surrogates(error: UnicodeEncodeError) -> tuple[str, int]:
    """A lone surrogate (a hostname that was not UTF-8) as the text of its escape, `\\udcff`: a JSON escape
    of it would be refused by every strict reader, harness report's own included."""
    return "".join("\\\\u%04x" % ord(ch) for ch in error.object[error.start:error.end]), error.end


codecs.register_error("harness.visible-surrogates", _visible_surrogates)


def pieces(doc: dict[str, Any]) -> Iterator[str]:
    """The document as JSON text, a line per target and per result (`results` may be any iterable):
    a reader can stream it, and a million results take a fifth less room than indented JSON."""
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    head = {k: v for k, v in doc.items() if k not in ("targets", "results", "summary")}
    yield dumps(head)[:-1] + ("," if head else "")
    for key in ("targets", "results"):
        yield f'"{key}":['
        for i, item in enumerate(doc.get(key) or []):
            yield ("," if i else "") + "\n" + dumps(item)
        yield "\n],"
    yield f'"summary":{dumps(doc.get("summary") or {})}}}\n'


def encode(doc: dict[str, Any]) -> bytes:
    """UTF-8 of pieces(): any text survives (_visible_surrogates)."""
    return "".join(pieces(doc)).encode("utf-8", "harness.visible-surrogates")
