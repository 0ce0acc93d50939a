"""What a fine-tuning run writes at the end: thresholds chosen on the validation split, the test
metrics at them, the checkpoint, the confusion matrix (single-label), ``metrics.json`` and the card."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fcn4.training.metrics import confusion_text, save_confusion_png
from fcn4.training.multilabel import multilabel_metrics, multilabel_table
from fcn4.training.run import card_metadata, history, publish_run_card
from fcn4.training.thresholds import calibrate, threshold_vector

__all__ = ["calibrated_thresholds", "test_metrics", "write_outputs", "run_metrics", "print_test"]

#: Names the card gives the datasets the kit reads.
_CARD_DATASETS = {"gtzan": "GTZAN"}


def calibrated_thresholds(trainer, valid_batches, dataset, policy: str, loss: str) -> dict | None:
    """Each label's threshold on the validation split (:func:`fcn4.training.thresholds.calibrate`).

    Only a sigmoid head (``bce``) has per-label probabilities to decide on: None for ``ce``.
    """
    if loss != "bce":
        return None
    targets, probabilities, _ = trainer.predict(valid_batches)
    if targets.ndim == 1:
        targets = np.eye(len(dataset.labels), dtype=np.int64)[targets.astype(np.int64)]
    return calibrate(targets, probabilities, dataset.labels, policy)


def test_metrics(trainer, test_batches, dataset, thresholds) -> dict:
    """The test split's metrics: the trainer's (single-label), or multi-label ones at the thresholds."""
    if dataset.task != "multi":
        return trainer.evaluate(test_batches)
    targets, probabilities, loss = trainer.predict(test_batches)
    cuts = threshold_vector(thresholds, dataset.labels) if thresholds else None
    return multilabel_metrics(targets, probabilities, dataset.labels, loss, cuts)


def write_outputs(config, net, front_end, dataset, checkpoint, test, thresholds):
    """Rank 0: the fine-tuned checkpoint, the confusion matrix and (unless told not to) the card."""
    from fcn4.model.checkpoint import save_checkpoint

    save_checkpoint(net, checkpoint)
    if dataset.task != "multi":
        save_confusion_png(test["confusion"], dataset.labels, config.run_dir / "confusion.png",
                           title=f"{config.name}: test set ({test['support']} clips)")
    if config.publish == "none":
        return None, None
    return _publish(config, net, front_end, dataset, checkpoint, test, thresholds)


def run_metrics(config, start, dataset, counts, skipped, result, test, checkpoint, card, uid, timings, world,
                thresholds) -> dict:
    """What ``metrics.json`` records of a run."""
    keys = ("roc_auc", "pr_auc", "micro_f1") if dataset.task == "multi" else ("accuracy", "roc_auc")
    return {
        "dataset": {"name": dataset.name, "root": dataset.root, "split": dataset.split_method, "task": dataset.task,
                    "labels": list(dataset.labels), "clips": counts, "skipped": len(skipped),
                    "notes": list(dataset.notes)},
        "skipped": [vars(s) for s in skipped],
        "pretrained": config.pretrained if start.pretrained else None,
        "mode": config.mode, "best_epoch": result.best_epoch, "valid": result.history[result.best_epoch - 1].valid,
        "test": test,
        "thresholds": {"policy": config.threshold_policy, "split": "valid", "per_label": thresholds}
        if thresholds else None,
        "history": history(result, *keys),
        "checkpoint": str(checkpoint), "card": str(card) if card else None, "uid": uid, "timings": timings,
        "processes": world.size,
    }


def _publish(config, net, front_end, dataset, checkpoint, test, thresholds):
    if dataset.task == "multi":
        metrics = {k: _rounded(test[k]) for k in ("roc_auc", "pr_auc", "micro_roc_auc", "macro_f1", "micro_f1")}
    else:
        metrics = {"accuracy": round(test["accuracy"], 4), "roc_auc": _rounded(test["roc_auc"])}
    metrics["test_clips"] = test["support"]
    name = _CARD_DATASETS.get(dataset.name, Path(dataset.root).name.replace(":", "_") or dataset.name)
    if config.manifest:
        name = config.dataset_name
    kind = "labels, multi-label" if dataset.task == "multi" else "classes"
    meta = card_metadata(
        name=config.name, version=config.card_version, dataset=name, net=net, labels=dataset.labels,
        front_end=front_end, metrics=metrics, asset_link=config.asset_link, user_id=config.user_id,
        author=config.author,
        thresholds={label: thresholds[label]["threshold"] for label in dataset.labels} if thresholds else None,
        threshold_policy=config.threshold_policy if thresholds else None,
        summary=f"FCN-4 fine-tuned on {name} ({len(dataset.labels)} {kind}, {config.mode} mode) from "
                f"{config.pretrained if config.pretrained.lower() != 'none' else 'random weights'}.")
    return publish_run_card(checkpoint, meta, config.run_dir, assets=config.publish == "assets")


def _rounded(value):
    return "n/a" if value is None else round(value, 4)


def print_test(log, test, dataset, best_epoch):
    """The test metrics, a per-label (per-class) table, and the confusion matrix of a single-label run."""
    labels = dataset.labels
    if dataset.task == "multi":
        log(f"test ({test['support']} clips, best epoch {best_epoch}): macro ROC-AUC {_shown(test['roc_auc'])}  "
            f"micro ROC-AUC {_shown(test['micro_roc_auc'])}  macro PR-AUC {_shown(test['pr_auc'])}  "
            f"macro F1 {_shown(test['macro_f1'])}  micro F1 {test['micro_f1']:.4f}  loss {test['loss']:.4f}")
        log(multilabel_table(test, labels))
        return
    log(f"test ({test['support']} clips, best epoch {best_epoch}): accuracy {test['accuracy']:.4f}  "
        f"macro ROC-AUC {_shown(test['roc_auc'])}  loss {test['loss']:.4f}")
    width = max(len(label) for label in labels)
    log(f"{'class':<{width}}  precision  recall     f1  support")
    for label in labels:
        row = test["per_class"][label]
        log(f"{label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}  {row['support']:7d}")
    log(confusion_text(test["confusion"], labels))


def _shown(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
