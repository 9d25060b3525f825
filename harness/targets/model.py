"""`model://linux-6` (named `model:linux-6`): a column of the model's predictions, no kernel.

The model (harness/predict, docs/model.md) "runs" each scenario by predicting every step for the
system, so `harness run X --targets local,model://linux-6` shows where the model and a kernel part
ways. Its column is labelled a model everywhere and says predicted; like a reference column it
runs nothing, never fails a run and is no JUnit test.
"""
from __future__ import annotations

from ..predict.systems import System
from .base import Availability, Target, TargetInfo
from .reference import ReferenceTarget
from .registry import TargetSettings, TargetURL

PREFIX = "model:"


def catalogue(settings: TargetSettings) -> list[Target]:
    return []


def from_url(url: TargetURL, settings: TargetSettings) -> Target:
    url.only()
    try:
        return ModelTarget(url.host, System.parse(url.host))
    except ValueError as exc:
        raise ValueError(f"{url.text}: {exc}") from None


class ModelTarget(ReferenceTarget):
    """A reference column whose every step shows the prediction (TargetInfo.model)."""

    def __init__(self, spelled: str, system: System) -> None:
        self.system = system
        label = f"{system.family} {system.version}"
        self.info = TargetInfo(f"{PREFIX}{spelled}", "model",
                               f"the model's predictions for {label} (docs/model.md); no kernel runs",
                               system=label, reference=True, model=True)

    def availability(self) -> Availability:
        return Availability(False, "a model: every step is predicted, no kernel runs")

    def skip_reason(self, avail: Availability) -> str:
        return f"model of {self.info.system}: predicted, not measured"
