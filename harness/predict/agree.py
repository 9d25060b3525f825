"""Does a prediction agree with what a kernel returned, or with what a scenario's author wrote?

With a kernel: the prediction must have the observation's signature (harness/observation.py: what
reports compare across targets: `ok value=1`, `single:s3`, `spread`). With a written expectation:
the prediction must imply it (a predicted `single:s3` satisfies a written `single`; `value=512`
satisfies `{value: nonzero}`; anything satisfies `any`). `unknown` agrees with nothing: it is
counted apart, as what the model does not cover.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..model import Outcome
from ..observation import expected_signature, signature

AGREE, DISAGREE, UNKNOWN, UNCHECKED = "agree", "disagree", "unknown", "unchecked"


def with_observation(op: str, predicted: str, observed: Optional[Mapping[str, Any]]) -> str:
    """agree / disagree / unknown (the model has no answer) / unchecked (nothing was observed)."""
    if observed is None:
        return UNCHECKED
    if predicted == "unknown":
        return UNKNOWN
    seen = signature(op, observed)
    if predicted == "each":  # every socket got everything: the observation reads as spread, or single
        return AGREE if seen in ("spread",) or (seen or "").startswith("single:") else DISAGREE
    return AGREE if expected_signature(predicted) == seen else DISAGREE


def with_written(predicted: str, written: Optional[Outcome]) -> str:
    """agree / disagree / unknown / unchecked (nothing written for this system, or `any`)."""
    if written is None or written.kind == "any":
        return UNCHECKED
    if predicted == "unknown":
        return UNKNOWN
    return AGREE if implies(predicted, written) else DISAGREE


def implies(predicted: str, written: Outcome) -> bool:
    """Would every observation with the predicted outcome satisfy the written one?"""
    if written.kind == "any":
        return True
    if written.kind == "single" and written.arg is None:
        return predicted.startswith("single:")
    if written.kind == "value" and written.arg == "nonzero":
        return predicted.startswith("value=") and predicted != "value=0"
    if written.kind == "spread":
        return predicted in ("spread", "each")
    return predicted == str(written)
