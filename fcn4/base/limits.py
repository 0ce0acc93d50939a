"""Limits on what strangers' cards, checkpoints and settings may ask for, checked before anything is
allocated. Each has a generous default and can be raised (for research) by an environment variable
``FCN4_LIMIT_<NAME>``, e.g. ``FCN4_LIMIT_PARAMETERS=2000000000``; the error that a limit stops
names the variable.

>>> limit("card_bytes") >= 65536
True
"""
from __future__ import annotations

import os

from .errors import SettingError

__all__ = ["LIMITS", "limit", "check_range", "limit_hint"]

#: The defaults: far above anything FCN-4 or its cards need, far below what would exhaust a machine.
LIMITS = {
    "card_bytes": 256 * 1024,          # a card file (the hub's are about 4 KB)
    "usage_items": 64,                 # values in one list of a card's Usage (padding=[0] * 5 has 5)
    "channels": 16384,                 # one layer's width (the card's widest is 2048)
    "kernel": 15,                      # a kernel's extent
    "pool": 64,                        # a pooling window's extent
    "padding": 64,                     # explicit zero padding
    "classes": 100_000,                # outputs of the head
    "parameters": 500_000_000,         # values of the whole network (the card's: 17.4 M; 2 GB as float32)
    "checkpoint_values": 1_000_000_000,  # values a checkpoint file may declare in all
    "checkpoint_entries": 4096,        # entries of a checkpoint file (FCN-4's with Adam's state: about 70)
    "checkpoint_name_bytes": 1024,     # the name of one checkpoint entry
    "download_bytes": 4 * 1024 ** 3,   # one downloaded file (the published checkpoint: about 200 MB)
    "sample_rate": 384_000,
    "n_fft": 65_536,
    "n_mels": 1024,
    "clip_seconds": 600.0,
}


def limit(name: str):
    """The limit ``name``: ``$FCN4_LIMIT_<NAME>`` if set (a number), else the default."""
    default = LIMITS[name]
    text = os.environ.get(limit_variable(name))
    if text is None:
        return default
    try:
        return type(default)(float(text)) if isinstance(default, int) else float(text)
    except ValueError:
        raise SettingError(f"{limit_variable(name)}={text!r} is not a number") from None


def limit_variable(name: str) -> str:
    return f"FCN4_LIMIT_{name.upper()}"


def limit_hint(name: str) -> str:
    """How to raise the limit ``name``, for an error message."""
    return f"the limit is {limit(name):,}; set {limit_variable(name)} to raise it"


def check_range(field: str, value, low, name: str):
    """``value`` if ``low <= value <= limit(name)``, else a :class:`SettingError` naming ``field`` and the limit."""
    high = limit(name)
    if not low <= value <= high:
        raise SettingError(f"{field} = {value!r} is out of range: it must be between {low:,} and {high:,} "
                           f"({limit_hint(name)})")
    return value
