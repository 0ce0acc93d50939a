"""Which files a library job reads, as a stream: files, folders, globs, manifests (text, CSV or
Parquet lists of paths) and the remote filesystems pyarrow reads (``s3://``, ``gs://``, ...).

Nothing here holds the list: a manifest of a million paths streams through in flat memory (8
bytes a path remain, to read a path listed twice once). Folders are walked in the order
:func:`fcn4.audio.sources.find_audio` sorts them, one folder at a time.
"""
from __future__ import annotations

import contextlib
import csv
import glob
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ..audio.sources import AUDIO_EXTENSIONS, Source
from ..base.errors import SettingError
from .keys import KeySet, path_bytes, path_key

__all__ = ["MANIFEST_SUFFIXES", "PATH_COLUMNS", "iter_inputs", "read_manifest", "is_remote", "local_copy",
           "stat_file"]

#: Files named as inputs with these extensions are lists of paths, not audio.
MANIFEST_SUFFIXES = (".txt", ".lst", ".m3u", ".m3u8", ".csv", ".tsv", ".parquet")
#: Columns of a CSV or Parquet manifest that hold the paths, the first found wins.
PATH_COLUMNS = ("path", "file", "filename", "filepath", "audio", "uri")
_GLOB = frozenset("*?[")
_MAX_PATH_BYTES = 4096


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URI of another filesystem (``s3://``, ``gs://``, ``file://``, ...)."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.isalnum() and len(scheme) > 1


def iter_inputs(paths, extensions=AUDIO_EXTENSIONS) -> Iterator[Source]:
    """Each input of ``paths`` once, in order, as a :class:`~fcn4.audio.sources.Source` (an
    ``error`` says why a path gave nothing: missing, a folder without audio, a bad manifest line).

    A path ending in one of :data:`MANIFEST_SUFFIXES` is read as a manifest: one path a line
    (``#`` lines and blank lines skipped), or the ``path`` column (see :data:`PATH_COLUMNS`) of a
    CSV, TSV or Parquet file; relative paths in a manifest are taken from the manifest's folder.
    A manifest's entries are not looked up here: the job that reads them names a missing one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("a/2.mp3", "a.wav", "a/1.flac"):
    ...     (root / name).parent.mkdir(exist_ok=True); (root / name).touch()
    >>> _ = (root / "list.txt").write_text("a.wav\\n# a comment\\na/1.flac\\n")
    >>> [(Path(s.path).relative_to(root).as_posix(), s.error) for s in iter_inputs([root / "a", root / "list.txt"])]
    [('a/1.flac', None), ('a/2.mp3', None), ('a.wav', None)]
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    suffixes = frozenset(e.lower() for e in extensions)
    seen = KeySet()
    chunk: list[Source] = []

    def flush():
        keys = np.fromiter((path_key(s.path) for s in chunk), np.uint64, len(chunk))
        fresh = seen.add_new(keys)
        out = [s for s, new in zip(chunk, fresh) if new]
        chunk.clear()
        return out

    for source in _expand(paths, suffixes):
        chunk.append(source)
        if len(chunk) >= 4096:
            yield from flush()
    if chunk:
        yield from flush()


def _expand(paths: Iterable, suffixes) -> Iterator[Source]:
    for path in paths:
        path = os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path)
        if is_remote(path):
            yield from _remote(path, suffixes)
        elif os.path.isdir(path):
            found = False
            for name in _walk_sorted(path, suffixes):
                found = True
                yield Source(name)
            if not found:
                yield Source(path, f"a folder with no audio files (looked for {', '.join(sorted(suffixes))})")
        elif os.path.isfile(path) and Path(path).suffix.lower() in MANIFEST_SUFFIXES:
            yield from read_manifest(path)
        elif os.path.exists(path):
            yield Source(path)
        elif _GLOB & set(path):
            matches = sorted(glob.iglob(path, recursive=True))
            if not matches:
                yield Source(path, "a pattern that matches no file")
            for match in matches:
                if os.path.isdir(match):
                    yield from _expand([match], suffixes)
                else:
                    yield Source(match)
        else:
            yield Source(path, "no such file or folder")


def _walk_sorted(root: str, suffixes) -> Iterator[str]:
    """Audio files under ``root`` in sorted path order (hidden names skipped), one folder listed at a time.

    Entries sort as ``name/`` for folders and ``name`` for files: the order of sorting full paths."""
    try:
        with os.scandir(root) as entries:
            listed = [(e.name + "/" if e.is_dir(follow_symlinks=True) else e.name, e.path)
                      for e in entries if not e.name.startswith(".")]
    except OSError:
        return
    for key, path in sorted(listed):
        if key.endswith("/"):
            yield from _walk_sorted(path, suffixes)
        elif Path(key).suffix.lower() in suffixes:
            yield path


def read_manifest(manifest: str) -> Iterator[Source]:
    """The paths a manifest lists, streamed (see :func:`iter_inputs`); :class:`~fcn4.SettingError`
    naming the manifest when it has no path column or cannot be parsed."""
    suffix = Path(manifest).suffix.lower()
    base = None if is_remote(manifest) else os.path.dirname(os.path.abspath(manifest))
    if suffix == ".parquet":
        yield from _sources(manifest, _parquet_paths(manifest), base)
        return
    with _open_binary(manifest) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        lines = _csv_paths(manifest, text, "\t" if suffix == ".tsv" else ",") if suffix in (".csv", ".tsv") \
            else _text_paths(text)
        yield from _sources(manifest, lines, base)


def _sources(manifest: str, lines: Iterable[tuple[int, str]], base: str | None) -> Iterator[Source]:
    for number, path in lines:
        if len(path_bytes(path)) > _MAX_PATH_BYTES:
            yield Source(path[:200] + "...", f"{manifest}, entry {number}: a path over {_MAX_PATH_BYTES} bytes")
            continue
        if "\0" in path:
            yield Source(path.replace("\0", "\\0"), f"{manifest}, entry {number}: a path with a NUL byte, "
                                                       "which no file name holds")
            continue
        if base is not None and not is_remote(path) and not os.path.isabs(path):
            path = os.path.join(base, path)
        # Not looked up here: the tasks that read the files find a missing one (in parallel, on the cluster).
        yield Source(path)


def _text_paths(text) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text, 1):
        line = line.rstrip("\r\n")
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


def _csv_paths(manifest: str, text, delimiter: str) -> Iterator[tuple[int, str]]:
    rows = csv.reader(text, delimiter=delimiter)
    try:
        header = next(rows)
    except StopIteration:
        return
    except csv.Error as exc:
        raise SettingError(f"manifest {manifest}: not readable as {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") \
            from None
    column = _path_column(manifest, [h.strip().lower() for h in header])
    try:
        for number, row in enumerate(rows, 2):
            if len(row) > column and row[column].strip():
                yield number, row[column]
    except csv.Error as exc:
        raise SettingError(f"manifest {manifest}, line {rows.line_num}: {exc}") from None


def _parquet_paths(manifest: str) -> Iterator[tuple[int, str]]:
    import pyarrow.parquet as pq

    try:
        with _open_binary(manifest) as raw:
            reader = pq.ParquetFile(raw)
            column = _path_column(manifest, [n.lower() for n in reader.schema_arrow.names])
            name = reader.schema_arrow.names[column]
            number = 0
            for batch in reader.iter_batches(batch_size=65536, columns=[name]):
                for value in batch.column(0).to_pylist():
                    number += 1
                    if value:
                        yield number, os.fsdecode(value) if isinstance(value, bytes) else str(value)
    except (OSError, ValueError) as exc:
        if isinstance(exc, SettingError):
            raise
        raise SettingError(f"manifest {manifest}: not a readable Parquet file ({exc})") from None


def _path_column(manifest: str, names: list[str]) -> int:
    for wanted in PATH_COLUMNS:
        if wanted in names:
            return names.index(wanted)
    raise SettingError(f"manifest {manifest} has no column of paths: its columns are {names[:20]}; name the column "
                       f"'path' (or one of {', '.join(PATH_COLUMNS[1:])})")


@contextlib.contextmanager
def _open_binary(path: str):
    if is_remote(path):
        fs, inner = _filesystem(path)
        with fs.open_input_file(inner) as handle:
            yield handle
    else:
        with open(path, "rb") as handle:
            yield handle


def _filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for a URI, or a SettingError naming the URI."""
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as exc:  # noqa: BLE001 (pyarrow raises several kinds for a scheme it lacks)
        raise SettingError(f"{uri}: pyarrow cannot open this filesystem ({str(exc).splitlines()[0]}); "
                           "install the filesystem's support for pyarrow, or copy the files locally") from None


def _remote(uri: str, suffixes) -> Iterator[Source]:
    from pyarrow import fs

    filesystem, inner = _filesystem(uri)
    scheme = uri.partition("://")[0]
    info = filesystem.get_file_info(inner)
    if info.type == fs.FileType.NotFound:
        yield Source(uri, "no such file or folder")
    elif info.type == fs.FileType.Directory:
        found = filesystem.get_file_info(fs.FileSelector(inner, recursive=True))
        names = sorted(f.path for f in found if f.type == fs.FileType.File and Path(f.path).suffix.lower() in suffixes
                       and not any(part.startswith(".") for part in Path(f.path).relative_to(inner).parts))
        if not names:
            yield Source(uri, f"a folder with no audio files (looked for {', '.join(sorted(suffixes))})")
        for name in names:
            yield Source(f"{scheme}://{name}")
    elif Path(inner).suffix.lower() in MANIFEST_SUFFIXES:
        yield from read_manifest(uri)
    else:
        yield Source(uri)


def stat_file(path: str) -> tuple[int, int]:
    """(size in bytes, modification time in ns) of a local file or a URI; OSError when it is missing."""
    if not is_remote(path):
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    from pyarrow import fs

    filesystem, inner = _filesystem(path)
    info = filesystem.get_file_info(inner)
    if info.type != fs.FileType.File:
        raise FileNotFoundError(f"no such file: {path}")
    mtime = info.mtime_ns if info.mtime_ns is not None else 0
    return int(info.size or 0), int(mtime)


@contextlib.contextmanager
def local_copy(path: str, limit_bytes: int | None = None):
    """A local file to decode: ``path`` itself, or a URI copied in chunks to a temporary file
    (removed after), refused beyond ``limit_bytes``."""
    if not is_remote(path):
        yield path
        return
    filesystem, inner = _filesystem(path)
    fd, local = tempfile.mkstemp(prefix="fcn4-remote-", suffix=Path(inner).suffix[:16])
    try:
        with os.fdopen(fd, "wb") as out, filesystem.open_input_stream(inner) as source:
            copied = 0
            while chunk := source.read(1 << 20):
                copied += len(chunk)
                if limit_bytes is not None and copied > limit_bytes:
                    raise OSError(f"{path}: over the {limit_bytes} bytes a file may have")
                out.write(chunk)
        yield local
    finally:
        with contextlib.suppress(OSError):
            os.unlink(local)
