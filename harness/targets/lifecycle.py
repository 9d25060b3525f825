"""What happens to a Vagrant machine after a run: saved (the default), kept running, or destroyed.

Pure policy, apart from the machines and the command line, so that both the
provider (harness/targets/vagrant.py) and its commands (vagrant_commands.py)
read it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

DESTROY_POLICIES = ("always", "on-success", "never")


@dataclass(frozen=True)
class Lifecycle:
    """What happens to machines after a run (--save, the default; --keep; --destroy POLICY).

    Whatever the choice, a run first reuses the machine an earlier run left running or saved,
    unless its box or Vagrantfile changed (then it is rebuilt).
    """

    after: str = "save"
    destroy: str = "always"  # with after == "destroy"
    boot_timeout: Optional[float] = None  # seconds; None: from targets.yaml (HARNESS_BOOT_TIMEOUT overrides)
    save_after: float = 0  # with after == "save": seconds the machine stays running first (0: saved at once)

    @property
    def keep(self) -> bool:
        return self.after == "keep"

    def should_destroy(self, owned: bool, ok: bool, interrupted: bool = False) -> bool:
        """--destroy: only machines this run created or resumed; on-success keeps failing ones to look
        at, but not after Ctrl-C, which destroys what the run created."""
        if self.after != "destroy" or not owned or self.destroy == "never":
            return False
        return self.destroy == "always" or ok or interrupted

    def decide(self, owned: bool, reached: bool, healthy: bool, ok: bool, interrupted: bool) -> str:
        """save, destroy or leave (as it is), for a machine after a run.

        owned: this run created or resumed it; reached: it came up (resumed, or answered over SSH);
        healthy: the agent ran to its end (whatever the verdicts). --save saves a healthy machine,
        and after Ctrl-C one that was up (it is cleaned at resume); one whose boot was cut short or
        whose agent broke is destroyed, if this run owns it: a machine in doubt is never saved.
        """
        if self.keep:
            return "leave"
        if self.after == "destroy":
            return "destroy" if self.should_destroy(owned, ok, interrupted) else "leave"
        if healthy or (interrupted and reached):
            return "save"
        return "destroy" if owned else "leave"
