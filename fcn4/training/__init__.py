"""Training FCN-4: datasets (GTZAN, folders, MagnaTagATune), the feature store and prepare, batches,
the one trainer, data parallelism under msrun, the train/evaluate recipe, metrics.

Imports every wing below it: ``fcn4.base``, ``model``, ``audio``, ``hub`` and ``inference``.
"""
from ..base.compat import attributes as _attributes

# ``fcn4.training`` was the trainer's module: its names stay here for one release (fcn4.base.compat).
__getattr__ = _attributes(__name__)
