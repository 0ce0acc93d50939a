"""The names of release 0.1, kept for one more release: one table, served by one mechanism.

:data:`MOVED` maps each old dotted name to the new one. An old *module* (``fcn4.network``) is the
new module itself under its old name, so attributes and monkeypatches are shared; an old *name*
inside a module (``fcn4.audio.FrontEnd``, ``fcn4.warm_start.build_network``) is looked up on first
use by the module's ``__getattr__`` (:func:`attributes`). Either way the use warns with
:class:`~fcn4.errors.FCN4DeprecationWarning` naming the new name.

The table holds strings only: this module imports nothing of ours above ``fcn4.base``.

>>> MOVED["fcn4.network"]
'fcn4.model.network'
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from .errors import FCN4DeprecationWarning

__all__ = ["MOVED", "OLD_MODULES", "attributes", "install", "warn_moved"]

#: Old module paths of the flat layout (0.1) -> their homes now.
_MODULES = {
    "network": "model.network", "checkpoint": "model.checkpoint", "labels": "model.labels",
    "export": "model.export", "decoding": "audio.decoding", "sources": "audio.sources", "synth": "audio.synth",
    "cards": "hub.cards", "weights": "hub.weights", "download": "hub.download", "publish": "hub.publish",
    "warm_start": "hub.building", "backends": "inference.backends", "tagger": "inference.tagger",
    "reports": "inference.reports", "datasets": "training.datasets", "mtat": "training.mtat",
    "features": "training.feature_store", "prepare": "training.prepare", "parallel": "training.parallel",
    "recipe": "training.tagging", "metrics": "training.metrics", "_atomic": "base.files",
}
#: Names of 0.1 modules that are now wings (``fcn4.audio`` was the front end's module, ``fcn4.hub``
#: the protocol's, ``fcn4.training`` the trainer's), and names that moved between modules since.
_NAMES = [
    ("fcn4.audio", "fcn4.audio.frontend", ("FrontEnd", "Windows", "AudioError", "DEFAULT_FRONT_END")),
    ("fcn4.hub", "fcn4.hub.protocol", ("create_network", "load", "load_weights", "MODELS")),
    ("fcn4.training", "fcn4.training.trainer", (
        "LOSSES", "AMP_LEVELS", "STATE_FILE", "CHECKPOINTS", "Trainer", "EpochRecord", "FitResult", "TrainingError",
        "LogitsOf", "probabilities_from_logits", "loss_from_logits", "predict_logits")),
    ("fcn4.training", "fcn4.training.batches", ("ArrayBatches", "PipelineBatches", "epoch_order", "batch_count")),
    ("fcn4.hub.cards", "fcn4.hub.rules", (
        "validate_card", "check_card", "check_cards", "REQUIRED_FIELDS", "USED_FOR", "BACKENDS", "MODULE_TYPES",
        "FILE_FORMATS", "HUB_AUDIO_DATASETS")),
]

#: Every 0.1 name that moved: old dotted name -> new dotted name.
MOVED: dict[str, str] = {
    **{f"fcn4.{old}": f"fcn4.{new}" for old, new in _MODULES.items()},
    **{f"{old}.{name}": f"{new}.{name}" for old, new, names in _NAMES for name in names},
    # fcn4.warm_start's three names became the one build path (fcn4.hub.building) and a method.
    "fcn4.warm_start.Backbone": "fcn4.hub.building.Built",
    "fcn4.warm_start.build_network": "fcn4.hub.building.build",
    "fcn4.warm_start.network_arguments": "fcn4.model.network.FCN4.arguments",
}
#: The old module paths, below ``fcn4`` -> their homes (for the import hook and ``fcn4.<old>``).
OLD_MODULES = dict(_MODULES)


def _build_network(pretrained, num_classes, *, in_classes=None, keep_head: bool = False, labels=None):
    """0.1's ``warm_start.build_network``: ``build(resolve(pretrained), ...)``, returning a ``Built``."""
    building = importlib.import_module("fcn4.hub.building")
    weights = importlib.import_module("fcn4.hub.weights")
    return building.build(weights.resolve(pretrained), num_classes, keep_head=keep_head, labels=labels,
                          in_classes=in_classes)


def _network_arguments(net) -> dict:
    """0.1's ``warm_start.network_arguments(net)``: ``net.arguments()``."""
    return net.arguments()


#: Old names whose new home takes other arguments: served by a thin adapter, still named by MOVED.
_ADAPTERS = {"fcn4.warm_start.build_network": _build_network,
             "fcn4.warm_start.network_arguments": _network_arguments}


def warn_moved(old: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` moved to its new name (FCN4DeprecationWarning)."""
    warnings.warn(f"{old} is now {MOVED[old]}; the old name works for one more release",
                  FCN4DeprecationWarning, stacklevel=stacklevel)


def _resolve(new: str):
    module, _, name = new.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError:  # a method: module.Class.method
        module, _, owner = module.rpartition(".")
        return getattr(getattr(importlib.import_module(module), owner), name)


def attributes(module: str, fallback=None):
    """A module ``__getattr__`` serving the old names of ``module`` (and of the old module paths
    that are ``module`` now) from :data:`MOVED`, with a warning; ``fallback(name)`` for the rest
    (without one, a package's own modules load on first use, as ``fcn4.hub.weights``)."""
    aliases = [module] + [f"fcn4.{old}" for old, new in _MODULES.items() if f"fcn4.{new}" == module]

    def __getattr__(name):
        for alias in aliases:
            old = f"{alias}.{name}"
            if old in MOVED:
                warn_moved(old)
                return _ADAPTERS[old] if old in _ADAPTERS else _resolve(MOVED[old])
        if fallback is not None:
            return fallback(name)
        if not name.startswith("__") and "__path__" in vars(sys.modules.get(module, sys)) \
                and importlib.util.find_spec(f"{module}.{name}") is not None:
            return importlib.import_module(f"{module}.{name}")  # a wing's module as its attribute
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


class _OldModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import fcn4.<old>`` gives the module's new home itself, with a warning."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package == "fcn4" and name in _MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        warn_moved(spec.name, stacklevel=4)
        module = importlib.import_module(MOVED[spec.name])
        self._real_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._real_spec  # the import machinery set the alias's spec on the real module


def install() -> None:
    """Make the old module paths importable (once)."""
    if not any(isinstance(finder, _OldModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_OldModuleFinder())
