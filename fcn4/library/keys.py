"""Compact sets of 64-bit keys: which paths were listed, which files a store holds (8 bytes each,
never the path's text), so a million inputs cost 8 MB, not the paths' size."""
from __future__ import annotations

import hashlib
import os

import numpy as np

__all__ = ["path_bytes", "path_key", "file_key", "KeySet"]


def path_bytes(path) -> bytes:
    """A path's bytes as the OS has them (str, bytes or PathLike), for keys and the listing."""
    return path if isinstance(path, bytes) else os.fsencode(os.fspath(path))


def _key(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def path_key(path) -> int:
    """64-bit key of a path's bytes."""
    return _key(b"p\0" + path_bytes(path))


def file_key(path, size: int, mtime_ns: int) -> int:
    """64-bit key of one version of a file: its path, size and modification time (a file that changed
    has another key, so a rerun recomputes it)."""
    return _key(b"f\0" + path_bytes(path) + b"\0" + str(int(size)).encode() + b"\0" + str(int(mtime_ns)).encode())


class KeySet:
    """A set of uint64 keys held as sorted arrays: membership of many keys at once in O(log n).

    >>> keys = KeySet([3, 1])
    >>> keys.add_new([1, 2, 2, 5]).tolist()       # which of these were new (the second 2 is not)
    [False, True, False, True]
    >>> len(keys), 5 in keys
    (4, True)
    """

    _MERGE_AT = 8192  # keys held as Python ints (about 60 bytes each) before they join the sorted array

    def __init__(self, keys=()):
        self._sorted = np.unique(np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys, np.uint64))
        self._recent: set[int] = set()

    @classmethod
    def from_sorted(cls, keys: np.ndarray) -> "KeySet":
        """A set over ``keys``, already sorted and unique (as :meth:`array` gives them), without a copy."""
        keyset = cls()
        keyset._sorted = np.asarray(keys, np.uint64)
        return keyset

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, key) -> bool:
        return bool(self.contains(np.asarray([key], np.uint64))[0])

    def contains(self, keys) -> np.ndarray:
        """A boolean mask: which of ``keys`` are in the set."""
        keys = np.asarray(keys, np.uint64)
        found = np.zeros(len(keys), bool)
        if len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
            found = self._sorted[at] == keys
        if self._recent:
            found |= np.fromiter((int(k) in self._recent for k in keys), bool, len(keys))
        return found

    def add_new(self, keys) -> np.ndarray:
        """Add ``keys``; returns the mask of those that were not in the set before (first occurrence)."""
        keys = np.asarray(keys, np.uint64)
        new = ~self.contains(keys)
        for i in np.flatnonzero(new):
            key = int(keys[i])
            if key in self._recent:  # a repeat within this call
                new[i] = False
            else:
                self._recent.add(key)
        if len(self._recent) >= self._MERGE_AT:
            self._merge()
        return new

    def _merge(self) -> None:
        if self._recent:  # one copy of the array, not a sort of it
            recent = np.sort(np.fromiter(self._recent, np.uint64, len(self._recent)))
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, recent), recent)
            self._recent = set()

    def array(self) -> np.ndarray:
        """Every key, sorted (to ship to workers: a read-only array)."""
        self._merge()
        return self._sorted
