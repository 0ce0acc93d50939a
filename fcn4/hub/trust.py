"""The trust boundary: the one place where names a card contributes become paths.

A card's author picks its uid parts (``user-id``, the backend, ``mindspore-version``, its name)
and the checkpoint's file name (the last segment of ``asset-link``), and the sha256 protects
nothing here: the author picks both the bytes and the hash. Each such name is decoded first (as
the hub client decodes it), then refused if it is empty, ``.`` or ``..``, holds a separator, a
control character or a drive, or is too long; and every path made from them is checked to stay
inside its root after resolving links.

>>> file_name_of_link("https://example.org/w/fcn4%20v1.ckpt")
'fcn4 v1.ckpt'
>>> file_name_of_link("https://example.org/w/..%2F..%2Fx.ckpt")
Traceback (most recent call last):
...
fcn4.base.errors.SettingError: asset-link: the name '../../x.ckpt' holds a path separator; a card names a file, never a path
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlparse

from ..base.errors import SettingError

__all__ = ["safe_name", "file_name_of_link", "path_inside", "uid_parts", "MAX_NAME"]

#: The longest name a file system takes.
MAX_NAME = 255


def safe_name(value, field: str) -> str:
    """``value`` as one path component, or a :class:`~fcn4.SettingError` naming ``field`` and why."""
    text = str(value)
    if not text or text in (".", ".."):
        raise SettingError(f"{field}: {text!r} is not a file or folder name")
    if "/" in text or "\\" in text:
        raise SettingError(f"{field}: the name {text!r} holds a path separator; a card names a file, never a path")
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        raise SettingError(f"{field}: the name {text!r} holds a control character")
    if PureWindowsPath(text).drive or PurePosixPath(text).is_absolute():
        raise SettingError(f"{field}: the name {text!r} names a drive or an absolute path")
    if len(text.encode("utf-8", "surrogateescape")) > MAX_NAME:
        raise SettingError(f"{field}: the name is longer than {MAX_NAME} bytes")
    return text


def file_name_of_link(url: str, field: str = "asset-link") -> str:
    """The decoded last segment of ``url``'s path (what the hub client saves the file as), checked."""
    path = urlparse(str(url)).path
    segment = path.rsplit("/", 1)[-1]
    return safe_name(unquote(segment), field)


def uid_parts(uid: str, field: str = "uid") -> list[str]:
    """The parts of a uid (``user/backend/version/name``), each checked as a name."""
    parts = str(uid).strip("/").split("/")
    return [safe_name(part, f"{field} {uid!r}") for part in parts]


def path_inside(root, *names, field: str = "path") -> Path:
    """``root/names...``, refused unless it stays inside ``root`` once links are resolved."""
    root = Path(root)
    target = root.joinpath(*[safe_name(name, field) for name in names])
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(target))
    if real != real_root and real_root not in real.parents:
        raise SettingError(f"{field}: {target} leads outside {root} (to {real}); refused")
    return target
