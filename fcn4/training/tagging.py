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

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import SettingError
from ..base.files import write_text_atomic
from ..hub.weights import resolve
from .datasets import SPLITS, DatasetError
from .feature_store import FeatureStore
from .metrics import tagging_metrics, tagging_table
from .parallel import DEVICES
from .trainer import AMP_LEVELS, STATE_FILE, FitResult, LogitsOf, Trainer, TrainingError, hold_run_folder

__all__ = ["TrainConfig", "TrainResult", "train", "evaluate", "load_for_features", "SELECT_METRICS"]

#: Valid metrics that can pick the best epoch (``loss``: the lowest).
SELECT_METRICS = ("roc_auc", "pr_auc", "loss")

_DATASET_NAMES = {"mtat": "MagnaTagATune", "gtzan": "GTZAN"}


@dataclass(frozen=True)
class TrainConfig:
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

    def fingerprint(self) -> dict:
        """What a resumed run must share with the run it continues."""
        keep = ("pretrained", "seed", "batch_size", "lr", "select", "amp_level", "loss_scale", "in_classes")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items() if k in keep}


@dataclass
class TrainResult:
    """Where a run is, its best epoch's checkpoint and valid metrics, and the trainer's result."""
    run_dir: Path
    checkpoint: Path
    valid: dict
    result: FitResult


def train(config: TrainConfig, *, log: Callable[[str], None] = print,
          warn: Callable[[str], None] = print) -> TrainResult:
    """Train as ``config`` says (data-parallel when launched by msrun); returns the best epoch."""
    from .parallel import init_world

    world = init_world(config.device)
    with hold_run_folder(config.run_dir, world):
        return _train(config, world, world.on_main(log), world.on_main(warn))


def _train(config: TrainConfig, world, log, warn) -> TrainResult:
    import mindspore as ms

    from ..model.checkpoint import save_checkpoint

    store = FeatureStore.open(config.features, splits=("train", "valid"))
    run_dir = config.run_dir
    if not config.resume and (run_dir / STATE_FILE).exists():
        raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it or --out for a new one")
    ms.set_seed(config.seed)  # the same seed on every rank: the same initial weights
    start = resolve(config.pretrained).build(len(store.labels), labels=store.labels, in_classes=config.in_classes)
    (log if start.pretrained else warn)(start.describe())
    if start.pretrained and start.front_end != store.front_end:
        raise DatasetError(f"the features in {store.root} were computed with {store.front_end}, but {config.pretrained} "
                           f"expects {start.front_end}; prepare the features with its front end")
    net = start.network
    if world.main:
        import yaml

        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(
            {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}, sort_keys=False))
    batches = {s: store.batches(s, config.batch_size, config.seed, world, config.reader_threads) for s in ("train", "valid")}
    log(f"training on {len(batches['train'].y)} clips, validating on {len(batches['valid'].y)}"
        + (f", data-parallel over {world.size} processes ({config.batch_size} clips per process and step)"
           if world.size > 1 else "")
        + f"; {config.epochs} epochs, batch {config.batch_size}, Adam lr {config.lr}, sigmoid BCE"
        + (f", mixed precision {config.amp_level} with loss scale {config.loss_scale:g}" if config.amp_level != "O0" else ""))
    trainer = Trainer(LogitsOf(net), labels=store.labels, run_dir=run_dir, loss="bce", lr=config.lr,
                      metrics=lambda y, p, loss: tagging_metrics(y, p, store.labels, loss), select=config.select,
                      progress=config.progress, log=log, world=world, amp_level=config.amp_level,
                      loss_scale=config.loss_scale)
    fingerprint = {**config.fingerprint(), "features": _features_digest(store)}
    result = trainer.fit(batches["train"], batches["valid"], config.epochs, resume=config.resume,
                         fingerprint=fingerprint)
    trainer.load(result.best_checkpoint, optimizer=False)
    best = result.history[result.best_epoch - 1]
    checkpoint = run_dir / f"{config.checkpoint_name}.ckpt"
    if world.main:
        save_checkpoint(net, checkpoint)
        metrics = {"features": str(store.root), "dataset": store.plan["dataset"], "split": store.plan["split"],
                   "best_epoch": result.best_epoch, "valid": best.valid, "processes": world.size,
                   "history": [{"epoch": r.epoch, "train_loss": r.train_loss, "valid_loss": r.valid["loss"],
                                "valid_roc_auc": r.valid["roc_auc"], "valid_pr_auc": r.valid["pr_auc"],
                                "seconds": r.seconds} for r in result.history]}
        write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=1) + "\n")
        write_text_atomic(run_dir / "card.yaml", _card_metadata(config, store, net, best.valid))
        log(f"best epoch {result.best_epoch}: valid ROC-AUC {_value(best.valid['roc_auc'])}, PR-AUC "
            f"{_value(best.valid['pr_auc'])}; network saved to {checkpoint}")
        log(f"evaluate it: python -m fcn4 evaluate --weights {checkpoint} --features {store.root}")
        log(f"publish it:  python -m fcn4 card publish {checkpoint} --metadata {run_dir / 'card.yaml'}")
    world.barrier()
    return TrainResult(run_dir, checkpoint, best.valid, result)


def load_for_features(weights, store: FeatureStore):
    """The network of ``weights`` (uid, card or ``.ckpt``) with its head, checked against the features' labels."""
    built = resolve(weights).build(len(store.labels), labels=store.labels)
    if not built.head_kept:
        raise SettingError(f"{weights} has {built.pretrained_classes or 'no trained'} outputs, the features in "
                           f"{store.root} have {len(store.labels)} labels: evaluate weights trained on these labels")
    return built.network


def evaluate(weights, features, *, split: str = "test", batch_size: int = 8, reader_threads: int = 2,
             log: Callable[[str], None] = print) -> dict:
    """Exact macro ROC-AUC and PR-AUC (and the per-tag table) of ``weights`` on a split of ``features``."""
    import mindspore as ms

    from .trainer import loss_from_logits, predict_logits, probabilities_from_logits

    if split not in SPLITS:
        raise SettingError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    store = FeatureStore.open(features, splits=(split,))
    net = load_for_features(weights, store)
    net.set_train(False)
    targets, logits = predict_logits(ms.jit(LogitsOf(net)), store.batches(split, batch_size, threads=reader_threads))
    metrics = tagging_metrics(targets, probabilities_from_logits(logits, "bce"), store.labels,
                              loss_from_logits(logits, targets, "bce"))
    result = {"weights": str(weights), "features": str(store.root), "split": split, **metrics}
    log(tagging_table(metrics, store.labels))
    if metrics["left_out"]:
        log(f"left out of the means (no positive or no negative clip in {split}): {', '.join(metrics['left_out'])}")
    log(f"{split}: {metrics['support']} clips, macro ROC-AUC {_value(metrics['roc_auc'])}, "
        f"macro PR-AUC {_value(metrics['pr_auc'])} over {len(store.labels) - len(metrics['left_out'])} tags")
    return result


def _features_digest(store: FeatureStore) -> str:
    plan = {k: v for k, v in store.plan.items() if k != "root"}
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]


def _card_metadata(config: TrainConfig, store: FeatureStore, net, valid: dict) -> str:
    import yaml


    dataset = _DATASET_NAMES.get(store.plan["dataset"], store.plan["dataset"])
    name = config.checkpoint_name.replace("-", "_")
    metadata = {
        "name": name if "_v" in name else f"{name}_v1.0", "version": "1.0", "dataset": dataset,
        "asset_link": f"https://example.invalid/fcn4/{config.checkpoint_name}.ckpt", "user_id": "local",
        "author": "fcn4-train", "labels": list(store.labels), "arguments": net.arguments(),
        "front_end": dataclasses.asdict(store.front_end),
        "metrics": {"valid_roc_auc": _rounded(valid["roc_auc"]), "valid_pr_auc": _rounded(valid["pr_auc"])},
        "summary": f"FCN-4 trained on {dataset} ({len(store.labels)} tags, {store.plan['split']} split) "
                   f"from {config.pretrained if config.pretrained != 'none' else 'random weights'}.",
    }
    return ("# metadata for: python -m fcn4 card publish <checkpoint> --metadata THIS_FILE "
            "(set asset_link to where the checkpoint will be hosted)\n" + yaml.safe_dump(metadata, sort_keys=False))


def _rounded(value):
    return None if value is None else round(value, 4)


def _value(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
