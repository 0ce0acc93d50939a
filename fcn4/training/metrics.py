"""Exact evaluation metrics (scikit-learn) for classifiers and taggers, and the confusion matrix
as text or PNG.

ROC-AUC is the exact macro average of one-vs-rest ROC-AUCs (``sklearn.metrics.roc_auc_score``),
not the histogram-binned approximation of the MindSpore zoo's eval; PR-AUC is the macro average
precision (``sklearn.metrics.average_precision_score``), as music-tagging papers report it. A
class without both positives and negatives in the evaluated set has neither: it is named and
left out of the mean, never turned into a NaN or a crash.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["classification_metrics", "tagging_metrics", "tagging_table", "macro_roc_auc", "per_label_scores", "checked_scores", "confusion_text", "save_confusion_png"]


def checked_scores(targets, probabilities, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``targets`` and ``probabilities`` as arrays, both ``[N, len(labels)]`` with N > 0 (else ValueError)."""
    targets = np.asarray(targets)
    probabilities = np.asarray(probabilities, np.float64)
    if len(targets) == 0:
        raise ValueError("no examples to evaluate: the split is empty")
    if targets.shape != probabilities.shape or targets.ndim != 2 or targets.shape[1] != len(labels):
        raise ValueError(f"targets and probabilities must both be [N, {len(labels)}], got {targets.shape} "
                         f"and {probabilities.shape}")
    return targets, probabilities


def per_label_scores(targets: np.ndarray, scores: np.ndarray, labels: Sequence[str],
                     metric: str = "roc_auc") -> tuple[float | None, dict, list]:
    """``(macro mean, per-label value, labels left out)`` of ``roc_auc`` or ``pr_auc``.

    ``targets`` are 0/1 ``[N, C]``, ``scores`` ``[N, C]``. A label whose column is all 0 or all 1
    has no value: it is left out of the mean and listed.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    score = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score}[metric]
    targets, scores = np.asarray(targets), np.asarray(scores)
    per_label, left_out = {}, []
    for c, label in enumerate(labels):
        column = targets[:, c]
        if column.min() == column.max():
            left_out.append(label)
            continue
        per_label[label] = float(score(column, scores[:, c]))
    mean = float(np.mean(list(per_label.values()))) if per_label else None
    return mean, per_label, left_out


def macro_roc_auc(targets: np.ndarray, scores: np.ndarray, labels: Sequence[str]) -> tuple[float | None, dict, list]:
    """``(mean, per-label ROC-AUC, labels left out)`` for 0/1 ``targets`` and ``scores`` ``[N, C]``.

    Examples
    --------
    >>> t = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    >>> s = np.array([[.9, .1], [.2, .8], [.6, .4], [.7, .3]])
    >>> mean, per_label, left_out = macro_roc_auc(t, s, ["a", "b"])
    >>> round(mean, 3), left_out
    (0.75, [])
    """
    return per_label_scores(targets, scores, labels, "roc_auc")


def tagging_metrics(targets, probabilities, labels: Sequence[str], loss: float | None = None) -> dict:
    """Macro ROC-AUC and PR-AUC of a multi-label tagger, with a per-tag table.

    Parameters
    ----------
    targets : array of 0/1, shape (N, C)
    probabilities : array, shape (N, C)
    labels : sequence of str
        Tag names in output order.

    Returns
    -------
    dict
        JSON-ready: ``roc_auc`` and ``pr_auc`` (macro means over the tags that have both
        positives and negatives; None if none has), ``per_tag`` (``roc_auc``, ``pr_auc``,
        ``positives`` per tag; None where undefined), ``left_out`` (tags without positives or
        without negatives), ``support`` and ``loss`` if given.

    Examples
    --------
    >>> t = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    >>> p = np.array([[.9, .2, .1], [.3, .8, .2], [.7, .6, .3]])
    >>> m = tagging_metrics(t, p, ["rock", "jazz", "choral"])
    >>> m["roc_auc"], m["pr_auc"], m["left_out"]
    (1.0, 1.0, ['choral'])
    """
    targets, probabilities = checked_scores(targets, probabilities, labels)
    roc, roc_per_tag, left_out = per_label_scores(targets, probabilities, labels, "roc_auc")
    pr, pr_per_tag, _ = per_label_scores(targets, probabilities, labels, "pr_auc")
    positives = targets.sum(axis=0)
    result = {
        "roc_auc": roc, "pr_auc": pr, "support": int(len(targets)), "left_out": left_out,
        "per_tag": {label: {"roc_auc": roc_per_tag.get(label), "pr_auc": pr_per_tag.get(label),
                            "positives": int(positives[c])} for c, label in enumerate(labels)},
    }
    if loss is not None:
        result = {"loss": float(loss), **result}
    return result


def tagging_table(metrics: dict, labels: Sequence[str]) -> str:
    """The per-tag table of :func:`tagging_metrics`, tags in output order."""
    width = max(len(label) for label in labels)
    lines = [f"{'tag':<{width}}  ROC-AUC  PR-AUC  positives"]
    for label in labels:
        row = metrics["per_tag"][label]
        roc = "n/a" if row["roc_auc"] is None else f"{row['roc_auc']:.4f}"
        pr = "n/a" if row["pr_auc"] is None else f"{row['pr_auc']:.4f}"
        lines.append(f"{label:<{width}}  {roc:>7}  {pr:>6}  {row['positives']:9d}")
    return "\n".join(lines)


def classification_metrics(y_true, probabilities, labels: Sequence[str], loss: float | None = None) -> dict:
    """Accuracy, macro ROC-AUC, a per-class report and the confusion matrix of a single-label classifier.

    Parameters
    ----------
    y_true : array of int, shape (N,)
        The true class of each example.
    probabilities : array, shape (N, C)
        The classifier's scores (probabilities or any monotone score); argmax is the prediction.
    labels : sequence of str
        Class names in output order.

    Returns
    -------
    dict
        JSON-ready: ``accuracy``, ``roc_auc`` (None when no class has both positives and
        negatives), ``roc_auc_per_class``, ``roc_auc_left_out``, ``per_class`` (precision,
        recall, f1, support), ``macro_f1``, ``confusion`` (rows: true class, columns: predicted),
        ``support`` and ``loss`` if given.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true, np.int64)
    probabilities = np.asarray(probabilities, np.float64)
    n_classes = len(labels)
    if len(y_true) == 0:
        raise ValueError("no examples to evaluate: the split is empty")
    if probabilities.shape != (len(y_true), n_classes):
        raise ValueError(f"probabilities must be [{len(y_true)}, {n_classes}], got {probabilities.shape}")
    predicted = probabilities.argmax(axis=1)
    classes = list(range(n_classes))
    roc_auc, per_class_auc, left_out = macro_roc_auc(np.eye(n_classes, dtype=np.int64)[y_true], probabilities, labels)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, predicted, labels=classes,
                                                                     zero_division=0)
    result = {
        "accuracy": float(np.mean(predicted == y_true)),
        "roc_auc": roc_auc,
        "macro_f1": float(np.mean(f1)),
        "support": int(len(y_true)),
        "roc_auc_per_class": per_class_auc,
        "roc_auc_left_out": left_out,
        "per_class": {label: {"precision": float(precision[c]), "recall": float(recall[c]), "f1": float(f1[c]),
                              "support": int(support[c])} for c, label in enumerate(labels)},
        "confusion": confusion_matrix(y_true, predicted, labels=classes).tolist(),
    }
    if loss is not None:
        result = {"loss": float(loss), **result}
    return result


def confusion_text(matrix, labels: Sequence[str]) -> str:
    """The confusion matrix as an aligned table: rows are true classes, columns predictions.

    Examples
    --------
    >>> print(confusion_text([[2, 0], [1, 3]], ["rock", "jazz"]))
    true \\ predicted  rock  jazz
    rock                 2     0
    jazz                 1     3
    """
    matrix = np.asarray(matrix)
    head = "true \\ predicted"
    width = max([len(head)] + [len(label) for label in labels])
    cell = max([4] + [len(label) for label in labels] + [len(str(int(matrix.max()))) if matrix.size else 1])
    lines = [f"{head:<{width}}" + "".join(f"  {label[:cell]:>{cell}}" for label in labels)]
    for label, row in zip(labels, matrix):
        lines.append(f"{label:<{width}}" + "".join(f"  {int(v):>{cell}}" for v in row))
    return "\n".join(lines)


def confusion_figure(matrix, labels: Sequence[str], title: str = "confusion matrix"):
    """The confusion matrix as a matplotlib figure: counts, rows normalised for colour.

    Its size grows with the number of classes but never drops below what the title (wrapped to
    the width), the tick labels and the colour bar need: nothing is cut at the edges.
    """
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    matrix = np.asarray(matrix, np.float64)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    width, height = max(5.0, 1.6 + 0.55 * n), max(4.2, 1.4 + 0.5 * n)
    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(n), labels, rotation=45, ha="right")
    axes.set_yticks(range(n), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(textwrap.fill(title, width=max(24, int(width * 7))))
    for i in range(n):
        for j in range(n):
            axes.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center",
                      color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    return figure


def save_confusion_png(matrix, labels: Sequence[str], path, title: str = "confusion matrix") -> str:
    """Draw :func:`confusion_figure` to a PNG, atomically."""
    from ..base.files import replace_durably, temporary_beside

    figure = confusion_figure(matrix, labels, title)
    path = os.fspath(path)
    with temporary_beside(path, ".png") as tmp:
        figure.savefig(tmp, format="png")
        replace_durably(tmp, path)
    return path
