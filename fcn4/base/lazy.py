"""Names a package exports but imports only on first use, so importing the package stays light."""
from __future__ import annotations

import importlib

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]], fallback=None):
    """A module ``__getattr__`` giving ``exports`` (submodule -> names) of ``package`` on first use.

    ``fallback(name)`` is asked for any other name (it raises ``AttributeError`` when it has none).
    """
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        module = home.get(name)
        if module is None:
            if fallback is not None:
                return fallback(name)
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
