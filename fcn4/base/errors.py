"""The root of every error this package raises on purpose.

Each domain error (:class:`~fcn4.AudioError`, :class:`~fcn4.CardError`,
:class:`~fcn4.CheckpointError`, :class:`~fcn4.WeightsUnavailable`, ...) derives from
:class:`FCN4Error`, so a caller tells "the input is at fault, and the message says how" from a
bug with one ``except FCN4Error``; the command lines exit 2 on it and treat anything else as an
internal error. Errors that were ``ValueError`` or ``RuntimeError`` stay so too, for callers that
catch those.

>>> issubclass(SettingError, FCN4Error) and issubclass(SettingError, ValueError)
True
"""
from __future__ import annotations

__all__ = ["FCN4Error", "SettingError", "UnsafePathError", "StorageError"]


class FCN4Error(Exception):
    """An input, a setting or the environment is at fault; the message names it and a way out."""


class SettingError(FCN4Error, ValueError):
    """An argument or setting has a value that cannot be used; the message names it and what it takes."""


class UnsafePathError(FCN4Error, OSError):
    """A path where this package writes, deletes or reads what it trusts is a symbolic link (or
    otherwise leads out of its folder); nothing was written or deleted through it."""


class StorageError(FCN4Error, OSError):
    """Writing into a folder failed for the environment's reason (a full disk, a quota, a
    permission); the message names the folder and a way out. ``errno`` is the OS's."""
