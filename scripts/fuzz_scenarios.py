"""Mutation fuzzer for scenario files and results files: every mutant is read or refused cleanly.

Scenario files: every mutant loads or is rejected with positioned problems. Never a traceback,
never more than LIMIT_S seconds, never more than LIMIT_MB of memory. The mutants are derived,
seeded, from the shipped scenario files, so a failure is reproducible from its seed and index.

Results files (`--results`): mutants of a results document go through the checker
(harness/report/schema.py) and through `harness report` and `harness baseline update` themselves
(in this process): a file the checker accepts must be reported (exit 0, both reports written), one
it refuses must be refused (exit 2, nothing written), and neither may end in a traceback.

The tests run short seeded batches; run long ones by hand:

    .venv/bin/python scripts/fuzz_scenarios.py --count 2000 --seed 1
    .venv/bin/python scripts/fuzz_scenarios.py --results --count 2000 --seed 1
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import random
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.scenario.loader import ScenarioFileError, load_files  # noqa: E402

LIMIT_S = 5
LIMIT_MB = 500
TOKENS = ["<<: *a", "&a ", "*a", "{", "}", "[", "]", ": ", "- ", "!!python/object:os.system", '"\\0"', "\x00",
          "99999999999999999999999999999999", "-1", "1e999", "\x1b[31m", "yes", "~", "\t", "'", '"', "#",
          "op: distribute", "expect: {linux<99999: ok}", "single:zz", "{value: nonzero}", "\u202e", "%",
          "? ", "---", "...", "&b [*b]", "<<: [*a, *a, *a, *a, *a, *a, *a, *a]"]


def mutate(text: str, rnd: random.Random) -> bytes:
    lines = text.splitlines(keepends=True)
    for _ in range(rnd.randint(1, 4)):
        if not lines:
            lines = [""]
        i = rnd.randrange(len(lines))
        kind = rnd.randrange(7)
        if kind == 0:
            del lines[i:i + rnd.randint(1, 5)]
        elif kind == 1:
            lines.insert(i, lines[rnd.randrange(len(lines))])
        elif kind == 2:
            at = rnd.randint(0, len(lines[i]))
            lines[i] = lines[i][:at] + rnd.choice(TOKENS) + lines[i][at:]
        elif kind == 3:
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 4:
            lines[i] = "".join(rnd.choice("0123456789") if c.isdigit() else c for c in lines[i]) * rnd.randint(1, 3)
        elif kind == 5:
            lines = lines[:i]
        else:
            lines[i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8))).decode("latin-1") + lines[i]
    return "".join(lines).encode("utf-8", "surrogateescape")


def _alarm(signum: int, frame: object) -> None:
    raise TimeoutError


def fuzz(seed: int, count: int, folder: Path) -> tuple[list[str], dict[str, float]]:
    """Load `count` mutants; the failures (as `seed:index: what`) and the figures."""
    sources = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted((ROOT / "tests" / "data" / "good").glob("*.yaml"))
    texts = [p.read_text() for p in sources]
    rnd = random.Random(seed)
    failures: list[str] = []
    slowest = accepted = 0.0
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for index in range(count):
            path = folder / f"m{index}.yaml"
            path.write_bytes(mutate(rnd.choice(texts), rnd))
            start = time.monotonic()
            signal.alarm(LIMIT_S)
            try:
                load_files([str(path)])
                accepted += 1
            except ScenarioFileError as exc:
                if not exc.problems or any(p.pos.file != str(path) for p in exc.problems):
                    failures.append(f"{seed}:{index}: problems without this file's positions")
            except TimeoutError:
                failures.append(f"{seed}:{index}: took more than {LIMIT_S} s")
            except MemoryError:
                failures.append(f"{seed}:{index}: more than {LIMIT_MB} MB")
            except Exception:
                failures.append(f"{seed}:{index}: {traceback.format_exc().strip().splitlines()[-1]}")
            finally:
                signal.alarm(0)
            slowest = max(slowest, time.monotonic() - start)
    finally:
        signal.signal(signal.SIGALRM, previous)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return failures, {"mutants": count, "accepted": accepted, "slowest_s": slowest, "peak_mb": peak_mb}


# --- results files --------------------------------------------------------------------------------

def results_document() -> dict[str, Any]:
    """A small results document with a bit of everything the reports read: a target that ran (identity,
    environment, details), one that did not (declared), a reference column; pass, fail, error and
    skipped; a distribution, a getsockopt value, notes, rules, a variant's params."""
    ident = {"system": "Linux", "release": "6.1.0", "version": "6.1", "family": "linux", "machine": "x86_64",
             "python": "3.11.2", "hostname": "h", "netns": "available", "emulated_on": None, "emulated": False,
             "declared": False, "label": "linux 6.1"}
    targets = [
        {"name": "local", "provider": "local", "description": "this kernel", "emulated": False, "reference": False,
         "details": {"box": "x"}, "ran": True, "reason": None, "identity": ident, "declared": None,
         "environment": {"where": "scenario network namespace", "values": {"net.ipv6.bindv6only": "0",
                                                                         "net.core.somaxconn": None}}},
        {"name": "freebsd", "provider": "vagrant/libvirt", "description": "FreeBSD", "emulated": False,
         "reference": False, "details": {}, "ran": False, "reason": "no box\nat all", "identity": None,
         "declared": {**ident, "family": "freebsd", "version": "14.0", "declared": True}, "environment": None},
        {"name": "ref:macos-14", "provider": "reference", "description": "expectations", "emulated": False,
         "reference": True, "details": {}, "ran": False, "reason": None, "identity": None, "declared": None,
         "environment": None},
    ]
    rules = [{"selector": "linux<3.9", "outcome": "EADDRINUSE"}, {"selector": "default", "outcome": "ok"}]

    def step(index: int, op: str, observed: Any, match: Any, **extra: Any) -> dict[str, Any]:
        return {"index": index, "op": op, "actor": "main", "args": {"sock": "a"}, "text": f"{op} a", "line": 9 + index,
                "note": "why" if index == 2 else None, "expect": rules, "rule": 1, "expected": "ok",
                "selector": "default", "observed": observed, "match": match, **extra}

    results = []
    for target in ("local", "freebsd", "ref:macos-14"):
        ran = target == "local"
        for n, verdict in enumerate(("pass", "fail", "error", "skipped") if ran else ("skipped",) * 2):
            steps = [step(1, "bind", {"outcome": "ok", "ms": 0.1} if ran else None, True if ran else None),
                     step(2, "getsockopt", {"outcome": "ok", "value": 512, "raw": 512} if ran else None,
                          (verdict != "fail") if ran else None),
                     step(3, "distribute", {"outcome": "ok", "ms": 3.0, "histogram": {"s0": 3, "s1": 0}, "lost": 1}
                          if ran else None, True if ran else None)]
            results.append({"target": target, "suite": "s", "scenario": f"sc{n}[inet]", "id": f"s/sc{n}[inet]",
                            "file": "s.yaml", "line": 3 + n, "description": "d", "tags": ["t"],
                            "params": {"family": "inet"}, "verdict": verdict,
                            "reason": None if verdict == "pass" else "because", "ms": 1.5, "ports": {"P": 4000},
                            "steps": steps})
    return {"schema": "harness-results/1", "harness": "0.1.0", "complete": True, "interrupted": False,
            "targets": targets, "results": results, "summary": {"pass": 1, "fail": 1, "error": 1, "skipped": 5}}


VALUES: list[Any] = [None, True, False, 0, -1, 7, 10 ** 30, 1.5, -0.0, "", "x", "ok", "pass", "skipped",
                     "\ud800", "\udcff", "\x1b[31m", "\u202e", "\u2028", "\x00", "<script>", "a" * 5000,
                     [], [1], ["x"], [None], {}, {"a": "b"}, {"s0": "3"}, {"s0": None}, {"outcome": "ok"},
                     {"family": "linux", "version": "1"}, [{"selector": "x", "outcome": "y"}]]


def _nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into the document (keys and indexes)."""
    out = [path]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _nodes(inner, path + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _nodes(inner, path + (i,))
    return out


def mutate_results(doc: dict[str, Any], rnd: random.Random) -> bytes:
    doc = copy.deepcopy(doc)
    for _ in range(rnd.randint(1, 4)):
        path = rnd.choice(_nodes(doc)[1:])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, kind = path[-1], rnd.randrange(8)
        alike = [v for v in VALUES if type(v) is type(parent[key])]
        if kind <= 1:
            parent[key] = copy.deepcopy(rnd.choice(VALUES))
        elif kind <= 3 and alike:  # an odd value of the right type: what the checker lets through
            parent[key] = copy.deepcopy(rnd.choice(alike))
        elif kind == 4 and isinstance(parent, dict):
            del parent[key]
        elif kind == 4:
            parent.append(copy.deepcopy(parent[key]))  # a duplicate (a result twice, a step twice)
        elif kind == 5 and isinstance(parent, dict):
            parent[rnd.choice(["extra", "where", "values", "histogram", "lost", "rule"])] = rnd.choice(VALUES)
        else:
            parent[key] = copy.deepcopy(rnd.choice(_values_in(doc)))  # another part of the document
    text = json.dumps(doc)  # ensure_ascii: a lone surrogate travels as its JSON escape, as foreign writers do
    if rnd.random() < 0.1:  # damaged bytes: cut short, or a byte changed
        at = rnd.randrange(len(text))
        text = text[:at] if rnd.random() < 0.5 else text[:at] + rnd.choice('x{["\\') + text[at + 1:]
    return text.encode("utf-8")


def _values_in(doc: dict[str, Any]) -> list[Any]:
    values = []
    for path in _nodes(doc)[1:]:
        value = doc
        for key in path:
            value = value[key]
        values.append(value)
    return values


def _command(args: list[str]) -> int:
    """`harness ARGS` in this process, its output dropped; its exit status (a traceback propagates)."""
    from harness.cli import cli

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            cli.main(args=args, prog_name="harness", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


def fuzz_results(seed: int, count: int, folder: Path) -> tuple[list[str], dict[str, float]]:
    """`count` mutated results files through the checker, `harness report` and `harness baseline update`."""
    from harness.report.schema import ResultsFile, ResultsFileError

    rnd = random.Random(seed)
    base = results_document()
    failures: list[str] = []
    accepted = 0
    for index in range(count):
        path = folder / f"r{index}.json"
        path.write_bytes(mutate_results(base, rnd))
        out, baseline = folder / f"out{index}", folder / f"base{index}"
        where = f"{seed}:{index}"
        try:
            ResultsFile(str(path)).close()
            ok = True
        except ResultsFileError:
            ok = False
        except Exception:
            failures.append(f"{where}: the checker: {traceback.format_exc().strip().splitlines()[-1]}")
            continue
        accepted += ok
        for name, args, folder_made in (("report", ["report", str(path), "--out", str(out)], out),
                                        ("baseline update", ["baseline", "update", str(path), "--out", str(baseline)],
                                         baseline)):
            try:
                status = _command(args)
            except Exception:
                failures.append(f"{where}: harness {name}: {traceback.format_exc().strip().splitlines()[-1]}")
                continue
            if status != (0 if ok else 2):
                failures.append(f"{where}: harness {name} exited {status} on a file the checker "
                                f"{'accepts' if ok else 'refuses'}")
            elif name == "report" and ok and not ((out / "junit.xml").is_file() and (out / "report.html").is_file()):
                failures.append(f"{where}: harness report wrote no reports")
            elif not ok and any(folder_made.glob("*")):
                failures.append(f"{where}: harness {name} refused the file but wrote something")
        for made in (path, out, baseline):
            shutil.rmtree(made, ignore_errors=True) if made.is_dir() else made.unlink(missing_ok=True)
    return failures, {"mutants": count, "accepted": accepted}


def summary(args: argparse.Namespace, figures: dict[str, float], took: float) -> str:
    n, ok = figures["mutants"], figures["accepted"]
    if args.results:
        return (f"{n:.0f} results files (seed {args.seed}) in {took:.1f} s: {ok:.0f} accepted by the checker and "
                f"reported, {n - ok:.0f} refused by it and by harness report")
    return (f"{n:.0f} mutants (seed {args.seed}) in {took:.1f} s: {ok:.0f} loaded, {n - ok:.0f} rejected with "
            f"positions; slowest {figures['slowest_s'] * 1000:.0f} ms, peak {figures['peak_mb']:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", action="store_true", help="fuzz results files through harness report")
    args = parser.parse_args()
    if not args.results:  # a report of a mutant may map more than this: the bound is the loader's
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT_MB * 1024 * 1024, LIMIT_MB * 1024 * 1024))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        failures, figures = (fuzz_results if args.results else fuzz)(args.seed, args.count, Path(tmp))
    print(f"{summary(args, figures, time.monotonic() - start)}; {len(failures)} failures")
    for line in failures:
        print(line)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
