"""One trainer for every recipe: graph-mode Adam steps, per-epoch validation, atomic checkpoints
with the optimizer's state, best-on-valid selection and resume.

The trainer knows nothing of audio or datasets: it trains a ``model`` cell that maps a batch to
logits, on batches from :class:`ArrayBatches` (examples in memory, e.g. cached embeddings) or
:class:`PipelineBatches` (examples loaded one by one through MindSpore's dataset pipeline).

A run folder holds::

    checkpoints/epoch-NNN.ckpt   the model's parameters, the optimizer's state and the epoch
    train_state.json             epochs done, history, best epoch; written after the checkpoint

Every file is written under a temporary name and renamed into place, and ``train_state.json``
names only checkpoints already complete, so a run killed at any point resumes from its last
finished epoch (``fit(resume=True)``) and loses at most the epoch in progress. Shuffling is
seeded by (seed, epoch), so a resumed run sees the batches the uninterrupted run would have.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..base.errors import SettingError
from ..base.files import write_text_atomic
from ..base.progress import progress_bar
from .batches import ArrayBatches, PipelineBatches, batch_count, epoch_order  # noqa: F401 (old home)
from .parallel import SINGLE, World
from .run_folder import CHECKPOINTS, STATE_FILE, TrainingError, checkpoint_name, hold_run_folder, read_state  # noqa: F401

logger = logging.getLogger(__name__)

__all__ = ["LOSSES", "AMP_LEVELS", "Trainer", "EpochRecord", "FitResult", "TrainingError",
           "LogitsOf", "probabilities_from_logits", "loss_from_logits", "predict_logits"]

#: ``bce``: sigmoid + binary cross-entropy per class (the seeds' recipe); ``ce``: softmax cross-entropy.
LOSSES = ("bce", "ce")
#: MindSpore's mixed-precision levels; any but ``O0`` trains with a fixed loss scale (the zoo's 1024).
AMP_LEVELS = ("O0", "O1", "O2", "O3")


# ---------------------------------------------------------------------------- losses, outputs
def probabilities_from_logits(logits: np.ndarray, loss: str) -> np.ndarray:
    """Sigmoid of each logit (``bce``) or softmax over classes (``ce``)."""
    logits = np.asarray(logits, np.float64)
    if loss == "bce":
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def loss_from_logits(logits: np.ndarray, targets: np.ndarray, loss: str) -> float:
    """The mean loss MindSpore's ``BCEWithLogitsLoss`` / ``CrossEntropyLoss`` computes, in NumPy."""
    logits = np.asarray(logits, np.float64)
    targets = _targets(np.asarray(targets), logits.shape[1], loss)
    if loss == "bce":
        return float(np.mean(np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))))
    top = logits.max(axis=1, keepdims=True)
    log_z = (top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(log_z - logits[np.arange(len(targets)), targets]))


def _targets(y: np.ndarray, num_classes: int, loss: str) -> np.ndarray:
    """Class indices become one-hot rows for ``bce``; multi-hot rows are kept as they are."""
    if loss == "ce":
        if y.ndim != 1:
            raise TrainingError("the 'ce' loss takes one class per example; use 'bce' for multi-label targets")
        return y.astype(np.int32)
    if y.ndim == 1:
        return np.eye(num_classes, dtype=np.float32)[y.astype(np.int64)]
    return y.astype(np.float32)


def LogitsOf(network):  # noqa: N802 (a cell factory, named like the cell it returns)
    """A cell returning ``network.logits(x)``, without renaming ``network``'s parameters.

    MindSpore prefixes the parameter names of a cell stored in another one; checkpoints of the
    wrapped network would then no longer load into the bare network. ``auto_prefix=False``
    keeps the names.
    """
    from mindspore import nn

    class _Logits(nn.Cell):
        def __init__(self):
            super().__init__(auto_prefix=False)
            self.network = network

        def construct(self, x):
            return self.network.logits(x)

    return _Logits()


# ------------------------------------------------------------------------------------ trainer
@dataclass
class EpochRecord:
    """What one epoch gave: train loss, the validation metrics, its seconds, whether it is the best."""
    epoch: int
    train_loss: float
    valid: dict
    seconds: float
    best: bool = False


@dataclass
class FitResult:
    """The history of a run, its best epoch and that epoch's checkpoint."""
    history: list[EpochRecord]
    best_epoch: int
    best_checkpoint: Path
    resumed_from: int = 0


class Trainer:
    """Adam on ``model``'s trainable parameters, graph-mode steps, checkpoints in ``run_dir``.

    Parameters
    ----------
    model : mindspore.nn.Cell
        Maps a batch to logits ``[N, num_classes]`` (:func:`LogitsOf` wraps an :class:`~fcn4.FCN4`).
        Its trainable parameters are those with ``requires_grad``; freeze before building the trainer.
    labels : sequence of str
        Class names in output order.
    run_dir : path
        Where checkpoints and ``train_state.json`` go.
    loss : {'bce', 'ce'}
    lr : float
        Adam's learning rate.
    metrics : callable, optional
        ``metrics(y, probabilities, loss) -> dict`` for a validation or test set; default
        :func:`fcn4.training.metrics.classification_metrics`.
    select : str
        The validation metric that picks the best epoch (higher is better; ties go to the lower
        loss). ``loss`` picks the lowest loss.
    progress : bool, optional
        A progress bar per epoch on stderr; default: when stderr is a terminal.
    log : callable
        Receives one line per epoch (default: this module's logger).
    world : World
        This process's place among data-parallel ranks (:func:`fcn4.training.parallel.init_world`):
        gradients are averaged over the ranks, and only rank 0 writes files and logs.
    amp_level : {'O0', 'O1', 'O2', 'O3'}
        Mixed precision (``mindspore.amp.auto_mixed_precision``); any level but ``O0`` scales
        the loss by the fixed ``loss_scale`` (the zoo's 1024) so float16 gradients do not vanish.
    """

    def __init__(self, model, *, labels: Sequence[str], run_dir, loss: str = "bce", lr: float = 5e-4,
                 metrics: Callable | None = None, select: str = "accuracy", progress: bool | None = None,
                 log: Callable[[str], None] | None = None, world: World = SINGLE, amp_level: str = "O0",
                 loss_scale: float = 1024.0):
        import mindspore as ms
        from mindspore import nn

        if loss not in LOSSES:
            raise SettingError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if not lr > 0:
            raise SettingError(f"the learning rate must be positive, got {lr}")
        if amp_level not in AMP_LEVELS:
            raise SettingError(f"amp_level must be one of {', '.join(AMP_LEVELS)}, got {amp_level!r}")
        self.model, self.labels, self.loss, self.lr = model, tuple(labels), loss, float(lr)
        self.run_dir, self.world = Path(run_dir), world
        self.select, self.log = select, world.on_main(log or logger.info)
        self.progress = progress if world.main else False
        if metrics is None:
            from .metrics import classification_metrics

            metrics = lambda y, p, loss_value: classification_metrics(y, p, self.labels, loss_value)  # noqa: E731
        self.metrics = metrics
        params = model.trainable_params()
        if not params:
            raise TrainingError("the model has no trainable parameters: nothing to train")
        self.optimizer = nn.Adam(params, learning_rate=self.lr)
        loss_cell = nn.BCEWithLogitsLoss() if loss == "bce" else nn.CrossEntropyLoss()
        scale = 1.0
        if amp_level != "O0":
            ms.amp.auto_mixed_precision(model, amp_level)
            scale = float(loss_scale)

        def forward(x, y):
            return loss_cell(model(x).astype(ms.float32), y) * scale

        gradients = ms.value_and_grad(forward, None, self.optimizer.parameters)
        reducer = world.gradient_reducer(self.optimizer.parameters) or _unchanged
        unscale = ms.amp.StaticLossScaler(scale).unscale if scale != 1.0 else _unchanged

        @ms.jit
        def train_step(x, y):
            value, grads = gradients(x, y)
            self.optimizer(reducer(unscale(grads)))
            return value / scale

        @ms.jit
        def infer(x):
            return model(x)

        self._train_step, self._infer = train_step, infer

    # ------------------------------------------------------------------------- training
    def fit(self, train, valid, epochs: int, *, resume: bool = False, fingerprint: Mapping | None = None) -> FitResult:
        """Train for ``epochs`` epochs in all (a resumed run does only those still missing).

        ``fingerprint`` (JSON-ready) describes what must not change between a run and its
        resumption (data, recipe); a resume with another fingerprint is refused, naming what differs.
        """
        if epochs < 1:
            raise SettingError(f"epochs must be at least 1, got {epochs}")
        fingerprint = json.loads(json.dumps(dict(fingerprint or {}), default=str))
        state = self._resume_state(fingerprint) if resume else None
        if state is None and (self.run_dir / STATE_FILE).exists():
            raise TrainingError(f"{self.run_dir} already holds a training run ({STATE_FILE}); pass --resume to "
                                "continue it, or choose another --out")
        known = {f.name for f in dataclasses.fields(EpochRecord)}
        history = [EpochRecord(**{k: v for k, v in r.items() if k in known}) for r in state["history"]] if state else []
        best_epoch = state["best_epoch"] if state else 0
        start = state["epoch"] if state else 0
        if start:
            self.log(f"resuming after epoch {start} from {self.run_dir / state['checkpoint']}")
        for epoch in range(start + 1, epochs + 1):
            began = time.perf_counter()
            self.model.set_train(True)
            total, count = 0.0, 0
            with progress_bar(len(train), f"epoch {epoch}/{epochs}", "batch", self.progress) as bar:
                for x, y in train.epoch(epoch):
                    value = self.step(x, y)
                    if not math.isfinite(value):
                        raise TrainingError(f"the training loss became {value} in epoch {epoch}; lower the "
                                            f"learning rate (now {self.lr}) and start again")
                    total, count = total + value * len(y), count + len(y)
                    bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
                    bar.update()
            # Each rank's batch-norm statistics followed its own batches: all ranks take their mean.
            self.world.average_parameters(_moving_statistics(self.model))
            metrics = self.evaluate(valid)
            record = EpochRecord(epoch, self.world.mean(total / count), metrics, round(time.perf_counter() - began, 3))
            record.best = best_epoch == 0 or self._better(record, history[best_epoch - 1])
            best_epoch = epoch if record.best else best_epoch
            history.append(record)
            self._save(epoch, history, best_epoch, fingerprint)
            self.log(_epoch_line(record, epochs))
        return FitResult(history, best_epoch, self.run_dir / checkpoint_name(best_epoch), start)

    def step(self, x, y) -> float:
        """One graph-mode Adam step on a batch (``y``: class indices or multi-hot rows); returns its loss."""
        import mindspore as ms

        targets = _targets(np.asarray(y), len(self.labels), self.loss)
        return float(self._train_step(ms.Tensor(np.asarray(x, np.float32)), ms.Tensor(targets)).asnumpy())

    def predict(self, batches) -> tuple[np.ndarray, np.ndarray, float]:
        """``(targets, probabilities, mean loss)`` of the model, in evaluation mode, over ``batches`` in order.

        Under data parallelism each rank predicts its share, and every rank gets all of them.
        """
        self.model.set_train(False)
        targets, logits = predict_logits(self._infer, batches)
        n = len(batches.y)
        logits = self.world.gather(logits, n)
        targets = self.world.gather(targets, n).astype(targets.dtype)
        return targets, probabilities_from_logits(logits, self.loss), loss_from_logits(logits, targets, self.loss)

    def evaluate(self, batches) -> dict:
        """The metrics (and loss) of the model on ``batches``."""
        targets, probabilities, loss = self.predict(batches)
        return self.metrics(targets, probabilities, loss)

    def load(self, checkpoint, *, optimizer: bool = True) -> None:
        """Load a checkpoint this trainer wrote (the model, and the optimizer's state if asked)."""
        import mindspore as ms

        from ..model.checkpoint import assign

        path = os.fspath(checkpoint)
        try:
            entries = ms.load_checkpoint(path)
        except Exception as exc:
            raise TrainingError(f"cannot read the training checkpoint {path} ({str(exc).splitlines()[0]}); "
                                "start the run again without --resume") from exc
        cells = (self.model, self.optimizer) if optimizer else (self.model,)
        for cell in cells:
            wanted = set(cell.parameters_dict())
            missing = sorted(wanted - set(entries))
            if missing:
                raise TrainingError(f"the training checkpoint {path} lacks {', '.join(missing[:5])}"
                                    f"{' ...' if len(missing) > 5 else ''}: it was written for another model or "
                                    "mode; start the run again in another --out")
            params = cell.parameters_dict()
            misfits = [f"{k} (file {tuple(entries[k].shape)}, now {tuple(p.shape)})" for k, p in params.items()
                       if tuple(entries[k].shape) != tuple(p.shape)]
            if misfits:
                raise TrainingError(f"the training checkpoint {path} does not fit the model: {'; '.join(misfits[:3])}; "
                                    "start the run again in another --out")
            for name, param in params.items():
                assign(param, entries[name])  # in place: the compiled steps keep reading this memory

    # -------------------------------------------------------------------------- internals
    def _better(self, record: EpochRecord, best: EpochRecord) -> bool:
        if self.select == "loss":
            return record.valid["loss"] < best.valid["loss"]
        new, old = record.valid.get(self.select), best.valid.get(self.select)
        new = -math.inf if new is None else new
        old = -math.inf if old is None else old
        return new > old or (new == old and record.valid["loss"] < best.valid["loss"])

    def _save(self, epoch: int, history: list[EpochRecord], best_epoch: int, fingerprint: dict) -> None:
        if self.world.main:
            self._write(epoch, history, best_epoch, fingerprint)
        self.world.barrier()  # the other ranks may read the checkpoint next (the best one, at the end)

    def _write(self, epoch: int, history: list[EpochRecord], best_epoch: int, fingerprint: dict) -> None:
        import mindspore as ms

        from ..model.checkpoint import save_checkpoint

        own = set(self.model.parameters_dict())
        extra = {p.name: p for p in self.optimizer.get_parameters() if p.name not in own}
        extra["epoch"] = ms.Tensor(epoch, ms.int64)
        name = checkpoint_name(epoch)
        save_checkpoint(self.model, self.run_dir / name, extra=extra)
        state = {"epoch": epoch, "checkpoint": name, "best_epoch": best_epoch,
                 "best_checkpoint": checkpoint_name(best_epoch), "fingerprint": fingerprint,
                 "history": [asdict(r) for r in history]}
        write_text_atomic(self.run_dir / STATE_FILE, json.dumps(state, indent=1) + "\n")
        keep = {name, checkpoint_name(best_epoch)}
        for old in (self.run_dir / CHECKPOINTS).glob("epoch-*.ckpt"):
            if f"{CHECKPOINTS}/{old.name}" not in keep:
                old.unlink(missing_ok=True)

    def _resume_state(self, fingerprint: dict) -> dict | None:
        path = self.run_dir / STATE_FILE
        if not path.exists():
            self.log(f"nothing to resume in {self.run_dir} (no {STATE_FILE}): starting from epoch 1")
            return None
        state = read_state(path)
        saved = state["fingerprint"]
        changed = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
        if changed:
            details = "; ".join(f"{k}: was {saved.get(k)!r}, now {fingerprint.get(k)!r}" for k in changed)
            raise TrainingError(f"cannot resume the run in {self.run_dir}: {details}. Resume with the run's own "
                                "settings (its config.yaml), or start a new run with another --out")
        self.load(self.run_dir / state["checkpoint"])
        return state


def predict_logits(infer: Callable, batches) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, logits)`` of ``infer`` (a batch -> logits function) over ``batches`` in order."""
    import mindspore as ms

    logits, targets = [], []
    for x, y in batches.epoch(0, shuffle=False):
        logits.append(infer(ms.Tensor(np.asarray(x, np.float32))).asnumpy())
        targets.append(np.asarray(y))
    return np.concatenate(targets), np.concatenate(logits)


def _unchanged(grads):
    return grads


def _moving_statistics(model) -> list:
    return [p for name, p in model.parameters_and_names() if name.endswith(("moving_mean", "moving_variance"))]


def _epoch_line(record: EpochRecord, epochs: int) -> str:
    valid = record.valid
    parts = [f"epoch {record.epoch:>2}/{epochs}", f"train loss {record.train_loss:.4f}",
             f"valid loss {valid['loss']:.4f}"]
    for key, name in (("accuracy", "accuracy"), ("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC")):
        if key in valid:
            parts.append(f"{name} {'n/a' if valid[key] is None else format(valid[key], '.4f')}")
    parts.append(f"{record.seconds:.1f} s")
    return "  ".join(parts) + ("  *best" if record.best else "")
