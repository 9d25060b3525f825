"""The Vagrant provider's part of the command line: its `run` options and `harness up`/`down`.

Kept apart from vagrant.py so that building the command line loads neither
python-vagrant nor paramiko; the machines are touched only when a command runs.
"""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import click

from ..runlog import run_logger
from ..terminal import EXIT_INFRA, EXIT_OK, bad_input, out
from .lifecycle import DESTROY_POLICIES, Lifecycle
from .registry import TargetSettings, UnknownTarget, select_targets

if TYPE_CHECKING:
    from .vagrant import VagrantTarget



BOOT_TIMEOUT = click.option("--boot-timeout", type=click.FloatRange(1), help="Seconds `vagrant up` may take.")


def run_options(command: Callable) -> Callable:
    """The options `harness run` gets for VM targets."""
    for option in reversed([
        click.option("--save", is_flag=True,
                     help="Save VMs to disk (memory included) after the run; the next run resumes them "
                          "[default after a run whose agent finished]."),
        click.option("--save-after", type=click.FloatRange(1), metavar="SECONDS",
                     help="Save VMs that many seconds after the run instead of at once: a run within that time "
                          "finds them running (a background keeper saves them; libvirt only)."),
        click.option("--keep", is_flag=True, help="Leave VMs running for the next run."),
        click.option("--destroy", type=click.Choice(DESTROY_POLICIES),
                     help="Destroy the VMs this run created or resumed: always, only if all passed, or never."),
        BOOT_TIMEOUT,
    ]):
        command = option(command)
    return command


def settings(values: dict[str, Any]) -> Lifecycle:
    """This provider's settings from the values of run_options; bad input if more than one is chosen."""
    chosen = [name for name in ("save", "keep") if values[name]]
    if values["destroy"]:
        chosen.append("destroy")
    if len(chosen) > 1:
        bad_input(f"choose one of --save, --keep and --destroy, not {' and '.join('--' + c for c in chosen)}")
    after = chosen[0] if chosen else "save"
    if values.get("save_after") and after != "save":
        bad_input(f"--save-after saves the machines later: it does not go with --{after}")
    return Lifecycle(after=after, destroy=values["destroy"] or "always", boot_timeout=values["boot_timeout"],
                     save_after=values.get("save_after") or 0)


def machines(spec: str, lifecycle: Lifecycle) -> list["VagrantTarget"]:
    """The Vagrant targets named by `spec`; bad input (exit 2) when there are none."""
    from .vagrant import VagrantTarget

    try:
        chosen = select_targets(spec, TargetSettings(run_logger(Path("reports") / "run.log"), {"vagrant": lifecycle}))
    except UnknownTarget as exc:
        bad_input(str(exc))
    vms = [t for t in chosen if isinstance(t, VagrantTarget)]
    if not vms:
        bad_input("none of those targets is a Vagrant machine")
    return vms


@click.command()
@click.argument("targets_spec", metavar="TARGETS", default="all")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 16), help="Machines started at once.")
@click.option("--save", is_flag=True, help="Save them to disk once up (the next run resumes them in seconds).")
@BOOT_TIMEOUT
def up(targets_spec: str, jobs: int, save: bool, boot_timeout: Optional[float]) -> None:
    """Bring Vagrant machines up (resuming saved ones) and leave them running, or saved with --save."""
    from .base import AgentError

    def bring_up(t: "VagrantTarget") -> str:
        avail = t.availability()
        avail = t.prepare() if avail.available else avail
        if not avail.available:
            t.release(ok=False)
            return f"unavailable: {avail.reason}"
        try:
            t.bring_up()
        except AgentError as exc:
            return f"failed: {exc}"
        finally:
            t.release(ok=t.healthy)
        return f"{'saved' if save and t.healthy else 'running'} (box {t.box})"

    vms = machines(targets_spec, Lifecycle(after="save" if save else "keep", boot_timeout=boot_timeout))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(bring_up, vms))
    for t, result in zip(vms, results):
        out.print(f"{t.name}: {result}", markup=False, soft_wrap=True)
    sys.exit(EXIT_OK if all(r.startswith(("running", "saved")) for r in results) else EXIT_INFRA)


@click.command()
@click.argument("targets_spec", metavar="TARGETS", default="all")
def down(targets_spec: str) -> None:
    """Destroy Vagrant machines, running or saved, including any a crashed run left behind.

    Exit status 0 done, 3 some machine could not be checked (no vagrant or libvirt here) or destroyed."""
    from .base import AgentError
    from .vagrant import DAEMONS, leftover_domains, remove_domain

    failed = False
    log = run_logger(Path("reports") / "run.log")
    why = DAEMONS.acquire(log)  # libvirtd must answer to destroy anything; started if need be
    try:
        for t in machines(targets_spec, Lifecycle()):
            reason = why or t.availability().reason
            if reason:
                failed = True
                out.print(f"{t.name}: not checked: {reason}", markup=False, soft_wrap=True)
                continue
            try:
                state = t.state()
                if state != "not_created":
                    if state != "running" and t.machine.provider == "libvirt" and t.saver.state() == "saved":
                        state = "saved"
                    t.destroy()
                    out.print(f"{t.name}: destroyed (was {state})")
                t.forget()  # its record, if it outlived the machine
            except AgentError as exc:
                failed = True
                out.print(f"{t.name}: {exc}", markup=False, soft_wrap=True)
        for name in leftover_domains():
            remove_domain(name)
            out.print(f"{name}: removed a libvirt domain no Vagrant state knew of")
    finally:
        DAEMONS.release(machines_left=False, log=log)
    sys.exit(EXIT_INFRA if failed else EXIT_OK)


COMMANDS = [up, down]
