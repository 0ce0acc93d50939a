"""Search a store by similarity: the stored tracks whose embeddings are nearest (cosine) to a query's.

Small stores are searched exactly (``faiss.IndexFlatIP`` on unit vectors). From
:data:`EXACT_UP_TO` vectors an inverted-file index (``IndexIVFFlat``, ``nprobe`` lists searched)
is built once and cached beside the store in ``_index/``, keyed by what it indexes (a sha256 over
the store's settings and its parts' names, sizes and bytes: a store that grows or changes gets a
new index, an index copied from another store is never used) and named by the sha256 of its own
bytes, checked before every load (a damaged or swapped file is built again). An index being written
is never read; nothing in ``_index/`` is read, written or deleted through a symbolic link.

>>> for path, score in similar("query.mp3", "my_store", k=5):     # doctest: +SKIP
...     print(f"{score:.3f} {path}")
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.errors import SettingError, StorageError
from .extra import require
from .store import Store, StoreError, _open_no_follow

__all__ = ["EXACT_UP_TO", "SimilarityIndex", "similar", "query_vector"]

#: Stores with fewer embeddings are searched exactly; larger ones through a cached IVF index.
EXACT_UP_TO = 50_000
#: Inverted lists an IVF search visits (of about 4 * sqrt(N)): recall against time.
NPROBE = 32
_INDEX = "_index"
_CACHED = re.compile(r"^ivf-([0-9a-f]{32})-([0-9a-f]{64})\.faiss$")


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
        parts = store.parts()  # one listing: the paths, the vectors and the cache key see the same parts
        paths, _ = store.embeddings(vectors=False, parts=parts)  # a cached index needs the paths alone
        if not len(paths):
            raise StoreError(f"the store {store.folder} holds no embeddings yet (every file failed, or none was "
                             "embedded); run `fcn4 embed --ray -o STORE ...` first")

        def vectors():
            found, matrix = store.embeddings(parts=parts)
            if found != paths:
                raise StoreError(f"the store {store.folder} changed while it was read; search again")
            return _unit(matrix)

        exact = len(paths) < EXACT_UP_TO if exact is None else exact
        if exact:
            index = faiss.IndexFlatIP(store.settings.features)
            index.add(vectors())
        else:
            index = _cached_ivf(store, parts, len(paths), vectors)
            index.nprobe = nprobe
        return cls(paths, index, exact)

    def search(self, query: np.ndarray, k: int = 10, exclude: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` stored paths nearest to the vector ``query``, with their cosine similarity,
        best first (``exclude``: a path left out of the answer, the query's own)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise SettingError(f"k must be a whole number >= 1, got {k!r}")
        query = np.asarray(query, np.float32).reshape(1, -1)
        if query.shape[1] != self.index.d:
            raise SettingError(f"a query of {query.shape[1]} values for a store of {self.index.d}-d embeddings")
        if not np.isfinite(query).all():
            raise SettingError("the query's embedding holds NaN or infinite values: nothing can be ranked against it "
                               "(is the query file silent or damaged?)")
        query = _unit(query)
        wanted = min(len(self.paths), k + (exclude is not None))
        scores, rows = self.index.search(query, wanted)
        found = [(self.paths[r], float(s)) for r, s in zip(rows[0], scores[0])
                 if 0 <= r < len(self.paths) and self.paths[r] != exclude]
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
    if os.path.exists(query) and not os.path.isfile(query):
        kind = "a folder" if os.path.isdir(query) else "not a regular file"
        raise SettingError(f"query {query} is {kind}: name one audio file (`fcn4 similar FILE --store STORE`)")
    settings = store.settings
    if not settings.embeddings:
        raise StoreError(f"the store {store.folder} holds tags, no embeddings; write one with `fcn4 embed --ray`")
    held = store.table(["status", "embedding"], filter=pc.equal(pc.field("path"), query))
    held = held.filter(pc.equal(held["status"], "ok"))
    if held.num_rows:
        vector = np.asarray(held["embedding"][held.num_rows - 1].as_py(), np.float32)
        if vector.shape != (settings.features,) or not np.isfinite(vector).all():
            raise StoreError(f"the store {store.folder} holds for {query} an embedding of {vector.size} values "
                             f"(the store's are {settings.features}) or with NaN or infinite values; move the part "
                             "holding it out of the store and rerun `fcn4 embed`")
        return vector
    from ..inference.tagger import Tagger

    # The store's precision, on the engine chosen for this machine (exact engines agree within 1e-4).
    options = {"workers": 0, "settings": settings.inference, **tagger_options}
    with Tagger(settings.weights, labels=list(settings.labels), **options) as tagger:
        sha256 = tagger.spec.sha256 if tagger.spec else None
        if sha256 != settings.sha256:
            raise StoreError(f"the weights {settings.weights} now have sha256 {sha256}, the store {store.folder} was "
                             f"written with {settings.sha256}; the query's embedding would not be comparable")
        embeddings = tagger.embed([query], settings.inference, progress=False)
    if embeddings.failures:
        raise SettingError(f"query {query}: {embeddings.failures[0][1]}")
    vector = np.asarray(embeddings.vectors[0], np.float32)
    if not np.isfinite(vector).all():
        raise SettingError(f"query {query}: its embedding holds NaN or infinite values; nothing can be ranked "
                           "against it")
    return vector


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    big = ~np.isfinite(norms)  # finite values whose squares overflow float32: measured in float64
    if big.any():
        norms[big] = np.linalg.norm(vectors[big].astype(np.float64), axis=1)
    return (vectors / np.maximum(norms, 1e-12)[:, None]).astype(np.float32, copy=False)


def _cached_ivf(store: Store, parts: list, count: int, load_vectors):
    """The IVF index of the store's ``count`` embeddings in ``parts``: read from ``_index/`` when a file
    there is keyed by what the store holds and its bytes have the sha256 its name records, else built
    there from ``load_vectors()`` (one builder at a time)."""
    from ..base.files import folder_inside
    from ..base.locks import waiting_lock

    key = store.content_digest(parts)[:32]  # settings and parts' bytes: about 1 GB/s
    folder = folder_inside(store.folder, _INDEX)
    with waiting_lock(folder / ".lock"):
        index, target = None, None
        for cached in _cached_files(folder):
            if _CACHED.match(cached.name).group(1) == key:
                index = _load_verified(cached, count, store.settings.features)
                if index is not None:
                    target = cached
                    break
        if index is None:
            index, target = _build_ivf(folder, key, load_vectors())
        for stale in _cached_files(folder):  # indexes of the store as it was, or that failed their check
            if stale != target:
                from ..base.files import writing_into

                with writing_into(folder):
                    stale.unlink(missing_ok=True)
    return index


def _cached_files(folder: Path) -> list[Path]:
    """The cached index files in ``folder``, each refused if it is a symbolic link."""
    from ..base.files import refuse_link

    with os.scandir(folder) as entries:
        return sorted(Path(refuse_link(e.path, "a cached index")) for e in entries if _CACHED.match(e.name))


def _load_verified(path: Path, count: int, features: int):
    """The index in ``path`` if its bytes have the sha256 its name records and it is an inner-product
    IVF index of ``count`` vectors of ``features`` values numbered 0..count-1; else None."""
    import faiss

    with _open_no_follow(path, "a cached index") as handle:
        if os.fstat(handle.fileno()).st_size > count * (features * 4 + 8) * 2 + (256 << 20):
            return None  # far larger than such an index: not one
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != _CACHED.match(path.name).group(2):
        return None
    try:
        index = faiss.deserialize_index(np.frombuffer(data, np.uint8))  # already of its own class (a downcast of
        # this temporary would outlive it: the C++ index is freed with the first wrapper)
    except (RuntimeError, ValueError, TypeError):
        return None
    if (not isinstance(index, faiss.IndexIVFFlat) or index.ntotal != count or index.d != features
            or index.metric_type != faiss.METRIC_INNER_PRODUCT):
        return None
    lists = index.invlists
    ids = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy() for i in range(index.nlist)]
    ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    if len(ids) != count or not np.array_equal(np.sort(ids), np.arange(count)):
        return None  # every vector once, numbered as the store's rows
    return index


def _build_ivf(folder: Path, key: str, vectors: np.ndarray):
    """Build the IVF index of ``vectors`` and write it to ``folder`` (named by ``key`` and its bytes'
    sha256): (index, path). A full disk, a quota or a permission is a StorageError naming ``folder``."""
    import faiss

    from ..base.files import refuse_link, replace_durably, temporary_beside, writing_into

    lists = int(min(4 * np.sqrt(len(vectors)), len(vectors) // 39))  # faiss wants 39 points a list to train
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], max(1, lists), faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:256 * max(1, lists)]]
    index.train(sample)
    index.add(vectors)
    with temporary_beside(folder / f"ivf-{key}.faiss", ".faiss") as tmp:
        try:
            faiss.write_index(index, str(tmp))
        except RuntimeError as exc:  # faiss says a failed write so, whatever the cause
            raise StorageError(f"cannot write into {folder}: faiss could not write the index "
                               f"({str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else 'no reason'}); "
                               "free space or change permissions there, or search with --exact") from exc
        digest = hashlib.sha256()
        with _open_no_follow(tmp, "a cached index being written") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        target = refuse_link(folder / f"ivf-{key}-{digest.hexdigest()}.faiss", "a cached index")
        with writing_into(folder):
            replace_durably(tmp, target)
    return index, target
