"""Targets: where scenarios run. One module per provider (local.py, vagrant.py), registered in registry.py."""
from .registry import TargetSettings, UnknownTarget, all_targets, select_targets

__all__ = ["TargetSettings", "UnknownTarget", "all_targets", "select_targets"]
