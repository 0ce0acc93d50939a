"""The self-check a fast engine (bf16, int8) passes before it is used: beside fp32, on the user's own
first clips, every clip keeps its top-5 tags, no probability moves more than :data:`MAX_DP`, and every
embedding keeps a cosine of at least :data:`MIN_COSINE` with fp32's."""
from __future__ import annotations

import numpy as np

__all__ = ["self_check", "MAX_DP", "MIN_COSINE", "TOP"]

#: The bounds of the self-check.
MAX_DP, MIN_COSINE, TOP = 0.02, 0.999, 5


def self_check(got, want) -> dict:
    """The self-check of a fast engine's outputs ``got`` beside fp32's ``want`` (features, probabilities):
    the same top-:data:`TOP` tags on every clip, max |Δp| <= :data:`MAX_DP`, every embedding's cosine
    >= :data:`MIN_COSINE`. Returns the figures, ``passed`` and, when it failed, ``why``."""
    (f, p), (g, q) = got, want
    dp = float(np.abs(p - q).max()) if p.size else 0.0
    norms = np.linalg.norm(f, axis=1) * np.linalg.norm(g, axis=1)
    cosine = float(np.min(np.sum(f * g, axis=1) / np.maximum(norms, 1e-30))) if len(f) else 1.0
    top = min(TOP, p.shape[1])
    same = [set(np.argsort(-a, kind="stable")[:top]) == set(np.argsort(-b, kind="stable")[:top]) for a, b in zip(p, q)]
    why = []
    if not all(same):
        why.append(f"top-{top} tags differ on {same.count(False)} of {len(same)} clip(s)")
    if not dp <= MAX_DP:
        why.append(f"max |dp| {dp:.3g} > {MAX_DP}")
    if not cosine >= MIN_COSINE:
        why.append(f"embedding cosine {cosine:.5f} < {MIN_COSINE}")
    return {"max_dp": float(f"{dp:.3g}"), "min_cosine": float(f"{cosine:.6f}"), "top_same": all(same),
            "passed": not why, **({"why": "; ".join(why)} if why else {})}
