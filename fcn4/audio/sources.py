"""Which files to read: audio files named directly or found in folders, in a deterministic order."""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

__all__ = ["AUDIO_EXTENSIONS", "Source", "find_audio"]

#: Extensions picked up when searching folders (files named directly are always tried).
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".au", ".snd",
                              ".aif", ".aiff", ".aifc", ".wma", ".webm", ".caf"})


class Source(NamedTuple):
    """One input: an audio file to read, or a path that gave nothing, with ``error`` saying why."""
    path: str
    error: str | None = None


def find_audio(paths, extensions=AUDIO_EXTENSIONS) -> list[Source]:
    """Expand files and folders into the files to read, in order.

    Arguments keep their order; a folder becomes its files with an audio extension, searched
    recursively and sorted by path (hidden files and folders skipped). A file named directly is
    taken whatever its extension. A path that does not exist, or a folder without audio, becomes
    a :class:`Source` with an ``error``, so callers can report it with the files that failed.
    A file reached twice is read once.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b/2.mp3", "a.wav", "b/1.flac", "notes.txt"):
    ...     (root / name).parent.mkdir(exist_ok=True); (root / name).touch()
    >>> [Path(s.path).relative_to(root).as_posix() for s in find_audio([root])]
    ['a.wav', 'b/1.flac', 'b/2.mp3']
    >>> find_audio([root / "nope.wav"])[0].error
    'no such file or folder'
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    suffixes = {e.lower() for e in extensions}
    seen, sources = set(), []

    def add(source: Source) -> None:
        key = os.path.realpath(source.path) if source.error is None else source.path
        if key not in seen:
            seen.add(key)
            sources.append(source)

    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found = sorted(_walk(path, suffixes))
            if not found:
                add(Source(path, f"a folder with no audio files (looked for {', '.join(sorted(suffixes))})"))
            for name in found:
                add(Source(name))
        elif os.path.exists(path):
            add(Source(path))
        else:
            add(Source(path, "no such file or folder"))
    return sources


def _walk(root: str, suffixes: set[str]):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield os.path.join(folder, name)
