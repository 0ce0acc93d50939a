"""Weights you can trust: cards (parse, rules, render), the weights spec and its one build path, the
verified cache and downloads, publishing, and the MindSpore Hub protocol (``load``).

Imports ``fcn4.base``, ``fcn4.model`` and ``fcn4.audio``.
"""
from ..base.lazy import lazy_exports as _lazy_exports

# ``fcn4.hub`` was the protocol's module: its names stay here for one release.
__getattr__ = _lazy_exports(__name__, {"protocol": ("create_network", "load", "load_weights", "MODELS")})
