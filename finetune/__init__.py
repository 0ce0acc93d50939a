"""The FCN-4 fine-tuning kit: ``python -m finetune --dataset gtzan --data-dir DIR``.

Recipes on top of :mod:`fcn4`: a pretrained FCN-4 (the MagnaTagATune weights of the hub card by
default) gets a fresh head for the dataset's classes, and trains in one of three modes: ``head``
(frozen backbone, embeddings cached on disk), ``full`` or ``last-N`` (the last N conv blocks).
The result is a checkpoint, its metrics and a MindSpore Hub card that ``hubconf.load`` reads.
"""
from .config import ConfigError, FinetuneConfig
from .recipe import FinetuneResult, RunResult, run

__all__ = ["FinetuneConfig", "ConfigError", "FinetuneResult", "RunResult", "run"]
