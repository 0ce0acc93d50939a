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

from .errors import FCN4Error

__all__ = ["FolderBusy", "exclusive_folder", "waiting_lock"]


class FolderBusy(FCN4Error):
    """Another process is writing into the folder; the message names the folder and that process."""


@contextlib.contextmanager
def exclusive_folder(folder, what: str = "run"):
    """Hold ``<folder>/.lock`` for the ``with`` block, or raise :class:`FolderBusy` at once.

    The holder (pid, host, command, start time) is written to ``<folder>/.lock.holder`` so that
    the refusal can name it. The lock is the OS's (``flock``): a killed holder releases it.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / ".lock"))
    holder = folder / ".lock.holder"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        kind, who = _describe(holder)
        raise FolderBusy(f"{folder} is in use by another {kind or what} ({who}); wait for it to end, "
                         "or choose another folder") from None
    try:
        holder.write_text(json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(),
                                      "command": " ".join(sys.argv), "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        yield folder
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


@contextlib.contextmanager
def waiting_lock(path, on_wait=None):
    """Hold the lock file ``path``, waiting for another holder to finish (``on_wait()`` is called once)."""
    from filelock import FileLock, Timeout

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
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


def _describe(holder: Path) -> tuple[str | None, str]:
    """(what the holder runs, who it is) from its note; the note may be missing or damaged."""
    try:
        info = json.loads(holder.read_text())
        return info.get("what"), f"process {info['pid']} on {info['host']} since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, "a process that did not say which"
