"""Multi-label data: targets as 0/1 rows, an iterative stratified split, and the metrics of a
sigmoid (binary cross-entropy) classifier.

The split is Sechidis, Tsoumakas and Vlahavas's iterative stratification (ECML PKDD 2011): the
rarest label's clips are dealt out first, each to the split that most lacks that label, so every
label keeps close to its share in train, valid and test, which a random split of rare labels does
not.

Examples
--------
>>> y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 1]])
>>> parts = iterative_stratified_split(y, (0.6, 0.2, 0.2), seed=0)
>>> sorted(np.concatenate(list(parts.values())).tolist()) == list(range(10))
True
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .metrics import checked_scores, per_label_scores

__all__ = ["TASKS", "multi_hot", "iterative_stratified_split", "iterative_folds", "iterative_assignment",
           "multilabel_metrics", "multilabel_table"]

#: ``single``: one label per clip (softmax or sigmoid, accuracy); ``multi``: any number (sigmoid, ROC-AUC, F1).
TASKS = ("single", "multi")
_SPLITS = ("train", "valid", "test")


def multi_hot(label_sets: Sequence[Sequence[int]], n_labels: int) -> np.ndarray:
    """``[N, n_labels]`` float32 rows with 1 at each clip's label indices.

    >>> multi_hot([(0, 2), (), (1,)], 3).tolist()
    [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    rows = np.zeros((len(label_sets), n_labels), np.float32)
    for i, labels in enumerate(label_sets):
        rows[i, list(labels)] = 1.0
    return rows


def iterative_stratified_split(targets, fractions: Sequence[float] = (0.5, 0.2, 0.3),
                               seed: int = 0) -> dict[str, np.ndarray]:
    """Sorted indices of train, valid and test, each label spread by ``fractions`` (iterative stratification).

    ``targets`` is ``[N, C]`` 0/1. Ties go to the split that lacks most clips overall, then to a
    seeded random choice; clips without any label fill the splits to their sizes. Linear in N x C.
    """
    assigned = iterative_assignment(targets, fractions, seed)
    return {s: np.flatnonzero(assigned == k).astype(np.int64) for k, s in enumerate(_SPLITS)}


def iterative_folds(targets, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0..folds-1) of each clip: ``folds`` equal parts, each label spread evenly over them.

    ``targets`` is ``[N, C]`` 0/1, or ``[N]`` class indices (then a stratified k-fold).
    """
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = np.eye(int(targets.max()) + 1, dtype=np.int64)[targets.astype(np.int64)]
    return iterative_assignment(targets, [1.0 / folds] * folds, seed)


def iterative_assignment(targets, fractions: Sequence[float], seed: int = 0) -> np.ndarray:
    """The part (index into ``fractions``) of each clip under iterative stratification."""
    y = np.asarray(targets) > 0
    n, n_labels = y.shape
    rng = np.random.default_rng(seed)
    shares = np.asarray(fractions, np.float64)
    wanted_total = shares * n
    wanted = shares[:, None] * y.sum(axis=0)[None, :].astype(np.float64)
    assigned = np.full(n, -1, np.int64)
    left = y.sum(axis=0).astype(np.int64)
    order = rng.permutation(n)  # the dealing order within a label: seeded
    members_of = [order[y[order, c]] for c in range(n_labels)]
    while left.any():
        counts = np.where(left > 0, left, np.iinfo(np.int64).max)
        label = int(rng.choice(np.flatnonzero(counts == counts.min())))
        for i in members_of[label]:
            if assigned[i] >= 0:
                continue
            part = _choose(wanted[:, label], wanted_total, rng)
            assigned[i] = part
            wanted[part] -= y[i]
            wanted_total[part] -= 1
            left -= y[i]
    for i in order:
        if assigned[i] < 0:
            part = _choose(wanted_total, wanted_total, rng)
            assigned[i] = part
            wanted_total[part] -= 1
    return assigned


def _choose(need: np.ndarray, need_total: np.ndarray, rng) -> int:
    best = np.flatnonzero(need == need.max())
    if len(best) > 1:
        totals = need_total[best]
        best = best[totals == totals.max()]
    return int(best[0] if len(best) == 1 else rng.choice(best))


def multilabel_metrics(targets, probabilities, labels: Sequence[str], loss: float | None = None,
                       thresholds=None) -> dict:
    """Macro and micro ROC-AUC, PR-AUC and F1 of a multi-label classifier, with a per-label table.

    Parameters
    ----------
    targets : array of 0/1, shape (N, C)
    probabilities : array, shape (N, C)
    labels : sequence of str
    loss : float, optional
    thresholds : float or array (C,), optional
        A clip has a label when its probability is at least the label's threshold (default 0.5);
        F1, precision and recall are counted at these thresholds.

    Returns
    -------
    dict
        JSON-ready: ``roc_auc``/``pr_auc`` (macro, over the labels with positives and negatives; None if
        none has), ``micro_roc_auc``/``micro_pr_auc`` (all decisions pooled), ``macro_f1`` (over the labels
        with positives; None if none has), ``micro_f1``,
        ``per_label`` (roc_auc, pr_auc, precision, recall, f1, positives, threshold), ``left_out``,
        ``support``, and ``loss`` if given.

    Examples
    --------
    >>> t = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> p = np.array([[.9, .2], [.3, .8], [.7, .6], [.1, .4]])
    >>> m = multilabel_metrics(t, p, ["vocals", "drums"])
    >>> m["roc_auc"], m["micro_f1"]
    (1.0, 1.0)
    """
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    targets, probabilities = checked_scores(targets, probabilities, labels)
    targets = (targets > 0).astype(np.int64)
    cut = np.broadcast_to(np.asarray(0.5 if thresholds is None else thresholds, np.float64), (len(labels),))
    predicted = (probabilities >= cut[None, :]).astype(np.int64)
    roc, roc_per, left_out = per_label_scores(targets, probabilities, labels, "roc_auc")
    pr, pr_per, _ = per_label_scores(targets, probabilities, labels, "pr_auc")
    flat_t, flat_p = targets.ravel(), probabilities.ravel()
    mixed = 0 < flat_t.sum() < flat_t.size
    precision, recall, f1, _ = precision_recall_fscore_support(targets, predicted, average=None, zero_division=0)
    micro = precision_recall_fscore_support(targets, predicted, average="micro", zero_division=0)
    positives = targets.sum(axis=0)
    result = {
        "roc_auc": roc, "pr_auc": pr,
        "micro_roc_auc": float(roc_auc_score(flat_t, flat_p)) if mixed else None,
        "micro_pr_auc": float(average_precision_score(flat_t, flat_p)) if mixed else None,
        # a label without positives in the split has no F1 to speak of: left out of the mean, as of ROC's
        "macro_f1": float(np.mean(f1[positives > 0])) if positives.any() else None, "micro_f1": float(micro[2]),
        "support": int(len(targets)), "left_out": left_out,
        "per_label": {label: {"roc_auc": roc_per.get(label), "pr_auc": pr_per.get(label),
                              "precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                              "positives": int(positives[c]), "threshold": float(cut[c])}
                      for c, label in enumerate(labels)},
    }
    if loss is not None:
        result = {"loss": float(loss), **result}
    return result


def multilabel_table(metrics: dict, labels: Sequence[str]) -> str:
    """The per-label table of :func:`multilabel_metrics`, labels in output order."""
    width = max([5] + [len(label) for label in labels])
    lines = [f"{'label':<{width}}  ROC-AUC  PR-AUC  threshold  precision  recall     f1  positives"]
    for label in labels:
        row = metrics["per_label"][label]
        roc = "n/a" if row["roc_auc"] is None else f"{row['roc_auc']:.4f}"
        pr = "n/a" if row["pr_auc"] is None else f"{row['pr_auc']:.4f}"
        lines.append(f"{label:<{width}}  {roc:>7}  {pr:>6}  {row['threshold']:9.4f}  {row['precision']:9.3f}  "
                     f"{row['recall']:6.3f}  {row['f1']:5.3f}  {row['positives']:9d}")
    return "\n".join(lines)
