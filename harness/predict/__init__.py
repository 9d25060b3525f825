"""An executable model of each kernel's socket-address rules: a prediction per step, with its sources.

`predict(scenario, System.parse("freebsd-14"))` gives, for every step of a loaded scenario, the
outcome that system gives (in the scenario's own vocabulary: `ok`, an errno, `value=N`, `spread`,
`single:s3`...) or `unknown` where no rule the model holds decides it, and the rules that decided it
(harness/predict/rulebook.py: each with the kernel file, function and versions it was read in).
Pure: no I/O, no kernel. docs/model.md says what it covers.

The package loads its rules only when a name of it is asked for: the command line imports
`harness.targets.model_commands` at every start, and a run whose every target answers needs no model.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Prediction", "System", "predict"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import bsd_rules, linux_rules  # noqa: F401  (every rule registered, whichever kernel runs)
    from .engine import Prediction, predict
    from .systems import System

    return {"Prediction": Prediction, "predict": predict, "System": System}[name]
