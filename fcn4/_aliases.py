"""The import paths of the flat layout (``fcn4.network``, ``fcn4.weights``, ...), kept for one
release as aliases of the modules' new homes in the wings. Each is the same module object, so
attributes (and monkeypatches) are shared; importing one warns with ``DeprecationWarning``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: Old module name (below ``fcn4``) -> its home now.
OLD_MODULES = {
    "network": "model.network", "checkpoint": "model.checkpoint", "labels": "model.labels",
    "export": "model.export", "audio": "audio.frontend", "decoding": "audio.decoding",
    "sources": "audio.sources", "synth": "audio.synth", "cards": "hub.cards", "weights": "hub.weights",
    "download": "hub.download", "publish": "hub.publish", "hub": "hub.protocol",
    "warm_start": "hub.building", "backends": "inference.backends", "tagger": "inference.tagger",
    "reports": "inference.reports", "datasets": "training.datasets", "mtat": "training.mtat",
    "features": "training.feature_store", "prepare": "training.prepare", "parallel": "training.parallel",
    "training": "training.trainer", "recipe": "training.tagging", "metrics": "training.metrics",
    "_atomic": "base.files",
}
# Names that are now wings (packages) themselves: ``import fcn4.audio`` gives the wing, whose
# ``__init__`` re-exports the old module's public names, so old code keeps working.
_WINGS = {"audio", "hub", "training"}


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package == "fcn4" and name in OLD_MODULES and name not in _WINGS:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        old = spec.name.rpartition(".")[2]
        new = f"fcn4.{OLD_MODULES[old]}"
        warnings.warn(f"{spec.name} moved to {new}; the old path works for one more release",
                      DeprecationWarning, stacklevel=4)
        module = importlib.import_module(new)
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._real_spec  # the import machinery set the alias's spec on the real module


def install() -> None:
    """Make the old paths importable (once)."""
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
