"""`harness ARGS` for the workflow-logic test: the same command, less the targets that boot a VM.

tests/test_workflow_logic.py runs the nightly's own steps here, and its linux job names the
Vagrant target linux-modern. VMs are not booted by tests on this shared machine, so this
wrapper (the scratch checkout's .venv/bin/harness) takes every Vagrant target of the tree's
vagrant/targets.yaml, and `vagrant://` URLs, out of `--targets`, says so on stderr, and runs
the harness found on PYTHONPATH (the scratch copy's) with the rest unchanged.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml


def without_vms(argv: list[str], vms: set[str]) -> list[str]:
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--targets" and i + 1 < len(out):
            at, spec = i + 1, out[i + 1]
        elif arg.startswith("--targets="):
            at, spec = i, arg.split("=", 1)[1]
        else:
            continue
        names = [n.strip() for n in spec.split(",") if n.strip()]
        left = [n for n in names if n in vms or n.startswith("vagrant://")]
        if left:
            print(f"workflow-logic test: left out {', '.join(left)}: Vagrant VMs are not booted by the tests "
                  f"(the lead's tests/test_vms.py boots them)", file=sys.stderr)
        kept = ",".join(n for n in names if n not in left)
        out[at] = kept if at == i + 1 else f"--targets={kept}"
    return out


def main() -> None:
    import harness
    from harness.cli import main as harness_main

    catalogue = Path(harness.__file__).resolve().parent.parent / "vagrant" / "targets.yaml"
    vms = set((yaml.safe_load(catalogue.read_text()) or {}).get("targets") or {})
    harness_main(without_vms(sys.argv[1:], vms))


if __name__ == "__main__":
    main()
