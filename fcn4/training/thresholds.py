"""Per-label decision thresholds, chosen on a validation split by a policy.

A policy is ``f1`` (the threshold of the best F1, the default), ``precision=P`` (the lowest
threshold whose precision reaches P: the most recall at that precision) or ``recall=R`` (the
highest threshold whose recall reaches R: the most precision at that recall). A label the policy
cannot serve (no positive clip in the split, a precision never reached) gets the best-F1 threshold,
or 0.5 without positives, and a note saying so.

Examples
--------
>>> t = np.array([[1], [1], [0], [0]])
>>> p = np.array([[.9], [.6], [.4], [.1]])
>>> calibrate(t, p, ["vocals"])["vocals"]["threshold"]
0.6
>>> parse_policy("precision=0.9")
('precision', 0.9)
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..base.errors import SettingError

__all__ = ["POLICY_KINDS", "parse_policy", "calibrate", "threshold_vector", "DEFAULT_THRESHOLD"]

#: What a policy optimises: ``f1``; or a floor on ``precision`` or ``recall`` (``precision=0.9``).
POLICY_KINDS = ("f1", "precision", "recall")
#: The threshold of a label without positives to calibrate on.
DEFAULT_THRESHOLD = 0.5


def parse_policy(text: str) -> tuple[str, float | None]:
    """``'f1'`` -> ``('f1', None)``; ``'precision=0.9'`` -> ``('precision', 0.9)``; else a SettingError."""
    text = str(text).strip().lower()
    if text == "f1":
        return "f1", None
    kind, _, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if kind.strip() not in POLICY_KINDS[1:] or not 0 < number <= 1:
        raise SettingError(f"threshold policy {text!r}: use f1, precision=P or recall=R with P, R in (0, 1] "
                           "(e.g. precision=0.9)")
    return kind.strip(), number


def calibrate(targets, scores, labels: Sequence[str], policy: str = "f1") -> dict[str, dict]:
    """Per label: ``threshold`` (predict a label when its score is >= it), and the ``precision``,
    ``recall`` and ``f1`` it gives on these clips, ``positives``, and a ``note`` when the policy
    could not be served (None otherwise)."""
    from sklearn.metrics import precision_recall_curve

    kind, floor = parse_policy(policy)
    targets = np.asarray(targets) > 0
    scores = np.asarray(scores, np.float64)
    result = {}
    for c, label in enumerate(labels):
        column, score = targets[:, c], scores[:, c]
        if not column.any():
            result[label] = {"threshold": DEFAULT_THRESHOLD, "precision": None, "recall": None, "f1": None,
                             "positives": 0, "note": f"no positive clip to calibrate on: {DEFAULT_THRESHOLD}"}
            continue
        precision, recall, cuts = precision_recall_curve(column, score)
        precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
        note = None
        if kind == "precision":
            ok = np.flatnonzero(precision >= floor)
            index = int(ok[np.argmax(recall[ok])]) if len(ok) else None
        elif kind == "recall":
            ok = np.flatnonzero(recall >= floor)
            index = int(ok[np.argmax(precision[ok])]) if len(ok) else None
        else:
            index = None
        if kind != "f1" and index is None:
            note = f"{kind} {floor:g} is never reached here: the best-F1 threshold instead"
        if index is None:
            index = int(np.argmax(f1))
        result[label] = {"threshold": _down(cuts[index]), "precision": float(precision[index]),
                         "recall": float(recall[index]), "f1": float(f1[index]), "positives": int(column.sum()),
                         "note": note}
    return result


def threshold_vector(calibrated: dict[str, dict], labels: Sequence[str]) -> np.ndarray:
    """The thresholds of :func:`calibrate` as a ``[C]`` array in ``labels``' order."""
    return np.asarray([calibrated[label]["threshold"] for label in labels], np.float64)


def _down(value: float) -> float:
    """``value`` rounded down to 6 decimals: the clip whose score it is still passes ``>=`` after rounding."""
    return float(math.floor(float(value) * 1e6) / 1e6)
