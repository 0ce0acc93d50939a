"""Weights you can trust: cards (parse, rules, render), the weights spec and its one build path, the
verified cache and downloads, publishing, and the MindSpore Hub protocol (``load``).

Imports ``fcn4.base``, ``fcn4.model`` and ``fcn4.audio``.
"""
from ..base.compat import attributes as _attributes

# ``fcn4.hub`` was the protocol's module: its names stay here for one release (fcn4.base.compat).
__getattr__ = _attributes(__name__)
