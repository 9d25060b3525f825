"""The model's agreement figures (docs/model.md): with the library's written expectations, per system, and
with the kernels that run here, on the library and on seeded generated sequences.

    .venv/bin/python scripts/model_agreement.py                      # everything, 2000 sequences
    .venv/bin/python scripts/model_agreement.py --count 200 --seed 7 --targets local
    .venv/bin/python scripts/model_agreement.py --written-only       # no kernel (no root needed)

Running on kernels needs root (network namespaces); `rump` is used where that target exists and is
available here. Prints one line per figure and every disagreement.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.predict import System  # noqa: E402
from harness.predict.compare import with_expectations, with_kernels  # noqa: E402
from harness.predict.generate import sequences, suite_text  # noqa: E402
from harness.predict.systems import system_of  # noqa: E402
from harness.run.observe import observe  # noqa: E402
from harness.scenario.loader import load_files  # noqa: E402
from harness.targets.registry import UnknownTarget, select_targets  # noqa: E402

WRITTEN = ("freebsd-11", "freebsd-12", "freebsd-13", "freebsd-14", "freebsd-15", "macos-14", "openbsd-7.6",
           "netbsd-10", "netbsd-7.99", "dragonfly-6.4", "linux-3.8", "linux-4.4", "linux-4.14", "linux-5.4", "linux-6")


def available(spec: str) -> str:
    """The targets of `spec` that exist and can run here."""
    keep = []
    for name in spec.split(","):
        try:
            target = select_targets(name)[0]
        except UnknownTarget:
            continue
        if target.availability().available:
            keep.append(name)
    return ",".join(keep)


def kernels(scenarios, spec: str, what: str) -> None:
    start = time.monotonic()
    verdicts, idents = observe(scenarios, spec, scenario_jobs=8)  # mostly waiting: 8 side by side
    for target, tally in with_kernels(verdicts, lambda t: system_of(idents.get(t))).items():
        print(tally.line(f"{what} on {target} ({system_of(idents.get(target)).label})"))
        for d in tally.disagreements:
            print(f"  DISAGREE {d}")
    print(f"  ({len(scenarios)} scenarios in {time.monotonic() - start:.0f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--targets", default="local,local-legacy,rump")
    ap.add_argument("--written-only", action="store_true")
    args = ap.parse_args()
    library = [sc for suite in load_files([str(ROOT / "scenarios")]) for sc in suite.scenarios]
    for name in WRITTEN:
        tally = with_expectations(library, System.parse(name))
        print(tally.line(f"library, written expectations, {name}"))
        for d in tally.disagreements:
            print(f"  DISAGREE {d}")
    if args.written_only:
        return
    spec = available(args.targets)
    print(f"kernels here: {spec or 'none'}")
    if not spec:
        return
    kernels(library, spec, "library")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.yaml"
        path.write_text(suite_text(sequences(args.seed, args.count)))
        generated = [sc for suite in load_files([str(path)]) for sc in suite.scenarios]
        kernels(generated, spec, f"{args.count} generated sequences (seed {args.seed})")


if __name__ == "__main__":
    main()
