"""The 0.1 module paths (``fcn4.network``, ``fcn4.weights``, ...): now served, with every other moved
name, by the one table in :mod:`fcn4.base.compat`; these names stay for code that imported them."""
from __future__ import annotations

from .base.compat import OLD_MODULES, install

__all__ = ["OLD_MODULES", "install"]
