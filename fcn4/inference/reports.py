"""Tagging results as a table, JSON or CSV, written one file at a time (any number of files).

Every input file gets an entry: its tags and probabilities, or ``status: error`` and the reason.
"""
from __future__ import annotations

import csv
import json

from ..base.errors import SettingError
from .tagger import Prediction, check_top

__all__ = ["FORMATS", "TagWriter"]

#: Output formats of ``python -m fcn4 tag``.
FORMATS = ("table", "json", "csv")


class TagWriter:
    """Writes predictions to ``handle`` in ``fmt`` as they come; :meth:`close` ends the document.

    Parameters
    ----------
    handle : text file
    fmt : {'table', 'json', 'csv'}
    labels : sequence of str
        The checkpoint's outputs, in order (CSV columns, JSON ``labels``).
    header : dict
        Run details for JSON (weights, backend, window, ...).
    top_k, threshold :
        Which tags are listed per file (see :meth:`~fcn4.inference.tagger.Prediction.top`); JSON and CSV
        also carry every probability. With a ``threshold``, each file also gets its label set.
    per_window : bool
        JSON also lists each window's start and probabilities (for ``--window track``).
    label_thresholds : array ``[C]``, optional
        One threshold per label (a card's Thresholds, outputs' order): each file's label set holds the
        labels at or above their own (``label_set`` in JSON and CSV, ``| labels:`` in the table).
    """

    def __init__(self, handle, fmt: str, labels, header: dict, top_k: int = 5, threshold: float | None = None,
                 per_window: bool = False, label_thresholds=None):
        if fmt not in FORMATS:
            raise SettingError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        check_top(top_k, threshold)
        self.handle, self.fmt, self.labels = handle, fmt, tuple(labels)
        self.top_k, self.threshold, self.per_window = top_k, threshold, per_window
        self.cuts = None
        if label_thresholds is not None:
            self.cuts = [float(v) for v in label_thresholds]
            if len(self.cuts) != len(self.labels):
                raise SettingError(f"{len(self.cuts)} thresholds for {len(self.labels)} labels; give one per label")
            header = {**header, "thresholds": dict(zip(self.labels, self.cuts))}
        elif threshold is not None:
            self.cuts = [float(threshold)] * len(self.labels)
        self.counts = {"files": 0, "tagged": 0, "failed": 0}
        if fmt == "json":
            fields = {**header, "labels": list(self.labels)}
            handle.write("{\n" + "".join(f" {json.dumps(k)}: {json.dumps(v)},\n" for k, v in fields.items())
                         + ' "files": [')
        elif fmt == "csv":
            self._rows = csv.writer(handle, lineterminator="\n")
            self._rows.writerow(["path", "status", "error", "tags", *(["label_set"] if self.cuts else []),
                                 *self.labels])

    def write(self, prediction: Prediction) -> None:
        self.counts["files"] += 1
        self.counts["tagged" if prediction.ok else "failed"] += 1
        getattr(self, f"_{self.fmt}")(prediction)

    def close(self) -> dict:
        """Finish the document; returns the counts (files, tagged, failed)."""
        if self.fmt == "json":
            self.handle.write(f'\n ],\n "summary": {json.dumps(self.counts)}\n}}\n')
        self.handle.flush()
        return dict(self.counts)

    def _tags(self, prediction: Prediction):
        return prediction.top(self.top_k, self.threshold)

    def _table(self, p: Prediction) -> None:
        if not p.ok:
            self.handle.write(f"{p.path}: FAILED: {p.error}\n")
            return
        windows = f" [{len(p.starts)} windows, {p.aggregate}]" if len(p.starts) > 1 else ""
        tags = ", ".join(f"{tag} {prob:.3f}" for tag, prob in self._tags(p)) or "(no tag above the threshold)"
        note = f" ({p.note})" if p.note else ""
        chosen = f" | labels: {', '.join(label for label, _ in p.label_set(self.cuts)) or '(none)'}" if self.cuts else ""
        self.handle.write(f"{p.path}:{windows} {tags}{chosen}{note}\n")

    def _json(self, p: Prediction) -> None:
        entry = {"path": p.path, "status": "ok" if p.ok else "error"}
        if not p.ok:
            entry["error"] = p.error
        else:
            if p.note:
                entry["note"] = p.note
            entry["tags"] = [{"tag": tag, "probability": prob} for tag, prob in self._tags(p)]
            if self.cuts:
                entry["label_set"] = [label for label, _ in p.label_set(self.cuts)]
            entry["probabilities"] = dict(zip(self.labels, p.probabilities.tolist()))
            if self.per_window:
                entry["windows"] = [{"start": float(start), "probabilities": dict(zip(self.labels, probs.tolist()))}
                                    for start, probs in zip(p.starts, p.window_probabilities)]
        self.handle.write(("\n  " if self.counts["files"] == 1 else ",\n  ") + json.dumps(entry))

    def _csv(self, p: Prediction) -> None:
        if not p.ok:
            self._rows.writerow([p.path, "error", p.error, ""] + [""] * (len(self.labels) + bool(self.cuts)))
            return
        tags = ";".join(tag for tag, _ in self._tags(p))
        chosen = [";".join(label for label, _ in p.label_set(self.cuts))] if self.cuts else []
        self._rows.writerow([p.path, "ok", "", tags, *chosen, *(f"{v:.6f}" for v in p.probabilities)])
