"""Does a prediction agree with what a kernel returned, or with what a scenario's author wrote?

With a kernel: the prediction must have the observation's signature (harness/observation.py: what
reports compare across targets: `ok value=1`, `single:s3`, `spread`). With a written expectation:
the prediction must imply it (a predicted `single:s3` satisfies a written `single` and `{only: [s2, s3]}`;
`value=512` satisfies `{value: nonzero}`; anything satisfies `any`). `unknown` agrees with nothing: it
is counted apart, as what the model does not cover.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ..errnos import same
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


def with_written(predicted: str, written: Optional[Outcome], system: Optional[str] = None) -> str:
    """agree / disagree / unknown / unchecked (nothing written for this system, or `any`); errno names are
    compared by their number on `system` (the family), as the verdict compares them."""
    if written is None or written.kind == "any":
        return UNCHECKED
    if predicted == "unknown":
        return UNKNOWN
    if written.kind == "receipts" and not receipts_decided(predicted, written):
        return UNCHECKED  # how many each socket got, or lost, is more than a prediction says
    return AGREE if implies(predicted, written, system) else DISAGREE


def receipts_decided(predicted: str, written: Outcome) -> bool:
    """A prediction says who got the datagrams or connections (`single:s3`), not how many each got or
    how many were lost: it decides a written `{only: [...]}` alone, and only when it names one socket."""
    return predicted.startswith("single:") and [key for key, _ in written.arg or ()] == ["only"]


def implies(predicted: str, written: Outcome, system: Optional[str] = None) -> bool:
    """Would every observation with the predicted outcome satisfy the written one?"""
    if written.kind == "any":
        return True
    if written.kind == "errno":
        return same(system, str(written.arg), predicted)
    if written.kind == "single" and written.arg is None:
        return predicted.startswith("single:")
    if written.kind == "value" and written.arg == "nonzero":
        return predicted.startswith("value=") and predicted != "value=0"
    if written.kind == "spread":
        return predicted in ("spread", "each")
    if written.kind == "receipts" and receipts_decided(predicted, written):
        return predicted.split(":", 1)[1] in dict(written.arg or ())["only"]
    return predicted == str(written)
