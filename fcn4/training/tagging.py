"""The tagging recipe: train FCN-4 on prepared features (MagnaTagATune), and evaluate weights on them.

``train`` is the seeds' MTAT recipe (Adam, lr 5e-4, batch 32, 10 epochs, sigmoid BCE) on
:class:`fcn4.training.trainer.Trainer`, the trainer the fine-tuning kit uses too: graph-mode steps,
checkpoints with the optimizer's state each epoch, resume, and the valid macro ROC-AUC per
epoch. Launched by ``msrun``, it trains data-parallel (:mod:`fcn4.training.parallel`): each rank reads its
share of the features, and rank 0 alone writes the run folder::

    config.yaml          the resolved settings
    checkpoints/         per-epoch training checkpoints (model + optimizer), the last and the best
    train_state.json     epochs done, history, best epoch
    <name>.ckpt          the best epoch's network: load it with hubconf/fcn4 or publish it as a card
    metrics.json         history, best epoch and its valid metrics
    card.yaml            metadata for ``python -m fcn4 card publish <name>.ckpt --metadata card.yaml``
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..base.errors import SettingError
from ..hub.weights import resolve
from .datasets import SPLITS, DatasetError
from .feature_store import FeatureStore
from .metrics import tagging_metrics, tagging_table
from .parallel import DEVICES
from .run import Plan, RunAdapter, RunConfig, card_metadata, history, run_training, write_card_metadata
from .trainer import AMP_LEVELS, FitResult, LogitsOf

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "load_for_features", "SELECT_METRICS"]

#: Valid metrics that can pick the best epoch (``loss``: the lowest).
SELECT_METRICS = ("roc_auc", "pr_auc", "loss")

_DATASET_NAMES = {"mtat": "MagnaTagATune", "gtzan": "GTZAN"}


@dataclass(frozen=True)
class TrainConfig(RunConfig):
    """A training run on prepared features (defaults: the seeds' MagnaTagATune recipe).

    ``pretrained`` is ``none`` (random weights, as the zoo trains), a hub uid, a card or a
    ``.ckpt``; weights with as many outputs as the features have labels keep their head.
    ``in_classes`` sets the widths of a network trained from scratch.
    """
    features: str
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    pretrained: str = "none"
    out: str | None = None
    name: str | None = None
    resume: bool = False
    seed: int = 0
    select: str = "roc_auc"
    amp_level: str = "O0"
    loss_scale: float = 1024.0
    in_classes: tuple[int, ...] | None = None
    reader_threads: int = 2
    device: str | None = None
    progress: bool | None = None

    FINGERPRINT: ClassVar = ("pretrained", "seed", "batch_size", "lr", "select", "amp_level", "loss_scale", "in_classes")
    RECORD_HEADER: ClassVar = "# resolved configuration of this run (fcn4 train)"
    TUPLES: ClassVar = ("in_classes",)

    def __post_init__(self):
        problems = [f"{k} {getattr(self, k)!r}: a whole number of at least 1" for k in ("epochs", "batch_size", "reader_threads")
                    if not isinstance(getattr(self, k), int) or getattr(self, k) < 1]
        if not self.lr > 0:
            problems.append(f"lr {self.lr!r}: a positive number")
        if self.amp_level not in AMP_LEVELS:
            problems.append(f"amp_level {self.amp_level!r}: one of {', '.join(AMP_LEVELS)}")
        if self.device not in (None, *DEVICES):
            problems.append(f"device {self.device!r}: one of {', '.join(DEVICES)}")
        if self.select not in SELECT_METRICS:
            problems.append(f"select {self.select!r}: one of {', '.join(SELECT_METRICS)}")
        if problems:
            raise SettingError("bad training setting(s): " + "; ".join(problems))

    @property
    def run_dir(self) -> Path:
        """``out``, or ``runs/<features folder name>``."""
        return Path(self.out) if self.out else Path("runs") / Path(self.features).name

    @property
    def checkpoint_name(self) -> str:
        return self.name or f"fcn4_{Path(self.features).name}"


@dataclass
class TrainResult:
    """Where a run is, its best epoch's checkpoint and valid metrics, and the trainer's result."""
    run_dir: Path
    checkpoint: Path
    valid: dict
    result: FitResult


def train(config: TrainConfig, *, log: Callable[[str], None] | None = None,
          warn: Callable[[str], None] | None = None) -> TrainResult:
    """Train as ``config`` says (data-parallel when launched by msrun); returns the best epoch."""
    return run_training(config, _Tagging(), log=log, warn=warn)


class _Tagging(RunAdapter):
    """The MagnaTagATune recipe: FCN-4 (with its head) on prepared features, sigmoid BCE, ROC/PR-AUC."""

    def open(self, run):
        self.store = FeatureStore.open(run.config.features, splits=("train", "valid"))

    def build(self, run):
        config, store = run.config, self.store
        return resolve(config.pretrained).build(len(store.labels), labels=store.labels, in_classes=config.in_classes)

    def check(self, run, start):
        store = self.store
        if start.pretrained and start.front_end != store.front_end:
            raise DatasetError(f"the features in {store.root} were computed with {store.front_end}, but "
                               f"{run.config.pretrained} expects {start.front_end}; prepare the features with its front end")

    def plan(self, run, start):
        config, store, world = run.config, self.store, run.world
        batches = {s: store.batches(s, config.batch_size, config.seed, world, config.reader_threads)
                   for s in ("train", "valid")}
        run.log(f"training on {len(batches['train'].y)} clips, validating on {len(batches['valid'].y)}"
                + (f", data-parallel over {world.size} processes ({config.batch_size} clips per process and step)"
                   if world.size > 1 else "")
                + f"; {config.epochs} epochs, batch {config.batch_size}, Adam lr {config.lr}, sigmoid BCE"
                + (f", mixed precision {config.amp_level} with loss scale {config.loss_scale:g}"
                   if config.amp_level != "O0" else ""))
        return Plan(LogitsOf(start.network), batches, store.labels, {"features": _features_digest(store)},
                    trainer={"loss": "bce", "metrics": lambda y, p, loss: tagging_metrics(y, p, store.labels, loss),
                             "amp_level": config.amp_level, "loss_scale": config.loss_scale})

    def finish(self, run, trainer, result, start):
        from ..model.checkpoint import save_checkpoint

        config, store, run_dir, log = run.config, self.store, run.run_dir, run.log
        best = result.history[result.best_epoch - 1]
        checkpoint = run_dir / f"{config.checkpoint_name}.ckpt"
        if run.world.main:
            save_checkpoint(start.network, checkpoint)
            run.write_json("metrics.json", {
                "features": str(store.root), "dataset": store.plan["dataset"], "split": store.plan["split"],
                "best_epoch": result.best_epoch, "valid": best.valid, "processes": run.world.size,
                "history": history(result, "roc_auc", "pr_auc")})
            write_card_metadata(_card_metadata(config, store, start.network, best.valid), run_dir / "card.yaml")
            log(f"best epoch {result.best_epoch}: valid ROC-AUC {_value(best.valid['roc_auc'])}, PR-AUC "
                f"{_value(best.valid['pr_auc'])}; network saved to {checkpoint}")
            log(f"evaluate it: python -m fcn4 evaluate --weights {checkpoint} --features {store.root}")
            log(f"publish it:  python -m fcn4 card publish {checkpoint} --metadata {run_dir / 'card.yaml'}")
        return TrainResult(run_dir, checkpoint, best.valid, result)


def load_for_features(weights, store: FeatureStore):
    """The network of ``weights`` (uid, card or ``.ckpt``) with its head, checked against the features' labels."""
    built = resolve(weights).build(len(store.labels), labels=store.labels)
    if not built.head_kept:
        raise SettingError(f"{weights} has {built.pretrained_classes or 'no trained'} outputs, the features in "
                           f"{store.root} have {len(store.labels)} labels: evaluate weights trained on these labels")
    return built.network


def evaluate(weights, features, *, split: str = "test", batch_size: int = 8, reader_threads: int = 2,
             log: Callable[[str], None] | None = None, threshold_policy: str | None = None) -> dict:
    """Exact macro ROC-AUC and PR-AUC (and the per-tag table) of ``weights`` on a split of ``features``;
    with ``threshold_policy`` (``f1``, ``precision=P``, ``recall=R``) also each tag's threshold chosen on
    that split (``thresholds``: :func:`fcn4.training.thresholds.calibrate`)."""
    import mindspore as ms

    from .trainer import loss_from_logits, predict_logits, probabilities_from_logits

    if split not in SPLITS:
        raise SettingError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    log = log or logger.info
    store = FeatureStore.open(features, splits=(split,))
    net = load_for_features(weights, store)
    net.set_train(False)
    targets, logits = predict_logits(ms.jit(LogitsOf(net)), store.batches(split, batch_size, threads=reader_threads))
    metrics = tagging_metrics(targets, probabilities_from_logits(logits, "bce"), store.labels,
                              loss_from_logits(logits, targets, "bce"))
    result = {"weights": str(weights), "features": str(store.root), "split": split, **metrics}
    if threshold_policy is not None:
        from .thresholds import calibrate

        result["threshold_policy"] = threshold_policy
        result["thresholds"] = calibrate(targets, probabilities_from_logits(logits, "bce"), store.labels,
                                         threshold_policy)
    log(tagging_table(metrics, store.labels))
    if metrics["left_out"]:
        log(f"left out of the means (no positive or no negative clip in {split}): {', '.join(metrics['left_out'])}")
    log(f"{split}: {metrics['support']} clips, macro ROC-AUC {_value(metrics['roc_auc'])}, "
        f"macro PR-AUC {_value(metrics['pr_auc'])} over {len(store.labels) - len(metrics['left_out'])} tags")
    return result


def _features_digest(store: FeatureStore) -> str:
    plan = {k: v for k, v in store.plan.items() if k != "root"}
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


def _card_metadata(config: TrainConfig, store: FeatureStore, net, valid: dict):
    dataset = _DATASET_NAMES.get(store.plan["dataset"], store.plan["dataset"])
    name = config.checkpoint_name.replace("-", "_")
    return card_metadata(
        name=name if "_v" in name else f"{name}_v1.0", dataset=dataset, net=net, labels=store.labels,
        front_end=store.front_end, asset_link=f"https://example.invalid/fcn4/{config.checkpoint_name}.ckpt",
        metrics={"valid_roc_auc": _rounded(valid["roc_auc"]), "valid_pr_auc": _rounded(valid["pr_auc"])},
        summary=f"FCN-4 trained on {dataset} ({len(store.labels)} tags, {store.plan['split']} split) "
                f"from {config.pretrained if config.pretrained != 'none' else 'random weights'}.")


def _rounded(value):
    return None if value is None else round(value, 4)


def _value(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
