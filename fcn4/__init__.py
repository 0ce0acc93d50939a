"""FCN-4 music auto-tagging for MindSpore: the network, its audio front end, labels, checkpoints,
cards, and a batched tagger.

Names load on first use, so ``import fcn4`` stays light (audio worker processes import only
what they need; MindSpore loads with the first network).

>>> import fcn4
>>> net = fcn4.FCN4()                                  # the hub card's architecture, 50 MTAT tags
>>> x = fcn4.DEFAULT_FRONT_END.clip("song.mp3")        # doctest: +SKIP
>>> fcn4.Tagger().tag(["song.mp3"])[0].top(5)          # doctest: +SKIP
"""
import importlib as _importlib
import os as _os

# MindSpore 2.10's oneDNN runs its reference (unvectorised) convolution, over 100x slower,
# when it may use AVX-512; capped at AVX2 it picks its fast kernels. A value the user set wins.
_os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

__version__ = "0.1.0"

_EXPORTS = {
    "network": ("FCN4", "CARD_ARGUMENTS"),
    "audio": ("FrontEnd", "DEFAULT_FRONT_END", "Windows", "AudioError"),
    "checkpoint": ("load_checkpoint", "read_checkpoint", "save_checkpoint", "CheckpointError", "LoadReport"),
    "labels": ("load_labels", "top_k", "MTAT_TAGS", "GTZAN_GENRES"),
    "weights": ("WeightsSpec", "WeightsUnavailable", "DEFAULT_UID"),
    "cards": ("CardError",),
    "tagger": ("Tagger", "Prediction", "Embeddings"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = list(_HOME)


def __getattr__(name):
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'fcn4' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
