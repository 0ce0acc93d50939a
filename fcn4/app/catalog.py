"""What the page shows of a store, read once: the small columns of every track in memory, the rest on demand.

A :class:`Catalog` keeps, for each file the store tagged (its newest row), its path, key, duration,
top tags and where its row lives (part, row): the table is sorted, searched, filtered and paged
from these alone, so a store of 100,000 tracks answers a page in milliseconds and holds about
what those columns take. A tag filter reads that tag's probabilities from the parts once (one
part at a time) and keeps a few such columns; a track's full row (tags, taggram) is read from its
part when it is asked for.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..base.errors import SettingError, StoreError
from ..library.store import Store

__all__ = ["Catalog", "Page", "KEY", "key_text", "MAX_LIMIT", "SORTS"]

log = logging.getLogger("fcn4.app")

#: A track's name in every URL: its store key (path, size and time) in 16 hex digits, never its path.
KEY = re.compile(r"^[0-9a-f]{16}$")
#: Rows one page of the table may hold.
MAX_LIMIT = 500
#: Columns the table sorts by.
SORTS = ("path", "duration", "tags")
#: Tag columns (one float32 per row of the store) kept for filters.
TAG_COLUMNS_KEPT = 8
#: Windows a taggram sends at most (longer tracks are max-pooled to this many).
TAGGRAM_WINDOWS = 2000
_SMALL = ["path", "status", "key", "duration", "top_tags"]


def key_text(key: int) -> str:
    return f"{int(key):016x}"


@dataclass(frozen=True)
class Page:
    """One page of the table: ``total`` rows match, ``rows`` (catalog rows) from ``offset``."""
    total: int
    offset: int
    rows: np.ndarray


class Catalog:
    """The tracks of ``store`` (a :class:`~fcn4.library.store.Store`), indexed in memory (see the module)."""

    def __init__(self, store: Store):
        import pyarrow as pa
        import pyarrow.compute as pc

        self.store = store
        self.settings = store.settings
        self.parts = store.parts()
        tables, part_of, row_of, self._part_rows = [], [], [], []
        for number, part in enumerate(self.parts):
            table = store.read_part(part, _SMALL)
            tables.append(table)
            part_of.append(np.full(table.num_rows, number, np.int32))
            row_of.append(np.arange(table.num_rows, dtype=np.int32))
            self._part_rows.append(table.num_rows)
        from ..library.store import _last_of_each

        schema = store.schema()
        table = pa.concat_tables(tables) if tables else pa.schema([schema.field(c) for c in _SMALL]).empty_table()
        keep = np.zeros(table.num_rows, bool)
        if table.num_rows:
            keep[_last_of_each(table["path"])] = True
            self.failed = int((keep & ~pc.equal(table["status"], "ok").to_numpy(zero_copy_only=False)).sum())
            keep &= pc.equal(table["status"], "ok").to_numpy(zero_copy_only=False)
        else:
            self.failed = 0
        chosen = pa.array(keep)
        table = table.filter(chosen)
        self.paths = table["path"].combine_chunks()
        self.keys = table["key"].to_numpy()
        self.durations = table["duration"].fill_null(float("nan")).to_numpy()
        self.top_tags = table["top_tags"].combine_chunks()
        everywhere = np.concatenate(part_of) if part_of else np.zeros(0, np.int32)
        self.part_of = everywhere[keep]
        self.row_of = (np.concatenate(row_of) if row_of else np.zeros(0, np.int32))[keep]
        self._by_key = np.argsort(self.keys, kind="stable")
        self._orders: dict[str, np.ndarray] = {}
        self._tags: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.labels = tuple(self.settings.labels)
        self.thresholds = card_thresholds(self.settings)
        self._order("path")  # the first table's order, ready before the first request
        log.info("%s: %d tracks (%d failed) in %d parts", store.folder, len(self), self.failed, len(self.parts))

    def __len__(self) -> int:
        return len(self.keys)

    # --------------------------------------------------------------------- the table
    def row(self, key: str) -> int:
        """The catalog row of the track keyed ``key`` (16 hex digits); :class:`KeyError` if none."""
        if not KEY.match(key or ""):
            raise SettingError(f"{key!r} is not a track's key: tracks are named by the 16 hex digits of their key "
                               "(see /api/tracks), never by a path")
        value = np.uint64(int(key, 16))
        at = np.searchsorted(self.keys, value, sorter=self._by_key)
        if at < len(self.keys) and self.keys[self._by_key[at]] == value:
            return int(self._by_key[at])
        raise KeyError(key)

    def page(self, *, query: str = "", tag: str | None = None, at_least=None, sort: str = "path",
             descending: bool = False, offset: int = 0, limit: int = 50) -> Page:
        """The rows matching ``query`` (in the path, any case) and ``tag`` (probability >= ``at_least``, a
        number or ``'card'`` for the weights' threshold), sorted by ``sort``, from ``offset``."""
        import pyarrow.compute as pc

        if sort not in SORTS:
            raise SettingError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise SettingError(f"limit must be 1 to {MAX_LIMIT} and offset >= 0, got {limit} and {offset}")
        order = self._order(sort)
        if descending:
            order = order[::-1]
        mask = None
        if query:
            mask = pc.match_substring(self.paths, query, ignore_case=True).to_numpy(zero_copy_only=False)
        if tag:
            above = self.tag_values(tag) >= self.threshold(tag, at_least)
            mask = above if mask is None else mask & above
        if mask is not None:
            order = order[mask[order]]
        return Page(len(order), offset, order[offset:offset + limit])

    def threshold(self, tag: str, at_least) -> float:
        """The probability a ``tag`` filter keeps from: ``at_least`` (0 to 1), ``'card'`` (the weights' own)."""
        if at_least in (None, ""):
            at_least = "card" if self.thresholds else 0.5
        if at_least == "card":
            if not self.thresholds:
                raise SettingError(f"the weights {self.settings.weights} have no thresholds in their card; filter "
                                   "with a number from 0 to 1")
            return float(self.thresholds[tag])
        try:
            value = float(at_least)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0 <= value <= 1:
            raise SettingError(f"a tag's threshold must be a number from 0 to 1 or 'card', got {str(at_least)[:40]!r}")
        return value

    def tag_values(self, tag: str) -> np.ndarray:
        """Every catalog row's probability of ``tag`` (read from the parts once, a few tags kept)."""
        if tag not in self.labels:
            raise SettingError(f"the store has no tag {tag[:80]!r}; its tags are {', '.join(self.labels[:12])}"
                               + (", ..." if len(self.labels) > 12 else ""))
        with self._lock:
            if tag in self._tags:
                self._tags.move_to_end(tag)
                return self._tags[tag]
        values = self._read_tag(self.labels.index(tag))
        with self._lock:
            self._tags[tag] = values
            while len(self._tags) > TAG_COLUMNS_KEPT:
                self._tags.popitem(last=False)
        return values

    def _read_tag(self, column: int) -> np.ndarray:
        import pyarrow as pa

        width = len(self.labels)
        values = np.zeros(len(self), np.float32)
        for number, part in enumerate(self.parts):
            mine = np.flatnonzero(self.part_of == number)
            if not len(mine):
                continue
            probabilities = self.store.read_part(part, ["probabilities"])["probabilities"]
            taken = probabilities.take(pa.array(self.row_of[mine])).combine_chunks()
            flat = taken.flatten().to_numpy(zero_copy_only=False)
            if taken.null_count or len(flat) != len(mine) * width:
                raise StoreError(f"{part}: a tagged row without {width} probabilities; move it out of the store "
                                 "(a rerun of the job recomputes its files)")
            values[mine] = flat.reshape(len(mine), width)[:, column]
        return values

    def _order(self, sort: str) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        with self._lock:
            if sort not in self._orders:
                if sort == "path":
                    order = pc.sort_indices(self.paths).to_numpy()
                elif sort == "duration":
                    order = np.argsort(np.nan_to_num(self.durations, nan=-1.0), kind="stable")
                else:  # by the first top tag, then the path
                    first = pc.list_element(pc.if_else(pc.greater(pc.list_value_length(self.top_tags), 0),
                                                       self.top_tags, pa.scalar([""], self.top_tags.type)), 0)
                    order = pc.sort_indices(pa.table({"tag": first, "path": self.paths}),
                                            sort_keys=[("tag", "ascending"), ("path", "ascending")]).to_numpy()
                self._orders[sort] = order
            return self._orders[sort]

    def summary(self, row: int) -> dict:
        """What the table shows of a catalog row."""
        path = self.paths[row].as_py()
        duration = float(self.durations[row])
        return {"key": key_text(self.keys[row]), "path": path, "name": os.path.basename(path),
                "duration": None if np.isnan(duration) else round(duration, 3),
                "top_tags": self.top_tags[row].as_py() or []}

    # --------------------------------------------------------------------- a track
    def track(self, row: int) -> dict:
        """Everything the track page shows of a catalog row: every tag, its windows, the clip's span."""
        columns = ["probabilities", "starts"] + (["window_probabilities"] if self.settings.window == "track" else [])
        held = self._row(row, columns)
        found = self.summary(row)
        probabilities = np.asarray(held["probabilities"] or [], np.float32)
        order = np.argsort(-probabilities, kind="stable")
        found["tags"] = [{"tag": self.labels[i], "probability": round(float(probabilities[i]), 5),
                          **({"threshold": self.thresholds[self.labels[i]]} if self.thresholds else {})}
                         for i in order]
        found["window"] = self.settings.window
        found["clip"] = self.clip_span(found["duration"], held["starts"])
        if self.settings.window == "track":
            found["taggram"] = _taggram(held["starts"] or [], held["window_probabilities"] or [], self.labels)
        return found

    def clip_span(self, duration, starts) -> list | None:
        """[start, end] seconds of the centre clip (what clip mode tags) of a track of ``duration`` seconds."""
        clip = float(self.settings.front_end.get("clip_seconds", 29.12))
        if self.settings.window == "clip" and starts:
            return [round(float(starts[0]), 3), round(float(starts[0]) + clip, 3)]
        if duration is None:
            return None
        start = max(0.0, (duration - clip) / 2)
        return [round(start, 3), round(min(duration, start + clip), 3)]

    def embedding(self, row: int) -> np.ndarray:
        """The stored embedding of a catalog row (a store written by ``fcn4 embed``)."""
        vector = np.asarray(self._row(row, ["embedding"])["embedding"] or [], np.float32)
        if vector.shape != (self.settings.features,) or not np.isfinite(vector).all():
            raise StoreError(f"the store's embedding of {self.paths[row].as_py()} is damaged; move its part out of "
                             "the store and rerun `fcn4 embed`")
        return vector

    def _row(self, row: int, columns: list) -> dict:
        part = self.parts[self.part_of[row]]
        table = self.store.read_part(part, ["key", *columns])
        at = int(self.row_of[row])
        if table.num_rows != self._part_rows[self.part_of[row]] or table["key"][at].as_py() != int(self.keys[row]):
            raise StoreError(f"{part} changed since the page opened the store; restart `fcn4 app`")
        return {c: table[c][at].as_py() for c in columns}


def _taggram(starts, windows, labels) -> dict:
    """A track's windows' probabilities, ``[labels][windows]`` rounded, max-pooled to TAGGRAM_WINDOWS at most."""
    values = np.asarray(windows, np.float32).reshape(len(windows), -1) if len(windows) else np.zeros((0, len(labels)))
    starts = np.asarray(starts, np.float64)
    if len(values) > TAGGRAM_WINDOWS:
        groups = np.array_split(np.arange(len(values)), TAGGRAM_WINDOWS)
        values = np.stack([values[g].max(axis=0) for g in groups])
        starts = np.asarray([starts[g[0]] for g in groups])
    return {"labels": list(labels), "starts": np.round(starts, 3).tolist(),
            "values": np.round(values.T, 3).tolist()}


def card_thresholds(settings) -> dict | None:
    """{tag: threshold} from the card of the store's weights where it has them (the same weights: same
    sha256), else None. Never required: a card without thresholds, or weights that cannot be read, give None."""
    try:
        from ..hub.weights import resolve

        spec = resolve(settings.weights)
    except Exception as exc:  # noqa: BLE001 (optional: the table works without them)
        log.debug("no thresholds for %s: %s", settings.weights, exc)
        return None
    if spec.sha256 != settings.sha256:
        return None  # other weights now: their thresholds are not the store's
    found = getattr(spec, "thresholds", None)
    if found is None and getattr(spec, "card_path", None):
        try:
            from ..hub.cards import read_card

            found = getattr(read_card(spec.card_path), "thresholds", None)  # a card's Thresholds section
        except Exception as exc:  # noqa: BLE001 (optional)
            log.debug("no thresholds in %s: %s", spec.card_path, exc)
            return None
    if callable(found):  # Card.thresholds() reads its section
        try:
            found = found()
        except Exception as exc:  # noqa: BLE001 (optional)
            log.debug("no thresholds for %s: %s", settings.weights, exc)
            return None
    if not found:
        return None
    if isinstance(found, dict):
        found = {str(k): v for k, v in found.items()}
    elif len(found) == len(settings.labels):
        found = dict(zip(settings.labels, found))
    else:
        return None
    try:
        values = {tag: float(found[tag]) for tag in settings.labels}
    except (KeyError, TypeError, ValueError):
        return None
    return values if all(0 <= v <= 1 for v in values.values()) else None
