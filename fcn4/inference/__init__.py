"""Running trained weights on audio: the backends (checked ONNX export, MindSpore graph mode), the
Tagger engine (tag, embed), and tagging reports.

Imports ``fcn4.base``, ``fcn4.model``, ``fcn4.audio`` and ``fcn4.hub``.
"""
from ..base.lazy import lazy_exports as _lazy_exports

__all__ = ["InferenceSettings", "Tagger", "Prediction", "Embeddings"]

__getattr__ = _lazy_exports(__name__, {
    "settings": ("InferenceSettings",),
    "tagger": ("Tagger",),
    "predictions": ("Prediction", "Embeddings"),
})
