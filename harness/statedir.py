"""Where the harness keeps what it remembers between runs (each VM's Vagrant state, its record and host key).

In the project it works for, as `.harness/`, the way Vagrant keeps `.vagrant/`:
1. the checkout harness runs from (`pip install -e .`): `<checkout>/.harness`, so a clone's machines
   stay the clone's wherever the command is typed;
2. else the nearest of the current folder and its parents that holds a `.harness/` folder or is a
   harness checkout: `<that folder>/.harness` (`mkdir .harness` makes a folder a project);
3. else the user's own state folder: `$XDG_STATE_HOME/harness`, by default `~/.local/state/harness`.
Never inside the installed package. The libvirt domains of machines are named after the project
(or the user's folder), so two projects never share a machine.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .resources import checkout

FOLDER = ".harness"


def _is_project(folder: Path) -> bool:
    return (folder / FOLDER).is_dir() or ((folder / "Vagrantfile").is_file()
                                          and (folder / "vagrant" / "targets.yaml").is_file())


def project() -> Optional[Path]:
    """The project folder whose `.harness/` holds the state, or None (then the user's folder does)."""
    own = checkout()
    if own is not None:
        return own
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if _is_project(folder)), None)


def user_state() -> Path:
    """The user's state folder for harness (XDG Base Directory specification)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    return (Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state") / "harness"


def state_dir() -> Path:
    """The folder holding `vagrant/<target>/` (created by whoever writes into it)."""
    root = project()
    return root / FOLDER if root is not None else user_state()


def owner() -> Path:
    """What the state belongs to, which names its machines' libvirt domains: the project, or the user's folder.
    For a checkout this is the checkout itself, as the Vagrantfile's own default prefix has it."""
    root = project()
    return root if root is not None else user_state()
