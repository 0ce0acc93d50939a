"""Locks across processes (``filelock``, as the Hugging Face hub and torch use): one writer per run
folder or feature store, refused at once with the holder named; one download per checkpoint, the
others waiting for it."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from .errors import FCN4Error, FolderBusy

__all__ = ["FolderBusy", "exclusive_folder", "waiting_lock"]


@contextlib.contextmanager
def exclusive_folder(folder, what: str = "run"):
    """Hold ``<folder>/.lock`` for the ``with`` block, or raise :class:`FolderBusy` at once.

    The holder (pid, host, command, start time) is written to ``<folder>/.lock.holder`` so that
    the refusal can name it. The lock is the OS's (``flock``): a killed holder releases it.
    """
    from filelock import FileLock, Timeout

    from .files import refuse_link, writing_into

    folder = Path(folder)
    with writing_into(folder):
        folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(refuse_link(folder / ".lock", "the folder's lock")))
    holder = refuse_link(folder / ".lock.holder", "the lock holder's note")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        kind, who = _describe(holder)
        raise FolderBusy(f"{folder} is in use by another {kind or what} ({who}); wait for it to end, "
                         "or choose another folder") from None
    try:
        note = json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                           "command": " ".join(sys.argv), "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        _write_no_follow(holder, note)
        yield folder
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


@contextlib.contextmanager
def waiting_lock(path, on_wait=None):
    """Hold the lock file ``path``, waiting for another holder to finish (``on_wait()`` is called once)."""
    from filelock import FileLock, Timeout

    from .files import refuse_link

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(refuse_link(path, "a lock file")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait is not None:
            on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _write_no_follow(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` without following a link planted there (``O_NOFOLLOW``)."""
    from .files import refuse_link, writing_into

    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        with writing_into(path.parent):
            fd = os.open(path, flags, 0o644)
    except OSError:
        refuse_link(path, "the lock holder's note")  # ELOOP: a link appeared after the first check
        raise
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _describe(holder: Path) -> tuple[str | None, str]:
    """(what the holder runs, who it is) from its note; the note may be missing or damaged."""
    try:
        if holder.is_symlink():
            raise OSError("a link")
        info = json.loads(holder.read_text()[:65536])
        return info.get("what"), f"process {info['pid']} on {info['host']} since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, "a process that did not say which"
