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

from .errors import StorageError, UnsafePathError

__all__ = ["temporary_beside", "write_text_atomic", "replace_durably", "fsync_file", "fsync_folder",
           "remove_stray_temporaries", "TEMPORARY", "refuse_link", "folder_inside", "writing_into"]

#: The names of temporary files: hidden, the target's name, a uuid4 in hex, a suffix.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{32}(\.[\w.-]+)?$")


@contextlib.contextmanager
def temporary_beside(path, suffix: str = ".tmp"):
    """Yield a hidden temporary path in ``path``'s folder; it is removed unless renamed away.

    The temporary file lives in the target's folder so that the final :func:`os.replace` is an
    atomic rename on the same file system.
    """
    path = Path(path)
    with writing_into(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{suffix}")
    try:
        with writing_into(path.parent):
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


def remove_stray_temporaries(folder, name: str | None = None, what: str | None = None) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (only those of ``name`` if given):
    regular files only; a symbolic link with such a name is refused (:class:`~fcn4.UnsafePathError`),
    never followed nor deleted (``what`` names such a file in that error).

    Call it only where no other process may be writing (under the folder's lock).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not TEMPORARY.match(entry.name) or (name is not None and not entry.name.startswith(f".{name}.")):
                continue
            refuse_link(entry.path, what or f"a temporary file in {folder}")
            if entry.is_file(follow_symlinks=False):
                with writing_into(folder), contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def refuse_link(path, what: str = "path"):
    """``path`` unless it is a symbolic link (a missing path is fine); else :class:`~fcn4.UnsafePathError`.

    Where this package writes, deletes or reads what it trusts, a link planted by someone else
    would send the operation elsewhere (``lstat``: the link itself is looked at, never followed).
    """
    if os.path.islink(path):
        raise UnsafePathError(
            f"{os.fspath(path)} ({what}) is a symbolic link, which is never followed where files are written, "
            "deleted or trusted; remove the link (or use the folder it points to directly)")
    return path


def folder_inside(root, *parts) -> Path:
    """``root/part/...``, made where missing, each part refused if it is a symbolic link.

    ``root`` is the user's own choice and may itself be a link; the folders below it are this
    package's, and a link among them would lead writes out of ``root``.
    """
    path = Path(root)
    with writing_into(path):
        path.mkdir(parents=True, exist_ok=True)
        for part in parts:
            path = path / part
            refuse_link(path, f"a folder inside {root}")
            path.mkdir(exist_ok=True)
            refuse_link(path, f"a folder inside {root}")  # made by another process in between
    return path


#: OS errors that are the folder's fault, not the file's: said with the folder's name and a way out.
_ROOM = {28: "no space is left on its device", 122: "the disk quota is exceeded", 30: "its file system is read-only",
         13: "permission is denied"}


@contextlib.contextmanager
def writing_into(folder):
    """Turn an ``OSError`` of a full disk, a quota, a read-only file system or a permission inside the
    block into a :class:`~fcn4.StorageError` that names ``folder`` (the OS alone names at most a file)."""
    try:
        yield
    except StorageError:
        raise
    except OSError as exc:
        why = _ROOM.get(exc.errno)
        if why is None:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        error = StorageError(f"cannot write into {os.fspath(folder)}{where}: {why}; free space or change "
                             "permissions there, or choose another folder (nothing incomplete was kept)")
        error.errno = exc.errno
        raise error from exc
