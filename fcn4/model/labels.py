"""Label vocabularies shipped with the package, and the top-k view of a prediction.

Each vocabulary is a text file in ``fcn4/data/labels/``, one label a line, in the order of the
network outputs it names. ``mtat_top50`` is the order of the MindSpore zoo checkpoint's 50
outputs: index 0 is ``choral``, 49 is ``guitar``. It is the reverse of the order most other
MagnaTagATune code uses, so never sort it.
"""
from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources

import numpy as np

from ..base.errors import SettingError

__all__ = ["load_labels", "available_label_sets", "labels_from", "top_k", "MTAT_TAGS", "GTZAN_GENRES"]

_PACKAGE_DIR = "data/labels"


def available_label_sets() -> tuple[str, ...]:
    """Names of the label vocabularies shipped with the package."""
    folder = resources.files("fcn4").joinpath(_PACKAGE_DIR)
    return tuple(sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt")))


@lru_cache(maxsize=None)
def load_labels(name: str) -> tuple[str, ...]:
    """Return the label vocabulary ``name`` in network-output order.

    Parameters
    ----------
    name : str
        One of :func:`available_label_sets`, e.g. ``"mtat_top50"`` or ``"gtzan_genres"``.

    Examples
    --------
    >>> load_labels("mtat_top50")[:3]
    ('choral', 'female voice', 'metal')
    >>> len(load_labels("gtzan_genres"))
    10
    """
    known = available_label_sets()
    if name not in known:
        raise KeyError(f"unknown label set {name!r}; the package ships {', '.join(known)}")
    text = resources.files("fcn4").joinpath(f"{_PACKAGE_DIR}/{name}.txt").read_text("utf-8")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(set(labels)) != len(labels):
        raise SettingError(f"label set {name!r} repeats a label; each output needs its own name")
    return labels


def labels_from(value) -> tuple[str, ...]:
    """Labels from a label-set name of the package, a text file (one a line) or a sequence."""
    if isinstance(value, (str, os.PathLike)):
        name = os.fspath(value)
        if name in available_label_sets():
            return load_labels(name)
        if not os.path.isfile(name):
            raise SettingError(f"labels {name!r}: neither a label set of the package "
                             f"({', '.join(available_label_sets())}) nor a file")
        with open(name, encoding="utf-8") as handle:
            labels = tuple(line.strip() for line in handle if line.strip())
    else:
        labels = tuple(str(label) for label in value)
    if not labels or len(set(labels)) != len(labels):
        raise SettingError(f"labels {value!r}: need at least one label and no repeats")
    return labels


def top_k(probabilities, labels, k: int = 5) -> list[tuple[str, float]]:
    """Pair the ``k`` highest scores of one prediction with their labels, highest first.

    Examples
    --------
    >>> top_k([0.1, 0.7, 0.2], ["a", "b", "c"], k=2)
    [('b', 0.7), ('c', 0.2)]
    """
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if scores.shape[0] != len(labels):
        raise SettingError(f"{scores.shape[0]} scores but {len(labels)} labels: "
                         "use the label set the network's head was trained with")
    order = np.argsort(-scores, kind="stable")[:max(0, k)]
    return [(labels[i], float(scores[i])) for i in order]


MTAT_TAGS = load_labels("mtat_top50")
GTZAN_GENRES = load_labels("gtzan_genres")
