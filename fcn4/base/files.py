"""Write files so that a reader only ever sees the old content or the complete new one."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


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


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file and a rename."""
    path = Path(path)
    with temporary_beside(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    return path
