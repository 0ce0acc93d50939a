"""Bootstrap confidence intervals of ROC-AUC, PR-AUC and accuracy, computed many resamples at a time.

A bootstrap resample of N clips is a row of counts (how often each clip was drawn); every metric
here takes a ``[B, N]`` matrix of such weights and gives B values at once, from one sort of the
scores: ROC-AUC as the weighted Mann-Whitney statistic (ties count one half, as
``sklearn.metrics.roc_auc_score``), PR-AUC as the weighted average precision (as
``sklearn.metrics.average_precision_score``). With all weights 1 they equal scikit-learn's.

Examples
--------
>>> y = np.array([1, 0, 1, 0, 1])
>>> s = np.array([.9, .8, .7, .3, .2])
>>> float(weighted_roc_auc(y, s, np.ones((1, 5)))[0])
0.6666666666666666
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["resample_weights", "weighted_roc_auc", "weighted_pr_auc", "weighted_aucs", "Ranked", "interval",
           "LEVEL"]

#: The coverage of the intervals.
LEVEL = 0.95


def resample_weights(n: int, boots: int, rng, chunk: int = 100):
    """``[b, n]`` draw counts of ``boots`` bootstrap resamples of ``n`` clips, ``chunk`` at a time.

    Counts are uint8 (a byte a clip: the gathers that dominate read a quarter of float32's bytes); a clip
    drawn 256 times or more (odds below 1e-500 for n >= 256) would not fit, so it is checked.
    """
    for start in range(0, boots, chunk):
        size = min(chunk, boots - start)
        drawn = rng.integers(0, n, (size, n))
        counts = np.zeros((size, n), np.int64)
        for row in range(size):
            counts[row] = np.bincount(drawn[row], minlength=n)
        yield counts.astype(np.uint8) if counts.max() < 256 else counts.astype(np.float32)


def _groups(scores: np.ndarray, descending: bool):
    order = np.argsort(-scores if descending else scores, kind="mergesort")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    return order, starts


def weighted_roc_auc(targets, scores, weights) -> np.ndarray:
    """ROC-AUC of 0/1 ``targets`` ``[N]`` by ``scores`` ``[N]`` under each row of ``weights`` ``[B, N]``
    (NaN where a resample has no positive or no negative)."""
    y = np.asarray(targets) > 0
    order, starts = _groups(np.asarray(scores, np.float64), descending=False)
    w = np.asarray(weights)[:, order]
    pos = np.add.reduceat(w * y[order], starts, axis=1, dtype=np.float64)
    neg = np.add.reduceat(w * ~y[order], starts, axis=1, dtype=np.float64)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def weighted_pr_auc(targets, scores, weights) -> np.ndarray:
    """Average precision of 0/1 ``targets`` by ``scores`` under each row of ``weights`` (NaN without positives)."""
    y = np.asarray(targets) > 0
    order, starts = _groups(np.asarray(scores, np.float64), descending=True)
    w = np.asarray(weights)[:, order]
    pos = np.add.reduceat(w * y[order], starts, axis=1, dtype=np.float64)
    neg = np.add.reduceat(w * ~y[order], starts, axis=1, dtype=np.float64)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
        return (pos * precision).sum(axis=1) / pos.sum(axis=1)


def weighted_aucs(targets, scores, weights) -> tuple[np.ndarray, np.ndarray]:
    """``(ROC-AUC, PR-AUC)`` under each row of ``weights`` (:class:`Ranked`, for one use)."""
    return Ranked(targets, scores).aucs(weights)


class Ranked:
    """0/1 ``targets`` ordered by ``scores`` once, for :meth:`aucs` under many weightings.

    ``columns`` (optional) maps each of the N entries to the weight column it takes (the clip of
    each (clip, label) pair of a micro average): weights are then ``[B, clips]``.
    """

    def __init__(self, targets, scores, columns=None):
        self.targets, self.scores = np.asarray(targets), np.asarray(scores, np.float64)
        order = np.argsort(self.scores, kind="mergesort")
        ranked = self.scores[order]
        self.ties = bool(np.any(ranked[1:] == ranked[:-1]))
        self.take = order if columns is None else np.asarray(columns)[order]
        self.columns = columns
        self.at = np.flatnonzero((self.targets > 0)[order])  # the positives' places in score order

    def aucs(self, weights) -> tuple[np.ndarray, np.ndarray]:
        """``(ROC-AUC, PR-AUC)`` under each row of ``weights``: :func:`weighted_roc_auc` and
        :func:`weighted_pr_auc` together, in float32 passes when no two scores tie (counts stay exact)."""
        if self.ties:
            full = np.asarray(weights) if self.columns is None else np.asarray(weights)[:, self.columns]
            return (weighted_roc_auc(self.targets, self.scores, full),
                    weighted_pr_auc(self.targets, self.scores, full))
        at = self.at
        w = np.asarray(weights)[:, self.take]
        every = np.cumsum(w, axis=1, dtype=np.float32)  # weight at or below each place (counts: exact in float32)
        mine = w[:, at].astype(np.float32)
        mine_below = np.cumsum(mine, axis=1)  # positives' weight at or below each positive
        total = every[:, -1].astype(np.float64)
        positives = mine_below[:, -1].astype(np.float64) if len(at) else np.zeros(len(w))
        negatives = total - positives
        with np.errstate(invalid="ignore", divide="ignore"):
            # no ties: the negatives below a positive are everything below it less the positives below it
            roc = np.einsum("bp,bp->b", mine, every[:, at] - mine_below, dtype=np.float64) / (positives * negatives)
            at_or_above = total[:, None] - every[:, at] + mine
            positives_above = positives[:, None] - mine_below + mine
            precision = positives_above / np.maximum(at_or_above, 1e-30)
            pr = np.einsum("bp,bp->b", mine, precision, dtype=np.float64) / positives
        return roc, pr


def interval(values: np.ndarray) -> list[float] | None:
    """The central :data:`LEVEL` percentile interval of bootstrap ``values`` (NaNs left out), or None."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 10:
        return None
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def bootstrap(n: int, boots: int, seed: int, statistics: dict[str, Callable[[np.ndarray], np.ndarray]]) -> dict:
    """``{name: [B] values}`` of each ``statistics[name](weights)`` over ``boots`` resamples of ``n`` clips
    (a statistic giving a tuple of arrays gets a tuple of ``[B]`` arrays)."""
    from concurrent.futures import ThreadPoolExecutor

    from fcn4.audio.decoding import cpu_count

    rng = np.random.default_rng(seed)
    found = {name: [] for name in statistics}
    chunks = list(resample_weights(n, boots, rng))  # drawn in order: the same resamples whatever the threads
    # NumPy's gathers and sums release the GIL: the statistics of a chunk run on threads, one per CPU.
    with ThreadPoolExecutor(max(1, cpu_count())) as pool:
        for name, statistic in statistics.items():
            found[name] = list(pool.map(statistic, chunks))
    return {name: tuple(np.concatenate(v) for v in zip(*parts)) if parts and isinstance(parts[0], tuple)
            else np.concatenate(parts) if parts else np.zeros(0) for name, parts in found.items()}
