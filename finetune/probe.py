"""Linear probes of stored embeddings: ``python -m finetune --store S --manifest labels.csv --probe``.

How much of a manifest's labels do the embeddings of a store (``fcn4 embed --ray``) already hold?
A ridge classifier (targets +-1 per label, standardised embeddings, solved by its normal equations;
its penalty chosen in every fold by an inner cross-validation of that fold's training part) is fitted in ``folds``-fold
cross-validation, folds stratified per label (iterative stratification), so every clip gets a score from a probe
that never saw it. The metrics of these out-of-fold scores come with bootstrap 95% confidence intervals
(resampling clips), with a per-label table and a precision-recall curve PNG per store. A store
folder whose sub-folders are stores (one per ``--layer``) gives one row per layer.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fcn4.base.errors import ConfigError, StoreError
from fcn4.base.files import write_text_atomic
from fcn4.training.datasets import SPLITS
from fcn4.training.multilabel import iterative_folds

from .intervals import LEVEL, Ranked, bootstrap, interval

__all__ = ["ProbeResult", "probe_arrays", "run_probe", "find_stores", "ALPHAS", "BOOTS"]

logger = logging.getLogger(__name__)
#: The ridge penalties tried, per clip (in each fold, an inner cross-validation of its training part picks one).
ALPHAS = tuple(np.logspace(-4, 1, 6))
#: Inner folds, on each fold's training part, that choose its penalty.
INNER = 3
#: Bootstrap resamples behind each interval.
BOOTS = 1000


@dataclass
class ProbeResult:
    """What a probe found: one row per layer (``layer``, ``metrics`` with intervals, ``per_label``)."""
    run_dir: Path
    labels: tuple[str, ...]
    task: str
    rows: list[dict]
    skipped: int = 0
    timings: dict = field(default_factory=dict)


def probe_arrays(x: np.ndarray, y: np.ndarray, labels: Sequence[str], task: str, *, folds: int = 5, seed: int = 0,
                 boots: int = BOOTS) -> dict:
    """Cross-validated linear probe of embeddings ``x`` ``[N, D]`` for targets ``y`` (``[N]`` classes or ``[N, C]`` 0/1).

    Returns JSON-ready ``metrics`` (each ``{"value", "interval"}``: macro and micro ROC-AUC and PR-AUC,
    and accuracy for single-label), ``per_label`` (positives, ROC-AUC and PR-AUC with intervals) and,
    not JSON, ``scores`` (the out-of-fold scores ``[N, C]``) and ``targets`` (0/1 ``[N, C]``).
    """
    x = np.asarray(x, np.float64)
    if not np.isfinite(x).all():
        raise ConfigError(f"the embeddings hold {int(np.sum(~np.isfinite(x)))} values that are not finite (NaN or "
                          "infinite); write the store again (fcn4 embed --ray)")
    x = x - x.mean(axis=0)  # centred in float64 first: X'X of uncentred float32 features loses the variance
    n = len(x)
    targets = np.asarray(y)
    onehot = np.eye(len(labels), dtype=np.int64)[targets] if task == "single" else (targets > 0).astype(np.int64)
    fold_of = iterative_folds(targets if task == "single" else onehot, folds, seed)
    signs = 2.0 * onehot - 1.0
    gram = _Gram(x, signs)  # X'X and X'Y once; each part's are its complement's differences
    scores = np.zeros((n, len(labels)))
    for k in range(folds):
        test, train = fold_of == k, fold_of != k
        if not test.any() or not train.any():
            continue
        # each fold picks its penalty on its own training part (an inner cross-validation): no test clip chooses it
        fit = gram.without(test)
        alpha = _choose_alpha(fit, x, onehot, train, [seed, k])
        scores[test] = fit.predict(alpha, x[test])
    return {**_with_intervals(onehot, scores, labels, task, boots, seed), "scores": scores, "targets": onehot}


class _Gram:
    """Ridge regression by its normal equations on standardised features, any subset of the rows left out:
    ``X'X`` and ``X'Y`` of all rows are computed once, a subset's by subtracting the rows it leaves out."""

    def __init__(self, x, y, sums=None):
        self.x, self.y = (x, y) if sums else (np.asarray(x, np.float64), np.asarray(y, np.float64))
        x, y = self.x, self.y
        self.n, self.sum_x, self.sum_y, self.xx, self.xy = sums or (len(x), x.sum(axis=0), y.sum(axis=0), x.T @ x,
                                                                    x.T @ y)

    def without(self, rows) -> "_Gram":
        out_x, out_y = self.x[rows], self.y[rows]
        return _Gram(self.x, self.y, (self.n - len(out_x), self.sum_x - out_x.sum(axis=0),
                                      self.sum_y - out_y.sum(axis=0), self.xx - out_x.T @ out_x,
                                      self.xy - out_x.T @ out_y))

    def predict_many(self, alphas, x) -> list[np.ndarray]:
        """:meth:`predict` for each penalty of ``alphas``, by one eigendecomposition of these rows' system."""
        mean, mean_y = self.sum_x / self.n, self.sum_y / self.n
        covariance = self.xx - self.n * np.outer(mean, mean)
        scale = np.sqrt(np.maximum(np.diag(covariance) / self.n, 0.0))
        scale = np.where(scale > 1e-12, scale, 1.0)
        cross = (self.xy - self.n * np.outer(mean, mean_y)) / scale[:, None]
        try:
            values, vectors = np.linalg.eigh(covariance / np.outer(scale, scale))
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise ConfigError(f"the ridge probe of {self.n} clips x {len(scale)} features cannot be solved ({exc}); "
                              "check the store's embeddings, or give more clips") from exc
        projected, z = vectors.T @ cross, ((np.asarray(x, np.float64) - mean) / scale) @ vectors
        return [z @ (projected / (values + alpha * self.n)[:, None]) + mean_y for alpha in alphas]

    def predict(self, alpha: float, x) -> np.ndarray:
        """Scores of ``x`` by the ridge fitted to these rows (features standardised by these rows)."""
        from scipy.linalg import LinAlgError, cho_factor, cho_solve

        mean, mean_y = self.sum_x / self.n, self.sum_y / self.n
        covariance = self.xx - self.n * np.outer(mean, mean)
        scale = np.sqrt(np.maximum(np.diag(covariance) / self.n, 0.0))
        scale = np.where(scale > 1e-12, scale, 1.0)
        cross = (self.xy - self.n * np.outer(mean, mean_y)) / scale[:, None]
        system = covariance / np.outer(scale, scale) + alpha * self.n * np.eye(len(scale))
        try:
            weights = cho_solve(cho_factor(system), cross) / scale[:, None]
        except (LinAlgError, ValueError) as exc:
            raise ConfigError(f"the ridge probe of {self.n} clips x {len(scale)} features (penalty {alpha:g}) cannot "
                              f"be solved ({exc}); check the store's embeddings, or give more clips") from exc
        return (np.asarray(x, np.float64) - mean) @ weights + mean_y


def _choose_alpha(fit: _Gram, x, onehot, train, seed) -> float:
    """The penalty of :data:`ALPHAS` whose ridge (``fit``: on ``train``'s rows) scores those rows best (mean ROC-AUC over their labels) in an
    :data:`INNER`-fold cross-validation on those rows alone."""
    rows = np.flatnonzero(train)
    part = np.random.default_rng(seed).permutation(len(rows)) % INNER
    found = np.zeros((len(ALPHAS), len(rows), onehot.shape[1]))
    for i in range(min(INNER, len(rows))):
        held = np.zeros(len(x), bool)
        held[rows[part == i]] = True
        found[:, part == i] = fit.without(held).predict_many(ALPHAS, x[held])
    targets = onehot[rows]
    usable = [j for j in range(targets.shape[1]) if 0 < targets[:, j].sum() < len(targets)]
    if not usable or len(rows) < INNER:
        return ALPHAS[len(ALPHAS) // 2]
    ones = np.ones((1, len(targets)), np.float32)
    means = [np.mean([Ranked(targets[:, j], scores[:, j]).aucs(ones)[0][0] for j in usable]) for scores in found]
    return ALPHAS[int(np.argmax(means))]


def _with_intervals(onehot, scores, labels, task, boots, seed) -> dict:
    n, c = onehot.shape
    usable = [j for j in range(c) if 0 < onehot[:, j].sum() < n]
    statistics = {}
    for j in usable:
        statistics[f"label {j}"] = Ranked(onehot[:, j], scores[:, j]).aucs
    if task == "multi":
        micro = Ranked(onehot.ravel(), scores.ravel(), columns=np.repeat(np.arange(n), c))
        statistics["micro"] = lambda w: _in_slices(micro.aucs, w)
    else:
        hits = (scores.argmax(axis=1) == onehot.argmax(axis=1)).astype(np.float64)
        statistics["accuracy"] = lambda w: (w @ hits) / w.sum(axis=1)
    ones = np.ones((1, n), np.float32)
    point = _split_pairs({name: statistic(ones) for name, statistic in statistics.items()})
    point = {name: float(values[0]) for name, values in point.items()}
    drawn = _split_pairs(bootstrap(n, boots, seed + 1, statistics))
    for kind in ("roc", "pr"):  # a macro mean per resample: the labels that resample can score
        if usable:
            stacked = np.stack([drawn[f"{kind} {j}"] for j in usable])
            with np.errstate(invalid="ignore"):
                drawn[f"macro {kind}"] = np.nanmean(np.where(np.isfinite(stacked), stacked, np.nan), axis=0)
            point[f"macro {kind}"] = float(np.mean([point[f"{kind} {j}"] for j in usable]))
    names = {"macro roc": "roc_auc", "macro pr": "pr_auc", "micro roc": "micro_roc_auc", "micro pr": "micro_pr_auc",
             "accuracy": "accuracy"}
    metrics = {names[k]: {"value": point[k], "interval": interval(drawn[k])} for k in names if k in point}
    per_label = {}
    for j, label in enumerate(labels):
        row = {"positives": int(onehot[:, j].sum())}
        for kind, key in (("roc", "roc_auc"), ("pr", "pr_auc")):
            name = f"{kind} {j}"
            row[key] = {"value": point[name], "interval": interval(drawn[name])} if name in point else None
        per_label[label] = row
    return {"metrics": metrics, "per_label": per_label, "left_out": [labels[j] for j in range(c) if j not in usable]}


def _split_pairs(found: dict) -> dict:
    """``label j`` / ``micro`` (ROC-AUC, PR-AUC) pairs as ``roc j``, ``pr j``, ``micro roc``, ``micro pr``."""
    out = {}
    for name, values in found.items():
        if name == "accuracy":
            out[name] = values
            continue
        roc, pr = values if isinstance(values, tuple) else (values[0], values[1])
        suffix = name.split(" ", 1)[1] if name.startswith("label ") else None
        out[f"roc {suffix}" if suffix else "micro roc"], out[f"pr {suffix}" if suffix else "micro pr"] = roc, pr
    return out


def _in_slices(statistic, weights, rows: int = 10):
    """``statistic`` over ``weights`` ``rows`` resamples at a time (its gathers stay small), joined."""
    parts = [statistic(weights[i:i + rows]) for i in range(0, len(weights), rows)]
    return tuple(np.concatenate(values) for values in zip(*parts))


# ------------------------------------------------------------------------------------- the run
def find_stores(folder) -> list:
    """The store at ``folder``, or the stores in its sub-folders (one per layer), sorted by layer then name."""
    from fcn4.library.store import SETTINGS_FILE, Store

    folder = Path(folder)
    if (folder / SETTINGS_FILE).is_file():
        return [Store(folder)]
    subs = sorted(p for p in folder.iterdir() if (p / SETTINGS_FILE).is_file()) if folder.is_dir() else []
    if not subs:
        raise StoreError(f"--store {folder}: neither a store nor a folder of stores; write one with "
                         "`fcn4 embed --ray DATA -o STORE` (one store per --layer, side by side, for several layers)")
    stores = [Store(p) for p in subs]
    return sorted(stores, key=lambda s: (_layer_rank(s), s.folder.name))


def _layer_rank(store) -> int:
    from fcn4.model.arguments import LAYERS

    layer = getattr(store.settings, "layer", LAYERS[-1])
    return LAYERS.index(layer) if layer in LAYERS else len(LAYERS)


def run_probe(config, *, log: Callable[[str], None] | None = None,
              warn: Callable[[str], None] | None = None) -> ProbeResult:
    """The probe ``config`` asks for (``store``, ``manifest``, ``folds``, ``seed``); writes ``probe.json`` and a
    PR-curve PNG per store (named after its folder) into the run folder."""
    from .manifest import read_manifest

    log, warn = log or logger.info, warn or logger.warning
    began = time.perf_counter()
    stores = find_stores(config.store)
    dataset = read_manifest(config.manifest, config.data_dir, task=config.task, seed=config.seed)
    items = [item for split in SPLITS for item in dataset.splits[split]]
    log(f"{dataset.name}: {len(items)} clips, {len(dataset.labels)} labels ({dataset.task}-label); "
        f"{config.folds}-fold linear probe, {BOOTS} bootstrap resamples for the {LEVEL:.0%} intervals")
    run_dir = Path(config.run_dir)
    rows, skipped = [], 0
    for store in stores:
        layer = getattr(store.settings, "layer", "penultimate")
        if not store.settings.embeddings:
            raise StoreError(f"the store {store.folder} holds tags, no embeddings; write one with `fcn4 embed --ray`")
        x, chosen = _matched(store, items)
        skipped = len(items) - len(chosen)
        if skipped:
            warn(f"{store.folder}: {skipped} of the manifest's {len(items)} clips are not in the store (or failed "
                 "there): left out")
        if len(chosen) < 2 * config.folds:
            raise ConfigError(f"--store {store.folder}: {len(chosen)} of the manifest's clips are in it; a "
                              f"{config.folds}-fold probe needs at least {2 * config.folds}")
        mark = time.perf_counter()
        kept = [items[i] for i in chosen]
        found = probe_arrays(x, dataset.targets(kept), dataset.labels, dataset.task, folds=config.folds,
                             seed=config.seed)
        png = run_dir / ("pr_curves-" + re.sub(r"[^\w.-]", "_", store.folder.name) + ".png")  # a store's, not a layer's
        rows.append({"layer": layer, "store": str(store.folder), "features": int(x.shape[1]), "clips": len(kept),
                     "metrics": found["metrics"], "per_label": found["per_label"], "left_out": found["left_out"],
                     "pr_curves": str(png), "seconds": round(time.perf_counter() - mark, 3)})
        run_dir.mkdir(parents=True, exist_ok=True)
        _save_pr_curves(found["targets"], found["scores"], dataset.labels, png, f"{dataset.name}, {layer}")
    result = ProbeResult(run_dir, dataset.labels, dataset.task, rows, skipped,
                         {"total_s": round(time.perf_counter() - began, 3)})
    write_text_atomic(run_dir / "probe.json", json.dumps(
        {"manifest": str(config.manifest), "task": dataset.task, "labels": list(dataset.labels), "folds": config.folds,
         "seed": config.seed, "boots": BOOTS, "level": LEVEL, "rows": rows, "timings": result.timings}, indent=1) + "\n")
    for line in probe_table(result):
        log(line)
    return result


def _matched(store, items) -> tuple[np.ndarray, list[int]]:
    """The store's embeddings of ``items`` (by resolved path) and the indices of the items it holds."""
    paths, matrix = store.embeddings()
    row_of = {os.path.realpath(p): i for i, p in enumerate(paths)}
    chosen = [i for i, item in enumerate(items) if os.path.realpath(item.path) in row_of]
    rows = [row_of[os.path.realpath(items[i].path)] for i in chosen]
    return matrix[rows], chosen


def probe_table(result: ProbeResult) -> list[str]:
    """One line per layer (each metric with its interval), then each layer's per-label table."""
    keys = ["roc_auc", "micro_roc_auc", "pr_auc", "micro_pr_auc"] if result.task == "multi" else \
        ["accuracy", "roc_auc", "pr_auc"]
    lines = [f"{'layer':<12} {'dim':>5}  " + "  ".join(f"{k:<22}" for k in keys)]
    for row in result.rows:
        lines.append(f"{row['layer']:<12} {row['features']:>5}  "
                     + "  ".join(f"{_shown(row['metrics'].get(k)):<22}" for k in keys))
    for row in result.rows:
        width = max([5] + [len(label) for label in result.labels])
        lines.append(f"\n{row['layer']}: per label (out-of-fold, {LEVEL:.0%} intervals)")
        lines.append(f"{'label':<{width}}  positives  {'ROC-AUC':<22}  PR-AUC")
        for label in result.labels:
            cell = row["per_label"][label]
            lines.append(f"{label:<{width}}  {cell['positives']:9d}  {_shown(cell['roc_auc']):<22}  "
                         f"{_shown(cell['pr_auc'])}")
    return lines


def _shown(entry) -> str:
    if not entry:
        return "n/a"
    low_high = entry["interval"]
    return f"{entry['value']:.4f}" + (f" [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else "")


def _save_pr_curves(targets, scores, labels, path: Path, title: str, most: int = 12) -> None:
    """Precision-recall curves of the out-of-fold scores (the ``most`` most frequent labels), to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    from fcn4.base.files import replace_durably, temporary_beside

    figure = Figure(figsize=(6.4, 4.8), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for j in np.argsort(-targets.sum(axis=0), kind="stable")[:most]:
        if 0 < targets[:, j].sum() < len(targets):
            precision, recall, _ = precision_recall_curve(targets[:, j], scores[:, j])
            axes.plot(recall, precision, label=labels[j], linewidth=1.2)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_title(f"{title}: out-of-fold precision-recall")
    axes.legend(fontsize=7, loc="lower left")
    with temporary_beside(path, ".png") as tmp:
        figure.savefig(tmp, format="png")
        replace_durably(tmp, path)
