"""Compare two results.json files scenario by scenario: the same scenarios, steps and kernel answers?

Used to check that a rewrite of a scenario file (e.g. a table turned into a
matrix, docs/variants.md) runs the same scenarios as before and gets the same
results. Compared per target and scenario id: the verdict, and for each step
its op, arguments, expectations and observed outcome. Descriptions, notes, line
numbers and timings may differ and are not compared. `--strip-family inet`
compares `x[inet]` of the new file with `x` of the old one.
Usage: python scripts/compare_results.py OLD.json NEW.json [--strip-family inet]
Exit 0 when they agree, 1 with the differences listed.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def cells(path: str, strip: str = "") -> dict[tuple[str, str], Any]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    out = {}
    for r in doc["results"]:
        sid = r["id"]
        if strip and sid.endswith(f"[{strip}]"):
            sid = sid[: -len(strip) - 2]
        elif "[" in sid and strip:
            continue  # another family: not in the old file
        steps = [(s["op"], s.get("args"), s.get("expect"), (s.get("observed") or {}).get("outcome"),
                  (s.get("observed") or {}).get("histogram") is not None) for s in r["steps"]]
        out[(r["target"], sid)] = (r["verdict"], steps)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--strip-family", default="")
    a = ap.parse_args()
    old, new = cells(a.old), cells(a.new, a.strip_family)
    problems = [f"only in {a.old}: {k}" for k in old.keys() - new.keys()]
    problems += [f"only in {a.new}: {k}" for k in new.keys() - old.keys()]
    problems += [f"differs: {k}\n  old {old[k]}\n  new {new[k]}" for k in sorted(old.keys() & new.keys())
                 if old[k] != new[k]]
    print("\n".join(problems) if problems else f"same: {len(old)} scenario results, step by step")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
