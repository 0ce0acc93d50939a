"""Search a store by similarity: the stored tracks whose embeddings are nearest (cosine) to a query's.

Small stores are searched exactly (``faiss.IndexFlatIP`` on unit vectors). From
:data:`EXACT_UP_TO` vectors an inverted-file index (``IndexIVFFlat``, ``nprobe`` lists searched)
is built once and cached beside the store in ``_index/``, keyed by the store's parts: a store
that grows gets a new index, and an index being written is never read.

>>> for path, score in similar("query.mp3", "my_store", k=5):     # doctest: +SKIP
...     print(f"{score:.3f} {path}")
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..base.errors import SettingError
from .extra import require
from .store import Store, StoreError

__all__ = ["EXACT_UP_TO", "SimilarityIndex", "similar", "query_vector"]

#: Stores with fewer embeddings are searched exactly; larger ones through a cached IVF index.
EXACT_UP_TO = 50_000
#: Inverted lists an IVF search visits (of about 4 * sqrt(N)): recall against time.
NPROBE = 32
_INDEX = "_index"


@dataclass
class SimilarityIndex:
    """The embeddings of a store, searchable by cosine similarity."""
    paths: list
    index: object
    exact: bool

    @classmethod
    def of(cls, store, *, exact: bool | None = None, nprobe: int = NPROBE) -> "SimilarityIndex":
        """The index of ``store`` (a :class:`~fcn4.library.store.Store` or its folder); ``exact``
        forces (or forbids) the exact search (default: exact below :data:`EXACT_UP_TO` vectors)."""
        require("faiss", "pyarrow")
        import faiss

        store = store if isinstance(store, Store) else Store(store)
        paths, _ = store.embeddings(vectors=False)  # a cached index needs the paths alone
        if not len(paths):
            raise StoreError(f"the store {store.folder} holds no embeddings yet (every file failed, or none was "
                             "embedded); run `fcn4 embed --ray -o STORE ...` first")
        exact = len(paths) < EXACT_UP_TO if exact is None else exact
        if exact:
            index = faiss.IndexFlatIP(store.settings.features)
            index.add(_unit(store.embeddings()[1]))
        else:
            index = _cached_ivf(store, len(paths), lambda: _unit(store.embeddings()[1]))
            index.nprobe = nprobe
        return cls(paths, index, exact)

    def search(self, query: np.ndarray, k: int = 10, exclude: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` stored paths nearest to the vector ``query``, with their cosine similarity,
        best first (``exclude``: a path left out of the answer, the query's own)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise SettingError(f"k must be a whole number >= 1, got {k!r}")
        query = _unit(np.asarray(query, np.float32).reshape(1, -1))
        if query.shape[1] != self.index.d:
            raise SettingError(f"a query of {query.shape[1]} values for a store of {self.index.d}-d embeddings")
        wanted = min(len(self.paths), k + (exclude is not None))
        scores, rows = self.index.search(query, wanted)
        found = [(self.paths[r], float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0 and self.paths[r] != exclude]
        return found[:k]


def similar(query, store, k: int = 10, *, exact: bool | None = None, **tagger_options) -> list[tuple[str, float]]:
    """The ``k`` tracks of ``store`` most similar to the audio file ``query`` (cosine of embeddings).

    A query the store holds uses its stored vector; another file is embedded with the store's own
    weights and settings. The query's own path is left out of the answer.
    """
    store = store if isinstance(store, Store) else Store(store)
    vector = query_vector(query, store, **tagger_options)
    return SimilarityIndex.of(store, exact=exact).search(vector, k, exclude=os.fspath(query))


def query_vector(query, store: Store, **tagger_options) -> np.ndarray:
    """The embedding of ``query``: the store's row for it when it has one, else computed as the store's were."""
    import pyarrow.compute as pc

    query = os.fspath(query)
    settings = store.settings
    if not settings.embeddings:
        raise StoreError(f"the store {store.folder} holds tags, no embeddings; write one with `fcn4 embed --ray`")
    held = store.table(["status", "embedding"], filter=pc.equal(pc.field("path"), query))
    held = held.filter(pc.equal(held["status"], "ok"))
    if held.num_rows:
        return np.asarray(held["embedding"][held.num_rows - 1].as_py(), np.float32)
    from ..inference.tagger import Tagger

    with Tagger(settings.weights, labels=list(settings.labels), **{"workers": 0, **tagger_options}) as tagger:
        sha256 = tagger.spec.sha256 if tagger.spec else None
        if sha256 != settings.sha256:
            raise StoreError(f"the weights {settings.weights} now have sha256 {sha256}, the store {store.folder} was "
                             f"written with {settings.sha256}; the query's embedding would not be comparable")
        embeddings = tagger.embed([query], window=settings.window, hop_seconds=settings.hop_seconds,
                                  aggregate=settings.aggregate, min_seconds=settings.min_seconds,
                                  max_hours=settings.max_hours, long_files=settings.long_files, progress=False)
    if embeddings.failures:
        raise SettingError(f"query {query}: {embeddings.failures[0][1]}")
    return embeddings.vectors[0]


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _cached_ivf(store: Store, count: int, load_vectors):
    """The IVF index of the store's ``count`` embeddings: read from ``_index/``, or built there from
    ``load_vectors()`` (one builder at a time)."""
    import faiss

    from ..base.files import replace_durably, temporary_beside
    from ..base.locks import waiting_lock

    folder = store.folder / _INDEX
    target = folder / f"ivf-{store.digest()}-{count}.faiss"
    with waiting_lock(folder / ".lock"):
        if target.is_file():
            try:
                index = faiss.read_index(str(target))
                if index.ntotal == count and index.d == store.settings.features:
                    return index
            except RuntimeError:
                pass  # damaged: built again below
        vectors = load_vectors()
        lists = int(min(4 * np.sqrt(len(vectors)), len(vectors) // 39))  # faiss wants 39 points a list to train
        quantizer = faiss.IndexFlatIP(vectors.shape[1])
        index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], max(1, lists), faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:256 * max(1, lists)]]
        index.train(sample)
        index.add(vectors)
        with temporary_beside(target, ".faiss") as tmp:
            faiss.write_index(index, str(tmp))
            replace_durably(tmp, target)
        for stale in folder.glob("ivf-*.faiss"):  # indexes of the store as it was
            if stale != target:
                stale.unlink(missing_ok=True)
    return index
