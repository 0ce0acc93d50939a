"""Write files so that a reader only ever sees the old content or the complete new one, and a crash
leaves nothing that is trusted half-written.

Every file that becomes trusted is written under a hidden temporary name beside its target
(``.<name>.<32 hex digits><suffix>``), flushed to disk (``fsync``), renamed into place, and the
folder's entry is flushed too. A kill between the write and the rename leaves only such a
temporary file, which nothing reads and :func:`remove_stray_temporaries` deletes on the next start.
"""
from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path

__all__ = ["temporary_beside", "write_text_atomic", "replace_durably", "fsync_file", "fsync_folder",
           "remove_stray_temporaries", "TEMPORARY"]

#: The names of temporary files: hidden, the target's name, a uuid4 in hex, a suffix.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}(\.[\w.-]+)?$")


@contextlib.contextmanager
def temporary_beside(path, suffix: str = ".tmp"):
    """Yield a hidden temporary path in ``path``'s folder; it is removed unless renamed away.

    The temporary file lives in the target's folder so that the final :func:`os.replace` is an
    atomic rename on the same file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{suffix}")
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def fsync_file(path) -> None:
    """Flush a file's content to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the OS allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # not every OS opens folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_durably(tmp, path) -> Path:
    """Flush ``tmp``, rename it to ``path`` and flush the folder: after a crash, ``path`` is the old
    file or the complete new one."""
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_folder(Path(path).parent)
    return Path(path)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file and a durable rename."""
    path = Path(path)
    with temporary_beside(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        replace_durably(tmp, path)
    return path


def remove_stray_temporaries(folder, name: str | None = None) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (only those of ``name`` if given).

    Call it only where no other process may be writing (under the folder's lock).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if TEMPORARY.match(entry.name) and (name is None or entry.name.startswith(f".{name}.")) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry)
    return removed
