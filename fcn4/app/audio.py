"""A stored track's audio, by its key, with HTTP ranges (seeking): the file the store names, opened
without following a link, a regular file only, read in blocks; never a path a request names."""
from __future__ import annotations

import errno
import mimetypes
import os
import re
import stat

from ..base.errors import UnsafePathError
from ..base.files import refuse_link

__all__ = ["open_track", "byte_range", "content_type", "audio_headers", "Unsatisfiable", "Vanished", "BLOCK"]

BLOCK = 1 << 16
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")  # 18 digits: an exabyte; more is no file's offset
_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
          ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac",
          ".webm": "audio/webm", ".aif": "audio/aiff", ".aiff": "audio/aiff", ".wma": "audio/x-ms-wma"}


class Vanished(Exception):
    """The file a store names is no longer there (or cannot be read): said with a 404."""


class Unsatisfiable(Exception):
    """A Range header past the file's end, or one this server does not take: 416."""


#: What every /audio response says: never run as a page or a script (the server adds
#: ``X-Content-Type-Options: nosniff`` to every response: never sniffed for another type).
SAFE_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'"}


def content_type(path: str) -> str:
    """The audio type of ``path``, or ``application/octet-stream`` for anything else (a store may name
    ``x.html`` or ``y.js``: served as a page or a script, a stranger's file would run in the app)."""
    suffix = os.path.splitext(path)[1].lower()
    found = _TYPES.get(suffix) or mimetypes.guess_type(path)[0] or ""
    return found if found.startswith("audio/") else "application/octet-stream"


def audio_headers(path: str) -> dict:
    """The headers that go with the bytes of ``path``: a file that is not audio is a download."""
    headers = dict(SAFE_HEADERS)
    if not content_type(path).startswith("audio/"):
        headers["Content-Disposition"] = "attachment"
    return headers


def open_track(path: str) -> tuple[int, int]:
    """(file descriptor, size) of the stored file ``path``: never through a symbolic link swapped in
    (:class:`~fcn4.UnsafePathError`), a regular file only; :class:`Vanished` when it is gone."""
    refuse_link(path, "a track of the store")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise UnsafePathError(f"{path} (a track of the store) is now a symbolic link, which is never followed; "
                                  "put the file back in its place") from None
        raise Vanished(f"{path}: {exc.strerror.lower() if exc.strerror else 'cannot be read'} — the file has moved "
                       "or vanished since the store was written; put it back, or rerun the job") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Vanished(f"{path}: no longer a regular file; put the file back, or rerun the job")
    return fd, info.st_size


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) bytes of a single-range ``Range`` header over a file of ``size`` bytes (None: no
    header, the whole file); :class:`Unsatisfiable` for a range past the end or not of one range.

    >>> byte_range("bytes=0-99", 1000), byte_range("bytes=900-", 1000), byte_range("bytes=-100", 1000)
    ((0, 99), (900, 999), (900, 999))
    >>> byte_range("bytes=2000-", 1000)
    Traceback (most recent call last):
    ...
    fcn4.app.audio.Unsatisfiable: bytes=2000- is past the end of a file of 1000 bytes
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        raise Unsatisfiable(f"{header[:80]!r}: one range of bytes is served (bytes=FIRST-LAST)")
    first, last = match.groups()
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise Unsatisfiable(f"{header} is past the end of a file of {size} bytes")
        return max(0, size - count), size - 1
    first = int(first)
    last = size - 1 if last == "" else min(int(last), size - 1)
    if first >= size or last < first:
        raise Unsatisfiable(f"{header} is past the end of a file of {size} bytes")
    return first, last


def read_blocks(fd: int, first: int, count: int):
    """Yield ``count`` bytes of ``fd`` from ``first`` in blocks; closes ``fd`` when done or dropped."""
    try:
        at, left = first, count
        while left > 0:
            block = os.pread(fd, min(BLOCK, left), at)
            if not block:
                break  # the file shrank while it was sent
            at += len(block)
            left -= len(block)
            yield block
    finally:
        os.close(fd)
