"""Reading a results file someone hands to `harness report`: only what docs/results.md describes.

A results file may come from another machine, another harness, or anywhere: it
is read only if it is a regular file whose JSON has the documented shape, and
otherwise refused with the file and the JSON path of the first thing wrong
(`results[3].steps[0].index: expected int, not str`).

The shape is written once, as the msgspec structs below: the one checker, and
every field the reports read is in it with the type they read it as (a
histogram maps sockets to counts, an environment's `where` is text...), so a
file this module accepts is a file every report can be written from. msgspec
checks in C: a million results are checked in about a second.

Large files stream: the file is mapped, not read, and each result is kept as
its raw bytes and decoded when a report reaches it (ResultsFile).
"""
from __future__ import annotations

import mmap
import os
import re
import stat
import sys
from typing import Any, Iterator, Literal, Optional, Union

import msgspec

SCHEMA = "harness-results/1"
MAX_BYTES = 4 * 1024 * 1024 * 1024  # a bound on time, not memory: the file is mapped, not loaded
VERDICT_NAMES = ("pass", "fail", "error", "skipped")
EXPECTED_FROM = ("written", "model")
ENUMS = {"verdict": VERDICT_NAMES, "expected_from": EXPECTED_FROM}  # a field of fixed words -> the words
LOOSEN_EVERY = 1 << 16  # results decoded between two releases of the mapped pages
Number = Union[int, float]


class ResultsFileError(ValueError):
    """A results file that cannot be read or is not a harness results document."""


class Shape(msgspec.Struct, frozen=True):
    """Fields not listed are allowed (a newer harness may add some) and ignored."""


class Rule(Shape):
    selector: str
    outcome: str


class Observed(Shape):
    outcome: str
    ms: Optional[Number] = None
    histogram: Optional[dict[str, int]] = None  # distribute: socket -> how many it received
    lost: Optional[int] = None


class CitedRule(Shape):
    """A rule of the model that decided a prediction, with its sources (docs/model.md)."""
    id: str
    system: str = ""
    text: str = ""
    confidence: str = ""
    sources: list[str] = []


class Predicted(Shape):
    outcome: str
    rules: list[CitedRule] = []
    why: Optional[str] = None


class Step(Shape):
    index: int
    op: str
    text: str
    line: int = 0
    note: Optional[str] = None
    expect: list[Rule] = []
    rule: Optional[int] = None
    expected: Optional[str] = None
    selector: Optional[str] = None
    observed: Optional[Observed] = None
    match: Optional[bool] = None
    not_run: Optional[str] = None  # why a step of a scenario that ran never got its chance
    expected_from: Optional[Literal["written", "model"]] = None  # who says `expected`: the author or the model
    predicted: Optional[Predicted] = None  # the model's prediction shown where nothing was observed
    agrees: Optional[str] = None  # a model column: its prediction against what was written

    def __post_init__(self) -> None:
        if self.expected_from == "model" and (self.observed is not None or self.predicted is None):
            raise ValueError("a prediction is shown only where nothing was observed, with its rules in `predicted`")


class Result(Shape):
    target: str
    suite: str
    scenario: str
    id: str
    verdict: Literal["pass", "fail", "error", "skipped"]
    steps: list[Step]
    reason: Optional[str] = None
    file: str = ""
    line: int = 0
    description: Optional[str] = None
    ms: Optional[Number] = None
    params: dict[str, Any] = {}


class Identity(Shape):
    family: str
    version: str
    release: str = ""
    system: str = ""
    hostname: str = ""
    python: str = ""
    emulated_on: Optional[str] = None


class Environment(Shape):
    where: str = ""
    values: dict[str, Optional[str]] = {}


class Target(Shape):
    name: str
    provider: str = ""
    description: str = ""
    emulated: bool = False
    reference: bool = False
    model: bool = False  # a column of the model's predictions (model://SYSTEM), never of observations
    ran: bool = False
    reason: Optional[str] = None
    identity: Optional[Identity] = None
    declared: Optional[Identity] = None
    details: dict[str, Any] = {}
    environment: Optional[Environment] = None


class Document(Shape):
    schema: str
    targets: list[Target]
    results: list[msgspec.Raw]  # each checked as a Result on its own, then kept as bytes
    complete: bool = False


class _Version(msgspec.Struct):
    schema: Any = None


class _Head(msgspec.Struct):
    """The head as plain values (a target's every field, known to this harness or not)."""
    targets: list[Any] = []  # results, not listed, are skipped over


_VERSION = msgspec.json.Decoder(_Version)
_HEAD = msgspec.json.Decoder(_Head)
_DOCUMENT = msgspec.json.Decoder(Document)
_RESULT = msgspec.json.Decoder(Result)
_PLAIN = msgspec.json.Decoder()

_PATH = re.compile(r" - at `\$(.*)`$")
_MISSING = re.compile(r"^Object missing required field `(.+)`$")
_TYPES = re.compile(r"^Expected `(.+?)`, got `(.+?)`$")
_NAMES = {"array": "list", "object": "object", "str": "str", "int": "int", "float": "float", "bool": "bool",
          "null": "null", "int | float | null": "number or null", "int | float": "number",
          "str | null": "str or null", "bool | null": "bool or null", "int | null": "int or null",
          "object | null": "object or null"}


def _where(error: msgspec.ValidationError, prefix: str) -> str:
    """msgspec's `Expected `int`, got `str` - at `$.results[0].index`` as `results[0].index: expected int, not str`."""
    text = str(error)
    match = _PATH.search(text)
    path = prefix + (match.group(1) if match else "")
    text = _PATH.sub("", text)
    if (missing := _MISSING.match(text)) is not None:
        return f"{path + '.' if path else ''}{missing.group(1)}: missing"
    if (types := _TYPES.match(text)) is not None:
        wanted, got = (_NAMES.get(t, t) for t in types.groups())
        return f"{path.lstrip('.')}: expected {wanted}, not {got}"
    if text.startswith("Invalid enum value"):
        allowed = ENUMS.get(path.rsplit(".", 1)[-1], ())
        return f"{path.lstrip('.')}: {text.split('value ', 1)[1][:40]} is not one of {', '.join(allowed)}"
    return f"{path.lstrip('.') or 'the document'}: {text}"


class ResultsFile:
    """A checked results file: its head (schema, complete, targets, as plain values) and its results,
    each kept as raw bytes of the mapped file and decoded to plain values when asked for."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._decoded = 0
        self._map = _map(path)
        try:
            self._check()
        except BaseException:
            self.close()
            raise

    def _check(self) -> None:
        try:
            version = _VERSION.decode(self._map).schema
        except msgspec.ValidationError:
            version = None  # not an object: said below
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:  # not JSON, nested too deep
            raise ResultsFileError(f"{self.path}: cannot read results: {str(exc)[:200]}") from None
        if not isinstance(version, str) or not version.startswith("harness-results/"):
            raise ResultsFileError(f"{self.path}: not a harness results document (no harness-results schema)")
        if version != SCHEMA:
            raise ResultsFileError(f"{self.path}: written as {version[:40]}; this harness reads {SCHEMA}")
        try:
            doc = _DOCUMENT.decode(self._map)
        except msgspec.ValidationError as exc:
            raise ResultsFileError(f"{self.path}: {_where(exc, '')}") from None
        self.head: dict[str, Any] = {"schema": doc.schema, "complete": doc.complete,
                                     "targets": _HEAD.decode(self._map).targets}
        self._raw: list[msgspec.Raw] = doc.results
        self.keys: list[tuple[str, str, str]] = []  # (id, target, verdict) of each result, in file order
        intern = sys.intern
        for i, raw in enumerate(self._raw):
            try:
                r = _RESULT.decode(raw)
            except msgspec.ValidationError as exc:
                raise ResultsFileError(f"{self.path}: {_where(exc, f'.results[{i}]')}") from None
            self.keys.append((intern(r.id), intern(r.target), r.verdict))
        self._loose()

    def _loose(self) -> None:
        """Let go of the file's pages this process has touched (they stay in the page cache): a million
        results walked hold a few megabytes of the file in memory at a time, not all of it."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def __len__(self) -> int:
        return len(self._raw)

    def result(self, index: int) -> dict[str, Any]:
        """One result as plain values (dicts, lists, strings), as docs/results.md has it."""
        self._decoded += 1
        if self._decoded % LOOSEN_EVERY == 0:
            self._loose()
        return _PLAIN.decode(self._raw[index])

    def results(self) -> Iterator[dict[str, Any]]:
        return (self.result(i) for i in range(len(self._raw)))

    def document(self) -> dict[str, Any]:
        """The whole document as plain values (every result in memory: for small files and tests)."""
        return {**self.head, "results": list(self.results())}

    def streamed_document(self) -> dict[str, Any]:
        """The document with its results decoded each time they are walked (a baseline compares them)."""
        return {**self.head, "results": _Walked(self)}

    def close(self) -> None:
        self._raw = []
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass  # raw results still referenced (an exception's frames): unmapped when they go
            self._map = None


class _Walked:
    """A file's results, decoded afresh on each walk."""

    def __init__(self, results: ResultsFile) -> None:
        self._results = results

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._results.results()

    def __len__(self) -> int:
        return len(self._results)


def _map(path: str) -> mmap.mmap:
    """The file mapped for reading, if it is a regular file of reasonable size."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # before opening: a FIFO would wait for a writer
            raise ResultsFileError(f"{path}: not a regular file")
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ResultsFileError(f"{path}: not a regular file")
            if info.st_size > MAX_BYTES:
                raise ResultsFileError(f"{path}: {info.st_size} bytes, more than a results file may be "
                                       f"({MAX_BYTES // (1024 * 1024)} MB)")
            if info.st_size == 0:
                raise ResultsFileError(f"{path}: cannot read results: the file is empty")
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except ResultsFileError:
        raise
    except (OSError, ValueError) as exc:
        raise ResultsFileError(f"{path}: cannot read results: {str(exc)[:200]}") from None


def read(path: str) -> dict[str, Any]:
    """The results document at `path` as plain values, or ResultsFileError saying what is wrong, and where."""
    results = ResultsFile(path)
    try:
        return results.document()
    finally:
        results.close()
