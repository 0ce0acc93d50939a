"""FCN-4 music auto-tagging for MindSpore: the network, its audio front end, labels, checkpoints,
cards and verified weights, a batched tagger, training and fine-tuning.

The package is built in wings, each importing only those listed before it:

- ``fcn4.base``: the root error, atomic writes, progress bars (imports nothing of ours)
- ``fcn4.model``: the network, checkpoints, labels, export
- ``fcn4.audio``: front end, decoding workers, file discovery, synthetic audio
- ``fcn4.hub``: cards and their rules, the weights spec and its one build path, cache, download, publish
- ``fcn4.inference``: backends, the tagger, reports
- ``fcn4.library``: many files on Ray Data into a resumable Parquet store; search by similarity
- ``fcn4.training``: datasets, feature store, prepare, the trainer, msrun, recipes, metrics
- ``fcn4.cli``: ``python -m fcn4 ...``, one module per command

Names load on first use, so ``import fcn4`` stays light (audio worker processes import only
what they need; MindSpore loads with the first network).

>>> import fcn4
>>> net = fcn4.FCN4()                                  # the hub card's architecture, 50 MTAT tags
>>> x = fcn4.DEFAULT_FRONT_END.clip("song.mp3")        # doctest: +SKIP
>>> fcn4.Tagger().tag(["song.mp3"])[0].top(5)          # doctest: +SKIP
"""
import importlib as _importlib

from .base import compat as _compat
from .base import onednn as _onednn
from .base.lazy import lazy_exports as _lazy_exports

# MindSpore 2.10's oneDNN runs its reference (unvectorised) convolution, over 100x slower,
# when it may use AVX-512; capped at AVX2 it picks its fast kernels. A value the user set wins.
# (OpenVINO's own oneDNN runs without our cap: fcn4.base.onednn.)
_onednn.cap()

__version__ = "0.1.0"

_EXPORTS = {
    "base.errors": ("FCN4Error", "SettingError"),
    "model.network": ("FCN4", "CARD_ARGUMENTS"),
    "audio.frontend": ("FrontEnd", "DEFAULT_FRONT_END", "Windows", "AudioError"),
    "model.checkpoint": ("load_checkpoint", "read_checkpoint", "save_checkpoint", "CheckpointError", "LoadReport"),
    "model.labels": ("load_labels", "top_k", "MTAT_TAGS", "GTZAN_GENRES"),
    "hub.weights": ("WeightsSpec", "resolve", "DEFAULT_UID"),
    "hub.cache": ("WeightsUnavailable",),
    "hub.building": ("Built",),
    "hub.cards": ("CardError",),
    "inference.tagger": ("Tagger", "Prediction", "Embeddings"),
}
WINGS = ("base", "model", "audio", "hub", "inference", "library", "training", "app", "cli")
__all__ = [name for names in _EXPORTS.values() for name in names]

_compat.install()


def _submodule(name):
    """``fcn4.<wing>``, ``fcn4.errors`` and the old flat module names (``fcn4.weights``, ..., with a
    warning from the import hook) as attributes."""
    if name in WINGS or name == "errors" or name in _compat.OLD_MODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fcn4' has no attribute {name!r}")


__getattr__ = _lazy_exports(__name__, _EXPORTS, fallback=_submodule)


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(WINGS))
