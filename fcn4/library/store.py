"""A tagging store: a folder of Parquet files, one row per input file, that explains itself.

``<store>/_store.json`` and every part's Parquet metadata (key ``fcn4``) name the weights (uid,
sha256), the front end's settings, the labels and how files were windowed; a run with other
settings is refused, naming what differs. Parts (``part-*.parquet``) are written whole under a
temporary name and renamed into place, so a killed writer leaves nothing half-written that is
read; a rerun skips every file a part holds (same path, size and modification time).

Columns: ``path``, ``status`` (``ok`` or ``error``), ``reason`` (why a file failed), ``note``,
``size`` and ``mtime_ns`` (the file's, when it was read), ``key`` (of path, size and time),
``duration`` (seconds), ``starts`` (each window's start, seconds), ``probabilities`` (every
label's, in the labels' order), ``top_tags``; with ``--window track`` also
``window_probabilities``; from ``embed`` also ``embedding`` (and ``window_embeddings``).

>>> store = Store("my_store")                                  # doctest: +SKIP
>>> store.table(["path", "top_tags"]).to_pandas()              # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.errors import FCN4Error
from ..base.files import remove_stray_temporaries, replace_durably, temporary_beside, write_text_atomic
from .extra import require
from .keys import KeySet

__all__ = ["StoreSettings", "Store", "StoreError", "SETTINGS_FILE", "STORE_FORMAT"]

STORE_FORMAT = 1
SETTINGS_FILE = "_store.json"
_PART = "part-{:019d}-{}.parquet"


class StoreError(FCN4Error, ValueError):
    """A store that cannot be used: settings that differ from this run's, or a damaged part; named."""


@dataclass(frozen=True)
class StoreSettings:
    """What a store's rows depend on: rows written under other settings are not comparable."""
    weights: str
    sha256: str | None
    labels: tuple[str, ...]
    front_end: dict
    features: int
    window: str = "clip"
    hop_seconds: float | None = None
    aggregate: str = "mean"
    min_seconds: float = 0.0
    max_hours: float | None = None
    long_files: str = "refuse"
    embeddings: bool = False
    top_k: int = 5

    def to_json(self) -> dict:
        return {"format": STORE_FORMAT, **dataclasses.asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_json(cls, data: dict, where: str) -> "StoreSettings":
        if not isinstance(data, dict) or data.get("format") != STORE_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise StoreError(f"{where}: not a store of this version of fcn4 (format {found!r}, expected "
                             f"{STORE_FORMAT}); write to a new folder")
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in names}
            values["labels"] = tuple(values["labels"])
            return cls(**values)
        except (KeyError, TypeError) as exc:
            raise StoreError(f"{where}: damaged store settings ({exc}); write to a new folder") from None

    def differences(self, other: "StoreSettings") -> list[str]:
        """What differs from ``other``: ``field: the store's X, this run's Y`` (labels summarised)."""
        found = []
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "weights" and self.sha256 is not None and self.sha256 == other.sha256:
                continue  # the same checkpoint by another name (a relative path, a copy): its sha256 says so
            if mine != theirs:
                if f.name == "labels":
                    mine, theirs = (f"{len(v)} ({', '.join(v[:3])}, ...)" for v in (mine, theirs))
                else:
                    mine, theirs = repr(mine), repr(theirs)
                found.append(f"{f.name}: the store's {mine}, this run's {theirs}")
        return found


class Store:
    """The Parquet store in ``folder`` (see the module's description)."""

    def __init__(self, folder):
        require("pyarrow")  # every reader and writer of a store: say what to install, not ImportError
        self.folder = Path(folder)
        where = self.folder / SETTINGS_FILE
        if not where.is_file():
            raise StoreError(f"{self.folder} is not an fcn4 store (no {SETTINGS_FILE}); write one with "
                             "`fcn4 tag --ray -o FOLDER ...` or `fcn4 embed --ray -o FOLDER ...`")
        try:
            self.settings = StoreSettings.from_json(json.loads(where.read_text(encoding="utf-8")), str(where))
        except ValueError as exc:
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{where}: damaged store settings ({exc}); write to a new folder") from None

    @classmethod
    def open_for(cls, folder, settings: StoreSettings) -> "Store":
        """The store in ``folder`` for a run with ``settings``: created if new, refused if it was
        written under other settings. Call under the folder's lock (temporaries of a killed
        writer are removed)."""
        folder = check_folder(folder)
        if not (folder / SETTINGS_FILE).exists():
            if folder.is_dir() and any(p.name.endswith(".parquet") for p in folder.iterdir()):
                raise StoreError(f"{folder} holds Parquet files but no {SETTINGS_FILE}: not an fcn4 store; "
                                 "choose an empty or new folder")
            write_text_atomic(folder / SETTINGS_FILE, json.dumps(settings.to_json(), indent=1))
        store = cls(folder)
        differ = store.settings.differences(settings)
        if differ:
            raise StoreError(f"the store {folder} was written with other settings ({'; '.join(differ)}); rerun "
                             "with the store's settings, or write to another folder")
        remove_stray_temporaries(folder)
        return store

    # ----------------------------------------------------------------------- reading
    def parts(self) -> list[Path]:
        """The complete parts, oldest first."""
        return sorted(p for p in self.folder.glob("part-*.parquet") if not p.name.startswith("."))

    def done_keys(self, retry_failed: bool = False) -> np.ndarray:
        """Sorted keys of the file versions the store holds (``retry_failed``: only those tagged)."""
        import pyarrow.compute as pc

        keys = KeySet()
        for part in self.parts():
            table = self._read(part, ["key", "status"])
            if retry_failed:
                table = table.filter(pc.equal(table["status"], "ok"))
            keys.add_new(table["key"].to_numpy())
        return keys.array()

    def table(self, columns=None, *, latest: bool = True, filter=None):
        """The store as one ``pyarrow.Table`` (``columns``: only those; ``filter``: rows a
        ``pyarrow.compute`` expression keeps); ``latest``: a file read again after it changed keeps
        only its newest row. For large stores read :meth:`batches`."""
        import pyarrow as pa

        wanted = None if columns is None else list(dict.fromkeys([*columns, "path"]))
        tables = [self._read(part, wanted, filter) for part in self.parts()]
        table = pa.concat_tables(tables) if tables else self.schema().empty_table()
        if wanted is not None:
            table = table.select(wanted)
        if latest and table.num_rows:
            table = table.take(_last_of_each(table["path"]))
        return table if columns is None else table.select(list(columns))

    def batches(self, columns=None) -> Iterator:
        """Record batches of every part, in order (rows as written, older versions of a file included)."""
        import pyarrow.parquet as pq

        for part in self.parts():
            yield from pq.ParquetFile(part).iter_batches(batch_size=4096, columns=columns)

    def embeddings(self, vectors: bool = True):
        """(paths, ``[N, D]`` float32 matrix) of the files the store embedded (``vectors=False``:
        the paths alone, and None)."""
        import pyarrow.compute as pc

        if not self.settings.embeddings:
            raise StoreError(f"the store {self.folder} holds tags, no embeddings; write one with `fcn4 embed --ray`")
        import pyarrow as pa

        # Which rows count (a file's newest, tagged) from the small columns; then each part's vectors
        # straight into one float32 matrix, never as Python lists.
        parts = self.parts()
        index = [self._read(part, ["path", "status"]) for part in parts]
        if not index:
            return [], np.zeros((0, self.settings.features), np.float32) if vectors else None
        everything = pa.concat_tables(index)
        keep = np.zeros(everything.num_rows, bool)
        keep[_last_of_each(everything["path"])] = True
        keep &= pc.equal(everything["status"], "ok").to_numpy(zero_copy_only=False)
        paths = np.asarray(everything["path"].to_pylist(), dtype=object)[keep].tolist()
        if not vectors:
            return paths, None
        matrix, at, offset = np.empty((int(keep.sum()), self.settings.features), np.float32), 0, 0
        for part, rows in zip(parts, index):
            mask = keep[offset:offset + rows.num_rows]
            offset += rows.num_rows
            if not mask.any():
                continue
            column = self._read(part, ["embedding"])["embedding"].filter(pa.array(mask)).combine_chunks()
            values = column.values.to_numpy(zero_copy_only=False).reshape(-1, self.settings.features)
            matrix[at:at + len(values)] = values
            at += len(values)
        return paths, matrix

    def digest(self) -> str:
        """Names and sizes of the parts: changes whenever a part is added."""
        import hashlib

        text = "\n".join(f"{p.name} {p.stat().st_size}" for p in self.parts())
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def schema(self):
        return schema_for(self.settings)

    def _read(self, part: Path, columns, filter=None):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(part, columns=columns, filters=filter)
        except Exception as exc:  # noqa: BLE001 (pyarrow raises several kinds for a damaged file)
            raise StoreError(f"{part}: not a readable part ({str(exc).splitlines()[0]}); move it out of the store "
                             "and rerun the job, which recomputes its files") from None

    # ----------------------------------------------------------------------- writing
    def write_part(self, rows: list[dict]) -> Path:
        """Write ``rows`` as one new part, whole or not at all."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=self.schema())
        path = self.folder / _PART.format(time.time_ns(), os.getpid())
        with temporary_beside(path, ".parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
            replace_durably(tmp, path)
        return path

    def __repr__(self) -> str:
        return f"Store({str(self.folder)!r}, weights={self.settings.weights!r}, parts={len(self.parts())})"


def check_folder(folder) -> Path:
    """``folder`` as a Path, or a :class:`StoreError` when it is a file (a store is a folder)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"--output {folder} is a file; a store is a folder: name a new or existing store folder")
    return folder


def schema_for(settings: StoreSettings):
    """The Parquet schema of a store's rows; the settings ride in its metadata (key ``fcn4``)."""
    import pyarrow as pa

    # Variable-size lists: pyarrow 21 cannot read back a fixed-size list column holding nulls (failed files).
    probabilities = pa.list_(pa.float32())
    fields = [("path", pa.string()), ("status", pa.string()), ("reason", pa.string()), ("note", pa.string()),
              ("size", pa.int64()), ("mtime_ns", pa.int64()), ("key", pa.uint64()), ("duration", pa.float64()),
              ("starts", pa.list_(pa.float64())), ("probabilities", probabilities), ("top_tags", pa.list_(pa.string()))]
    if settings.window == "track":
        fields.append(("window_probabilities", pa.list_(probabilities)))
    if settings.embeddings:
        embedding = pa.list_(pa.float32())
        fields.append(("embedding", embedding))
        if settings.window == "track":
            fields.append(("window_embeddings", pa.list_(embedding)))
    return pa.schema(fields, metadata={"fcn4": json.dumps(settings.to_json())})


def _last_of_each(paths) -> np.ndarray:
    """Indices of the last row of each distinct path, in row order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    index = pa.table({"path": paths, "row": pa.array(np.arange(len(paths)))})
    last = index.group_by("path", use_threads=False).aggregate([("row", "max")])["row_max"]
    return np.sort(pc.cast(last, pa.int64()).to_numpy())
