"""An executable model of each kernel's socket-address rules: a prediction per step, with its sources.

`predict(scenario, System.parse("freebsd-14"))` gives, for every step of a loaded scenario, the
outcome that system gives (in the scenario's own vocabulary: `ok`, an errno, `value=N`, `spread`,
`single:s3`...) or `unknown` where no rule the model holds decides it, and the rules that decided it
(harness/predict/rulebook.py: each with the kernel file, function and versions it was read in).
Pure: no I/O, no kernel. docs/model.md says what it covers.
"""
from __future__ import annotations

from . import bsd_rules, linux_rules  # noqa: F401  (every rule registered, whichever kernel runs)
from .engine import Prediction, predict
from .systems import System

__all__ = ["Prediction", "System", "predict"]
