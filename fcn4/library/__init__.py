"""A music library beyond one machine: inputs listed as a stream (files, folders, globs, manifests,
remote URIs), tagging and embedding on Ray Data into a resumable Parquet store, and search by
similarity of the stored embeddings (faiss).

Imports ``fcn4.base``, ``model``, ``audio``, ``hub`` and ``inference``. Ray, pyarrow and faiss are
the optional extra ``fcn4-mindspore[ray]``: they load only when these modules are used.
"""
from ..base.lazy import lazy_exports as _lazy_exports

__all__ = ["tag_library", "embed_library", "LibraryResult", "LibraryJobError", "LibraryJobOptions", "Store",
           "StoreSettings", "StoreError", "similar", "SimilarityIndex", "iter_inputs", "MissingExtra"]

__getattr__ = _lazy_exports(__name__, {
    "job": ("tag_library", "embed_library", "LibraryResult", "LibraryJobError"),
    "results": ("LibraryJobOptions",),
    "store": ("Store", "StoreSettings", "StoreError"),
    "similarity": ("similar", "SimilarityIndex"),
    "inputs": ("iter_inputs",),
    "extra": ("MissingExtra",),
})
