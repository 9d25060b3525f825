"""Mutation fuzzer for scenario files: every mutant loads or is rejected with positioned problems.

Never a traceback, never more than LIMIT_S seconds, never more than LIMIT_MB of memory. The mutants
are derived, seeded, from the shipped scenario files, so a failure is reproducible from its seed
and index. The tests run a short seeded batch; run a long one by hand:

    .venv/bin/python scripts/fuzz_scenarios.py --count 2000 --seed 1
"""
from __future__ import annotations

import argparse
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_MB * 1024 * 1024, LIMIT_MB * 1024 * 1024))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        failures, figures = fuzz(args.seed, args.count, Path(tmp))
    print(f"{figures['mutants']} mutants (seed {args.seed}) in {time.monotonic() - start:.1f} s: "
          f"{figures['accepted']:.0f} loaded, {figures['mutants'] - figures['accepted']:.0f} rejected with positions; "
          f"slowest {figures['slowest_s'] * 1000:.0f} ms, peak {figures['peak_mb']:.0f} MB; {len(failures)} failures")
    for line in failures:
        print(line)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
