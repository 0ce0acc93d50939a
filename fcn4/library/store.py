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

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..base.errors import StoreError
from ..base.files import refuse_link, remove_stray_temporaries, replace_durably, temporary_beside, write_text_atomic
from .extra import require
from .keys import KeySet
from .store_files import (_first_line, _open_no_follow, _read_small, _unreadable,  # noqa: F401 (as before)
                          check_folder)
from .store_settings import STORE_FORMAT, StoreSettings  # noqa: F401 (their home before)

__all__ = ["StoreSettings", "Store", "StoreError", "SETTINGS_FILE", "STORE_FORMAT", "MAX_PART_ROWS"]

SETTINGS_FILE = "_store.json"
_PART = "part-{:019d}-{}.parquet"

# What a store may declare before anything is allocated for it (a store is a stranger's data: a few KB of
# Parquet can declare millions of rows, a few bytes of JSON a 44 TiB matrix).
#: Rows one part may hold (a job writes ``rows_per_part``, 1000 by default, per part).
MAX_PART_ROWS = 1_000_000
#: Row groups one part may hold (pyarrow writes one per million rows).
MAX_PART_ROW_GROUPS = 1024
#: Values (list elements included) and uncompressed bytes one part may declare, all columns together.
MAX_PART_VALUES = 1 << 28
MAX_PART_BYTES = 4 << 30
#: Bounds of the settings file's size (its fields' bounds: store_settings).
MAX_SETTINGS_BYTES = 16 << 20


class Store:
    """The Parquet store in ``folder`` (see the module's description).

    Nothing a store holds is trusted unread: ``_store.json`` is checked field by field; every part,
    whenever it is read, is opened without following a link, its Parquet footer checked first (rows,
    row groups, values and bytes it declares, bounded), its own settings (metadata ``fcn4``) and
    columns compared with the store's; rows the store uses are checked too (no missing path, status
    or key; an embedding of the store's width, finite). A part that fails is refused by name with a
    way out (move it out of the store: a rerun of the job recomputes its files).
    """

    def __init__(self, folder):
        require("pyarrow")  # every reader and writer of a store: say what to install, not ImportError
        self.folder = Path(folder)
        where = refuse_link(self.folder / SETTINGS_FILE, "the store's settings")
        if not where.is_file():
            raise StoreError(f"{self.folder} is not an fcn4 store (no {SETTINGS_FILE}); write one with "
                             "`fcn4 tag --ray -o FOLDER ...` or `fcn4 embed --ray -o FOLDER ...`")
        try:
            data = json.loads(_read_small(where, MAX_SETTINGS_BYTES, "the store's settings").decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise StoreError(f"{where}: damaged store settings ({_first_line(exc)}); write to a new folder") from None
        self.settings = StoreSettings.from_json(data, str(where))

    @classmethod
    def open_for(cls, folder, settings: StoreSettings) -> "Store":
        """The store in ``folder`` for a run with ``settings``: created if new, refused if it was
        written under other settings. Call under the folder's lock (temporaries of a killed
        writer are removed)."""
        folder = check_folder(folder)
        # this run's settings within the bounds every reader checks, before anything is written
        StoreSettings.from_json(json.loads(json.dumps(settings.to_json())), "this run's store settings",
                                "change that setting")
        refuse_link(folder / SETTINGS_FILE, "the store's settings")
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
        remove_stray_temporaries(folder, what="a temporary file in the store")
        return store

    # ----------------------------------------------------------------------- reading
    def parts(self) -> list[Path]:
        """The complete parts, oldest first (a part that is a symbolic link is refused)."""
        found = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name.startswith("part-") and entry.name.endswith(".parquet"):
                    found.append(Path(refuse_link(entry.path, "a part of the store")))
        return sorted(found)

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
        ``pyarrow.compute`` expression over the columns read, ``path`` among them, keeps); ``latest``: a
        file read again after it changed keeps only its newest row. For large stores read :meth:`batches`."""
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
        for part in self.parts():
            with self._opened(part) as parquet:
                batches = parquet.iter_batches(batch_size=4096, columns=columns)
                while True:
                    try:
                        batch = next(batches)
                    except StopIteration:
                        break
                    except Exception as exc:  # noqa: BLE001 (pyarrow raises several kinds for a damaged file)
                        raise _unreadable(part, exc) from None
                    _check_rows(part, batch)
                    if "embedding" in batch.schema.names:
                        self._check_embeddings(part, batch)
                    yield batch

    def _check_embeddings(self, part: Path, batch) -> None:
        """Refuse a batch with an embedding not of the store's width or not finite (and, where the
        status is read, an ``ok`` row without one): what a reader of :meth:`batches` takes as a vector."""
        import pyarrow as pa
        import pyarrow.compute as pc

        column = batch["embedding"]
        held = pc.is_valid(column)
        if "status" in batch.schema.names:
            held = pc.or_(held, pc.fill_null(pc.equal(batch["status"], "ok"), False))
        names = batch["path"] if "path" in batch.schema.names else pa.array([f"row {i}" for i in range(len(batch))])
        _vectors(part, column.filter(held), names.filter(held), self.settings.features)

    def embeddings(self, vectors: bool = True, parts: list[Path] | None = None):
        """(paths, ``[N, D]`` float32 matrix) of the files the store embedded (``vectors=False``:
        the paths alone, and None); ``parts``: those of :meth:`parts` to read (one listing for
        several reads). A kept row without an embedding of the store's width, or with NaN or
        infinite values, is refused naming its part and file."""
        import pyarrow.compute as pc

        if not self.settings.embeddings:
            raise StoreError(f"the store {self.folder} holds tags, no embeddings; write one with `fcn4 embed --ray`")
        import pyarrow as pa

        # Which rows count (a file's newest, tagged) from the small columns; then each part's vectors
        # straight into one float32 matrix, never as Python lists.
        parts = self.parts() if parts is None else parts
        index = [self._read(part, ["path", "status"]) for part in parts]
        width = self.settings.features
        if not index:
            return [], np.zeros((0, width), np.float32) if vectors else None
        everything = pa.concat_tables(index)
        keep = np.zeros(everything.num_rows, bool)
        keep[_last_of_each(everything["path"])] = True
        keep &= pc.equal(everything["status"], "ok").to_numpy(zero_copy_only=False)
        paths = np.asarray(everything["path"].to_pylist(), dtype=object)[keep].tolist()
        if not vectors:
            return paths, None
        matrix, at, offset = np.empty((int(keep.sum()), width), np.float32), 0, 0
        for part, rows in zip(parts, index):
            mask = keep[offset:offset + rows.num_rows]
            offset += rows.num_rows
            if not mask.any():
                continue
            table = self._read(part, ["embedding"])
            if table.num_rows != rows.num_rows:
                raise StoreError(f"{part}: changed while it was read ({rows.num_rows} rows, then {table.num_rows}); "
                                 "read the store again when no job writes into it")
            chosen = pa.array(mask)
            values = _vectors(part, table["embedding"].filter(chosen).combine_chunks(),
                              rows["path"].filter(chosen), width)
            matrix[at:at + len(values)] = values
            at += len(values)
        return paths, matrix

    def digest(self) -> str:
        """Names and sizes of the parts: changes whenever a part is added."""
        text = "\n".join(f"{p.name} {p.lstat().st_size}" for p in self.parts())
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def content_digest(self, parts: list[Path] | None = None) -> str:
        """sha256 over the settings and every part's name, size and bytes (read without following a
        link): what the store holds, whoever named or copied its files. About 1 GB/s of parts."""
        digest = hashlib.sha256(json.dumps(self.settings.to_json(), sort_keys=True).encode())
        for part in self.parts() if parts is None else parts:
            with _open_no_follow(part, "a part of the store") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest.update(f"\n{part.name} {size}\n".encode())
                for block in iter(lambda: handle.read(1 << 22), b""):
                    digest.update(block)
        return digest.hexdigest()

    def schema(self):
        return schema_for(self.settings)

    def read_part(self, part: Path, columns=None):
        """The rows of one part of :meth:`parts` as a ``pyarrow.Table`` (``columns``: only those), checked
        as every read is (older versions of a file included): for readers that keep where a row lives."""
        return self._read(Path(part), columns)

    def _read(self, part: Path, columns, filter=None):
        with self._opened(part) as parquet:
            try:
                table = parquet.read(columns=columns)
            except Exception as exc:  # noqa: BLE001 (pyarrow raises several kinds for a damaged file)
                raise _unreadable(part, exc) from None
        _check_rows(part, table)
        return table if filter is None else table.filter(filter)

    @contextlib.contextmanager
    def _opened(self, part: Path):
        """The ``pyarrow.parquet.ParquetFile`` of ``part``, opened without following a link, after its
        footer, settings and columns were checked (:meth:`_check_part`); closed after the block."""
        import pyarrow.parquet as pq

        with _open_no_follow(part, "a part of the store") as handle:
            try:
                parquet = pq.ParquetFile(handle)
            except Exception as exc:  # noqa: BLE001
                raise _unreadable(part, exc) from None
            self._check_part(part, parquet)
            yield parquet

    def _check_part(self, part: Path, parquet) -> None:
        """Refuse ``part`` unless its footer declares bounded counts and its settings and columns are the store's."""
        way_out = "move it out of the store (a rerun of the job recomputes its files)"
        try:
            schema = parquet.schema_arrow
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(part, exc) from None
        raw = (schema.metadata or {}).get(b"fcn4")
        if raw is None:
            raise StoreError(f"{part}: its Parquet metadata names no fcn4 settings: not a part of this store; {way_out}")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise StoreError(f"{part}: damaged settings in its Parquet metadata ({_first_line(exc)}); {way_out}") \
                from None
        theirs = StoreSettings.from_json(data, f"{part} (its Parquet metadata)", way_out)
        differ = self.settings.differences(theirs, "the store's", "the part's")
        if differ:
            raise StoreError(f"{part} was written with other settings than the store's {SETTINGS_FILE} "
                             f"({'; '.join(differ)}); {way_out}")
        expected = self.schema()
        if not schema.remove_metadata().equals(expected.remove_metadata()):
            wrong = next((f"column {f.name!r} is missing" if f.name not in schema.names else
                          f"column {f.name!r} is {schema.field(f.name).type}, expected {f.type}"
                          for f in expected if f.name not in schema.names or not schema.field(f.name).equals(f)),
                         f"columns {schema.names}, expected {expected.names}")
            raise StoreError(f"{part}: not a part of this store ({wrong}); {way_out}")
        meta = parquet.metadata
        declared = [("rows", meta.num_rows, MAX_PART_ROWS), ("row groups", meta.num_row_groups, MAX_PART_ROW_GROUPS)]
        for name, count, most in declared:
            if not 0 <= count <= most:
                raise StoreError(f"{part}: declares {count:,} {name}, more than a part may hold ({most:,}); {way_out}")
        values = size = rows = 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            rows += group.num_rows
            for c in range(group.num_columns):
                column = group.column(c)
                if column.num_values < 0 or column.total_uncompressed_size < 0:
                    raise StoreError(f"{part}: its footer declares negative sizes; {way_out}")
                values += column.num_values
                size += column.total_uncompressed_size
        for name, count, most in (("rows in its row groups", rows, MAX_PART_ROWS), ("values", values, MAX_PART_VALUES),
                                  ("bytes (uncompressed)", size, MAX_PART_BYTES)):
            if not 0 <= count <= most:
                raise StoreError(f"{part}: declares {count:,} {name}, more than a part may hold ({most:,}); {way_out}")
        if rows != meta.num_rows:
            raise StoreError(f"{part}: its footer declares {meta.num_rows:,} rows, its row groups {rows:,}; {way_out}")

    # ----------------------------------------------------------------------- writing
    def write_part(self, rows: list[dict]) -> Path:
        """Write ``rows`` as one new part, whole or not at all."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=self.schema())
        path = refuse_link(self.folder / _PART.format(time.time_ns(), os.getpid()), "a part of the store")
        with temporary_beside(path, ".parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
            replace_durably(tmp, path)
        return path

    def __repr__(self) -> str:
        return f"Store({str(self.folder)!r}, weights={self.settings.weights!r}, parts={len(self.parts())})"


#: Columns every row has (a writer never leaves them empty): a row without one is damage.
_REQUIRED = ("path", "status", "key", "size", "mtime_ns")


def _check_rows(part: Path, table) -> None:
    """Refuse a table or batch of ``part`` with a row that lacks a required column's value."""
    for name in _REQUIRED:
        if name in table.schema.names and table[name].null_count:
            raise StoreError(f"{part}: {table[name].null_count} row(s) without a {name}; move it out of the store "
                             "(a rerun of the job recomputes its files)")


def _vectors(part: Path, column, paths, width: int) -> np.ndarray:
    """The embeddings ``column`` (a list array, one per path of ``paths``) as a ``[N, width]`` float32
    matrix; a row without one, of another length, or with NaN or infinite values is refused by name."""
    import pyarrow.compute as pc

    way_out = "move the part out of the store and rerun `fcn4 embed`, which recomputes its files"
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)  # nulls (no embedding) as NaN
    wrong = np.flatnonzero(~(lengths == width))
    if len(wrong):
        found = "none" if np.isnan(lengths[wrong[0]]) else f"{int(lengths[wrong[0]])} values"
        raise StoreError(f"{part}: the embedding of {paths[int(wrong[0])]} (a row marked ok) has {found}, the "
                         f"store's are {width}; {len(wrong)} row(s) so; {way_out}")
    values = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)  # a missing value as NaN
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise StoreError(f"{part}: the embedding of {paths[int(bad[0])]} holds NaN or infinite values "
                         f"({len(bad)} row(s) so); {way_out}")
    return values


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
