"""The optional extra ``fcn4-mindspore[ray]``: Ray Data, pyarrow and faiss-cpu, checked before any work."""
from __future__ import annotations

import importlib.util

from ..base.errors import FCN4Error, MissingExtra

__all__ = ["MissingExtra", "require", "EXTRA"]

EXTRA = "pip install 'fcn4-mindspore[ray]'"
_PACKAGES = {"ray": "ray[data]", "pyarrow": "pyarrow", "faiss": "faiss-cpu"}


def require(*modules: str) -> None:
    """Raise :class:`MissingExtra`, naming what to install, unless every module of ``modules`` is installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join(_PACKAGES.get(m, m) for m in missing)
        raise MissingExtra(f"this needs {names}, not installed here: {EXTRA} (single-machine `fcn4 tag` "
                           "and `fcn4 embed` need none of it)")
