"""A content-addressed store of per-clip arrays (embeddings, melgrams) on disk.

Each entry is keyed by the sha256 of the audio file's bytes inside a namespace that names
everything else the array depends on (the front-end settings, and for embeddings the
backbone's checksum). Renaming or moving a file keeps its entry; changing one byte of it, a
front-end setting or a backbone weight misses. A clip that cannot be decoded is stored as its
reason, so a second run skips it without decoding it again. Entries are written atomically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from fcn4.audio.frontend import FrontEnd
from fcn4.base.files import replace_durably, temporary_beside, write_text_atomic
from fcn4.base.npy import load_npy
from fcn4.hub.cache import get_hub_dir
from fcn4.hub.download import sha256_file

__all__ = ["ClipCache", "front_end_key", "content_keys"]


def front_end_key(front_end: FrontEnd) -> str:
    """A short digest of every front-end setting."""
    settings = json.dumps(dataclasses.asdict(front_end), sort_keys=True)
    return hashlib.sha256(settings.encode()).hexdigest()[:16]


def content_keys(paths) -> list[str | None]:
    """The sha256 of each file's bytes (None for a file that cannot be read)."""
    keys = []
    for path in paths:
        try:
            keys.append(sha256_file(path))
        except OSError:
            keys.append(None)
    return keys


class ClipCache:
    """Arrays by content key under ``<root>/<kind>/<namespace>/``.

    ``root`` defaults to ``<hub dir>/finetune`` (``$FCN4_HUB_DIR`` or ``~/.mscache``).
    """

    def __init__(self, kind: str, namespace: str, root=None):
        self.folder = Path(root or Path(get_hub_dir()) / "finetune") / kind / namespace

    def _path(self, key: str, suffix: str) -> Path:
        return self.folder / key[:2] / f"{key}{suffix}"

    def array_path(self, key: str) -> Path:
        return self._path(key, ".npy")

    def get(self, key: str | None, load: bool = True):
        """``(array, None)``, ``(None, reason)`` for a clip known to fail, or ``None`` on a miss.

        With ``load=False`` a hit gives ``(None, None)`` without reading the array.
        """
        if key is None:
            return None
        path = self.array_path(key)
        if path.is_file() and not load:
            return None, None
        if path.is_file():
            try:
                return load_npy(path), None  # not np.load: see fcn4.base.npy
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # damaged: computed again
                return None
        error = self._path(key, ".error")
        if error.is_file():
            return None, error.read_text("utf-8")
        return None

    def put(self, key: str, array: np.ndarray) -> Path:
        path = self.array_path(key)
        with temporary_beside(path, ".npy") as tmp:
            np.save(tmp, np.ascontiguousarray(array), allow_pickle=False)
            replace_durably(tmp, path)
        return path

    def put_error(self, key: str, reason: str) -> None:
        write_text_atomic(self._path(key, ".error"), reason)
