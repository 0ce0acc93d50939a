"""Training FCN-4: datasets (GTZAN, folders, MagnaTagATune), the feature store and prepare, batches,
the one trainer, data parallelism under msrun, the train/evaluate recipe, metrics.

Imports every wing below it: ``fcn4.base``, ``model``, ``audio``, ``hub`` and ``inference``.
"""
from ..base.lazy import lazy_exports as _lazy_exports

# ``fcn4.training`` was the trainer's module: its names stay here for one release.
__getattr__ = _lazy_exports(__name__, {
    "trainer": ("LOSSES", "AMP_LEVELS", "STATE_FILE", "CHECKPOINTS", "Trainer", "EpochRecord", "FitResult",
                "TrainingError", "LogitsOf", "probabilities_from_logits", "loss_from_logits", "predict_logits"),
    "batches": ("ArrayBatches", "PipelineBatches", "epoch_order", "batch_count"),
})
