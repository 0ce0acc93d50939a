"""The fine-tuning job's configuration: one dataclass with the seed recipe's defaults.

Values come, lowest first, from the defaults, a YAML file (``--config``), the saved
``config.yaml`` of the run being resumed, and the command line. The resolved configuration is
written into the run folder, so a run can always be repeated or resumed as it was.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from fcn4.base.errors import SettingError
from fcn4.hub.weights import DEFAULT_UID
from fcn4.model.arguments import LAYERS
from fcn4.model.network import N_BLOCKS
from fcn4.training.datasets import RANDOM_FRACTIONS, SPLIT_METHODS
from fcn4.training.multilabel import TASKS
from fcn4.training.parallel import DEVICES
from fcn4.training.run import ConfigError, RunConfig
from fcn4.training.thresholds import parse_policy
from fcn4.training.trainer import LOSSES

__all__ = ["FinetuneConfig", "ConfigError", "PUBLISH_TARGETS", "SELECT_METRICS", "trainable_blocks", "read_config_file"]

#: Validation metrics that can pick the best epoch (``loss``: the lowest; ties go to the lower loss).
SELECT_METRICS = ("accuracy", "roc_auc", "macro_f1", "loss")
#: Where the fine-tuned model's card goes: the run folder, also this repository's mshub_res/assets, or nowhere.
PUBLISH_TARGETS = ("run", "assets", "none")
_MODE = re.compile(r"^(head|full|last-([1-9]\d*))$")


@dataclass(frozen=True)
class FinetuneConfig(RunConfig):
    """Everything a fine-tuning run depends on (defaults: seed ``001``'s GTZAN recipe).

    ``manifest`` (CSV, TSV or Parquet: :mod:`finetune.manifest`) replaces ``dataset``; ``task`` overrides
    single- or multi-label as the data says; ``threshold_policy`` picks each label's threshold on the
    validation split (``f1``, ``precision=P``, ``recall=R``); ``probe`` fits a ``folds``-fold linear probe to
    the embeddings of ``store`` instead of training. ``mode`` is ``head`` (frozen backbone, cached embeddings), ``full`` (everything trains) or
    ``last-N`` (the last N of the 4 conv blocks and the head train). ``pretrained`` is a hub
    uid, a card file, a ``.ckpt`` or ``none`` (random backbone). ``in_classes`` sets the widths
    of a network trained from scratch (``pretrained: none``); a pretrained one has its own.
    """
    data_dir: str | None = None
    dataset: str = "gtzan"
    manifest: str | None = None
    task: str | None = None
    threshold_policy: str = "f1"
    probe: bool = False
    folds: int = 5
    layer: str = LAYERS[-1]
    pretrained: str = DEFAULT_UID
    mode: str = "head"
    split: str = "filtered"
    fractions: tuple[float, float, float] = RANDOM_FRACTIONS
    seed: int = 0
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    loss: str = "bce"
    select: str = "accuracy"
    out: str | None = None
    resume: bool = False
    workers: int | None = None
    backend: str = "auto"
    store: str | None = None
    in_classes: tuple[int, ...] | None = None
    publish: str = "run"
    card_name: str | None = None
    card_version: str = "1.0"
    user_id: str = "local"
    author: str = "fcn4-finetune"
    asset_link: str | None = None
    device: str | None = None
    progress: bool | None = None

    FINGERPRINT: ClassVar = ("dataset", "manifest", "task", "pretrained", "mode", "split", "fractions", "seed",
                             "batch_size", "lr", "loss", "in_classes", "select", "layer")
    RECORD_HEADER: ClassVar = "# resolved configuration of this run (python -m finetune --config THIS_FILE repeats it)"
    TUPLES: ClassVar = ("fractions", "in_classes")

    def __post_init__(self):
        problems = []
        if not _MODE.match(str(self.mode)) or (self.mode.startswith("last-") and int(self.mode[5:]) > N_BLOCKS):
            problems.append(f"mode {self.mode!r}: use head, full or last-N with N in 1..{N_BLOCKS}")
        if self.split not in SPLIT_METHODS:
            problems.append(f"split {self.split!r}: use {' or '.join(SPLIT_METHODS)}")
        if self.loss not in LOSSES:
            problems.append(f"loss {self.loss!r}: use {' or '.join(LOSSES)}")
        if self.publish not in PUBLISH_TARGETS:
            problems.append(f"publish {self.publish!r}: use {', '.join(PUBLISH_TARGETS)}")
        if self.select not in SELECT_METRICS:
            problems.append(f"select {self.select!r}: use {', '.join(SELECT_METRICS)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} {value!r}: a whole number of at least 1")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            problems.append(f"lr {self.lr!r}: a positive number")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 0):
            problems.append(f"workers {self.workers!r}: 0 (decode in this process) or more")
        if self.device not in (None, *DEVICES):
            problems.append(f"device {self.device!r}: one of {', '.join(DEVICES)}")
        if self.store is not None and self.mode != "head":
            problems.append(f"store {self.store!r}: a store holds embeddings, which only head mode trains on")
        if self.task not in (None, *TASKS):
            problems.append(f"task {self.task!r}: use {' or '.join(TASKS)}, or leave it out to read it from the data")
        if self.task == "multi" and self.loss == "ce":
            problems.append("loss 'ce': multi-label training takes one sigmoid per label; use bce")
        try:
            parse_policy(self.threshold_policy)
        except SettingError as exc:
            problems.append(str(exc))
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            problems.append(f"folds {self.folds!r}: a whole number of at least 2")
        if self.probe and not (self.store and self.manifest):
            problems.append("probe: a probe fits stored embeddings to a manifest's labels; pass --store and --manifest")
        if self.layer not in LAYERS:
            problems.append(f"layer {self.layer!r}: one of {', '.join(LAYERS)}")
        elif self.layer != LAYERS[-1] and self.mode != "head":
            problems.append(f"layer {self.layer!r}: only head mode trains on another layer's embeddings")
        if self.in_classes is not None and (len(self.in_classes) != N_BLOCKS + 1 or self.in_classes[0] != 1):
            problems.append(f"in_classes {self.in_classes!r}: {N_BLOCKS + 1} widths starting with 1")
        if problems:
            raise ConfigError("bad fine-tuning setting(s):\n  " + "\n  ".join(problems))

    @property
    def run_dir(self) -> Path:
        """The run folder: ``out``, or ``runs/<dataset>-<mode>`` (``runs/<manifest>-probe`` for a probe)."""
        what = "probe" if self.probe else self.mode
        return Path(self.out) if self.out else Path("runs") / f"{self.dataset_name}-{what}"

    @property
    def dataset_name(self) -> str:
        """``dataset``, or the manifest's file name (letters, digits and ``_``) when there is one."""
        if self.manifest is None:
            return self.dataset
        return re.sub(r"[^A-Za-z0-9_]+", "_", Path(self.manifest).stem).strip("_") or "manifest"

    @property
    def name(self) -> str:
        """The card's name (and the fine-tuned checkpoint's file name)."""
        return self.card_name or f"fcn4_{self.dataset_name}_{self.mode.replace('-', '')}_v{self.card_version}"


def trainable_blocks(mode: str) -> int:
    """Conv blocks a mode trains: 0 for head, 4 for full, N for last-N."""
    return 0 if mode == "head" else N_BLOCKS if mode == "full" else int(mode[len("last-"):])


def read_config_file(path) -> dict[str, Any]:
    """The settings of a YAML (or JSON) file, or a :class:`ConfigError` naming it."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text("utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(values, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping of settings, got {type(values).__name__}")
    return dict(values)
