"""Where the files the commands need are: the scenario library, the VM catalogue and Vagrantfile,
the box-building scripts, the JSON Schema.

One source of truth: the checkout's own files. When harness runs from a checkout (`pip install -e .`,
`python -m harness` in a clone) they are used where they are; an installed package carries a copy of
them in harness/_data/, in the checkout's layout (pyproject.toml's package-data), so the Vagrantfile
finds vagrant/targets.yaml next to it either way. Real paths rather than importlib.resources
traversables: Vagrant reads the Vagrantfile, bash runs the scripts and libvirt executes
qemu-tcg-wrapper by path, and pip always unpacks a wheel.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

PACKAGE = Path(__file__).resolve().parent
SHIPPED = PACKAGE / "_data"  # the installed copy


def checkout() -> Optional[Path]:
    """The clone this harness package runs from, if it does (its pyproject.toml and Vagrantfile beside it)."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "Vagrantfile").is_file() else None


def data_root() -> Path:
    """The folder holding Vagrantfile, vagrant/, scenarios/ and docs/scenario.schema.json."""
    return checkout() or SHIPPED


def scenarios_dir() -> Path:
    return data_root() / "scenarios"


def vagrantfile() -> Path:
    return data_root() / "Vagrantfile"


def vagrant_file(name: str) -> Path:
    """A file of vagrant/: targets.yaml (the VM catalogue), build-box.sh, host-daemons.sh, setup-host.sh."""
    return data_root() / "vagrant" / name


def schema_file() -> Path:
    """The JSON Schema of scenario files (docs/scenario.schema.json), for editors."""
    return data_root() / "docs" / "scenario.schema.json"


def shown(path: Path) -> str:
    """A path as a message shows it: relative to the current folder when inside it (`vagrant/host-daemons.sh`
    in a checkout), else absolute (the installed copy)."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except (OSError, ValueError):
        return str(path)
