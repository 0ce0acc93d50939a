"""A track's nearest tracks: the store's faiss index (:class:`~fcn4.library.similarity.SimilarityIndex`),
built or loaded once, in the background, when the app starts; its answers named by catalog rows."""
from __future__ import annotations

import logging
import threading

import numpy as np

from ..base.errors import StoreError
from ..library.similarity import SimilarityIndex
from .catalog import Catalog

__all__ = ["Neighbours", "MAX_NEIGHBOURS"]

log = logging.getLogger("fcn4.app")
#: Neighbours one query may ask for.
MAX_NEIGHBOURS = 100


class Neighbours:
    """The similarity index of ``catalog``'s store, started on a thread (:meth:`start`); :meth:`search`
    waits for it."""

    def __init__(self, catalog: Catalog, exact: bool | None = None):
        self.catalog, self.exact = catalog, exact
        self.available = catalog.settings.embeddings and len(catalog) > 0
        self._ready = threading.Event()
        self._index: SimilarityIndex | None = None
        self._error: BaseException | None = None
        self._sorted_paths = self._catalog_rows = self._index_rows = None

    def start(self) -> "Neighbours":
        if self.available:
            threading.Thread(target=self._build, name="fcn4-app-index", daemon=True).start()
        else:
            self._ready.set()
        return self

    def _build(self) -> None:
        try:
            index = SimilarityIndex.of(self.catalog.store, exact=self.exact)
            if not index.exact:  # a stored track's vector read back from the index (8 bytes a track), not its part
                index.index.make_direct_map()
            # index rows -> catalog rows, once: answers come back as paths
            paths = np.asarray(index.paths, dtype=object)
            order = np.argsort(paths, kind="stable")
            import pyarrow as pa
            import pyarrow.compute as pc

            found = pc.index_in(pa.array(index.paths, pa.string()), value_set=self.catalog.paths)
            catalog_rows = found.fill_null(-1).to_numpy().astype(np.int64)
            index_rows = np.full(len(self.catalog), -1, np.int64)
            held = catalog_rows >= 0
            index_rows[catalog_rows[held]] = np.flatnonzero(held)
            self._index_rows = index_rows
            self._sorted_paths, self._catalog_rows, self._index = paths[order], catalog_rows[order], index
            log.info("similarity index ready (%d tracks, %s)", len(paths), "exact" if index.exact else "IVF")
        except BaseException as exc:  # noqa: BLE001 (said by every search)
            log.warning("no similarity index: %s", exc)
            self._error = exc
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        """Whether the index is built (or failed, which searches say)."""
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def _require_embeddings(self) -> None:
        if not self.catalog.settings.embeddings:
            raise StoreError(f"the store {self.catalog.store.folder} holds tags, no embeddings: neighbours need a "
                             "store written by `fcn4 embed --ray`")

    def vector_of(self, row: int) -> np.ndarray:
        """The embedding of catalog ``row`` as the index holds it (unit length), else as the store holds it."""
        self._require_embeddings()
        self._ready.wait()
        if self._index is not None and self._index_rows[row] >= 0:
            return self._index.index.reconstruct(int(self._index_rows[row]))
        return self.catalog.embedding(row)

    def search(self, vector: np.ndarray, k: int, exclude: str | None = None) -> list[tuple[int, float]]:
        """(catalog row, cosine similarity) of the ``k`` tracks nearest to ``vector``, best first."""
        self._require_embeddings()
        self._ready.wait()
        if self._error is not None:
            raise StoreError(f"the store's similarity index could not be built: {self._error}")
        if self._index is None:
            return []
        found = []
        for path, score in self._index.search(vector, k, exclude=exclude):
            at = int(np.searchsorted(self._sorted_paths, path))
            if at < len(self._sorted_paths) and self._sorted_paths[at] == path and self._catalog_rows[at] >= 0:
                found.append((int(self._catalog_rows[at]), score))
        return found
