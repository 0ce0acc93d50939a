"""The store's files as a stranger's data: opened without following a link, regular files only, read
within a bound. (A killed writer's temporaries go through base.files.remove_stray_temporaries.)"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from ..base.errors import StoreError, UnsafePathError
from ..base.files import refuse_link

__all__ = ["check_folder"]


@contextlib.contextmanager
def _open_no_follow(path: Path, what: str):
    """``path`` opened for reading in binary, never through a symbolic link (:class:`UnsafePathError`),
    and only if it is a regular file (a FIFO or a folder is refused, never waited on)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(refuse_link(path, what), flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            refuse_link(path, what)
            raise UnsafePathError(f"{path} ({what}) is a symbolic link; remove the link") from None
        raise StoreError(f"{path} ({what}): cannot be read ({exc.strerror}); move it out of the store, "
                         "or restore it") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreError(f"{path} ({what}): not a regular file; move it out of the store")
        yield handle


def _read_small(path: Path, limit: int, what: str) -> bytes:
    with _open_no_follow(path, what) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise StoreError(f"{path} ({what}): larger than {limit:,} bytes, more than any store writes; write to a "
                         "new folder")
    return data


def _first_line(exc) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _unreadable(part: Path, exc) -> StoreError:
    return StoreError(f"{part}: not a readable part ({_first_line(exc)}); move it out of the store "
                      "and rerun the job, which recomputes its files")


def check_folder(folder) -> Path:
    """``folder`` as a Path, or a :class:`StoreError` when it is a file (a store is a folder)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"--output {folder} is a file; a store is a folder: name a new or existing store folder")
    return folder
