"""What the Tagger hands back: a :class:`Prediction` per file, :class:`Embeddings` of many files."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.errors import SettingError
from ..model.labels import top_k
from .settings import check_top, combine

__all__ = ["Prediction", "Embeddings"]

_EMPTY = np.zeros((0, 0), np.float32)


@dataclass(frozen=True, eq=False)
class Prediction:
    """What the network said about one file, window by window, or why the file was skipped.

    Attributes
    ----------
    path : str
    labels : tuple of str
        Names of the outputs, in the checkpoint's order.
    error : str or None
        Why the file could not be used (then there are no windows).
    starts : ndarray ``[W]``
        Start of each window, in seconds into the file.
    window_probabilities : ndarray ``[W, C]``
    window_embeddings : ndarray ``[W, D]`` or None
        Present when embeddings were asked for.
    aggregate : {'mean', 'max'}
        How :attr:`probabilities` and :attr:`embedding` combine the windows.
    note : str or None
        What else to know (a file longer than the limit, tagged over its first hours).
    """
    path: str
    labels: tuple[str, ...]
    error: str | None = None
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_probabilities: np.ndarray = field(default_factory=lambda: _EMPTY)
    window_embeddings: np.ndarray | None = None
    aggregate: str = "mean"
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def probabilities(self) -> np.ndarray | None:
        """The file's ``[C]`` tag probabilities (windows combined by :attr:`aggregate`)."""
        return None if not self.ok else combine(self.window_probabilities, self.aggregate)

    @property
    def embedding(self) -> np.ndarray | None:
        """The file's ``[D]`` embedding (windows combined by :attr:`aggregate`)."""
        if not self.ok or self.window_embeddings is None:
            return None
        return combine(self.window_embeddings, self.aggregate)

    def top(self, k: int = 5, threshold: float | None = None) -> list[tuple[str, float]]:
        """The ``k`` most probable tags (``k=0``: all), keeping only those >= ``threshold``."""
        check_top(k, threshold)
        if not self.ok:
            return []
        ranked = top_k(self.probabilities, self.labels, k if k > 0 else len(self.labels))
        return [(tag, p) for tag, p in ranked if threshold is None or p >= threshold]

    def label_set(self, thresholds) -> list[tuple[str, float]]:
        """Every label whose probability is at least its threshold, most probable first.

        ``thresholds`` is one number for every label or one per label (``[C]``, the outputs' order),
        as a card's Thresholds section gives them. A failed file has none.
        """
        if not self.ok:
            return []
        cuts = np.broadcast_to(np.asarray(thresholds, np.float64), (len(self.labels),))
        probabilities = self.probabilities
        chosen = np.flatnonzero(probabilities >= cuts)
        chosen = chosen[np.argsort(-probabilities[chosen], kind="stable")]
        return [(self.labels[i], float(probabilities[i])) for i in chosen]


@dataclass(frozen=True, eq=False)
class Embeddings:
    """FCN-4 embeddings of many files: one row of :attr:`vectors` per file of :attr:`paths`.

    :meth:`save` writes them to ``.npz`` (plain arrays: ``numpy.load(..., allow_pickle=False)``
    reads it): ``embeddings`` ``[N, D]``, ``paths`` ``[N]``, ``failed_paths`` and
    ``failed_reasons``, ``window_embeddings`` ``[M, D]`` with ``window_file`` (row of ``paths``)
    and ``window_start`` (seconds), and ``window``, ``aggregate``, ``weights``, ``layer`` as strings.
    """
    paths: tuple[str, ...]
    vectors: np.ndarray
    failures: tuple[tuple[str, str], ...]
    window_vectors: np.ndarray
    window_file: np.ndarray
    window_start: np.ndarray
    window: str = "clip"
    aggregate: str = "mean"
    weights: str = ""
    layer: str = "penultimate"

    def save(self, path) -> Path:
        """Write the ``.npz`` atomically (a good file is never replaced by a partial one)."""
        from ..base.files import replace_durably, temporary_beside

        path = Path(path)
        if path.suffix != ".npz":
            raise SettingError(f"embeddings are saved as .npz; got output file '{path}'")
        failed = [p for p, _ in self.failures], [r for _, r in self.failures]
        with temporary_beside(path, ".npz") as tmp:
            np.savez(tmp, embeddings=self.vectors, paths=_strings(self.paths),
                     failed_paths=_strings(failed[0]), failed_reasons=_strings(failed[1]),
                     window_embeddings=self.window_vectors, window_file=self.window_file,
                     window_start=self.window_start, window=np.str_(self.window),
                     aggregate=np.str_(self.aggregate), weights=np.str_(self.weights), layer=np.str_(self.layer))
            replace_durably(tmp, path)
        return path


def _strings(values) -> np.ndarray:
    return np.asarray(list(values), dtype=np.str_) if len(values) else np.zeros(0, dtype="<U1")
