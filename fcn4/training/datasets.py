"""Labelled audio datasets: readers, reproducible splits, and a registry of them by name.

A reader turns a folder into a :class:`LabelledDataset`: its label vocabulary and, for each split
(``train``, ``valid``, ``test``), the audio files with their label. Adding a dataset is one function
decorated with :func:`register_dataset`.

Examples
--------
>>> sorted(DATASETS)
['folder', 'gtzan']
>>> [len(names) for names in gtzan_filtered_split().values()]
[443, 197, 290]
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from ..audio.sources import AUDIO_EXTENSIONS
from ..base.errors import FCN4Error, DatasetError
from ..model.labels import load_labels

__all__ = ["Item", "LabelledDataset", "DatasetError", "DATASETS", "SPLITS", "SPLIT_METHODS",
           "register_dataset", "read_dataset", "stratified_split", "gtzan_filtered_split", "GTZAN_URL"]

#: The splits every reader returns, in this order.
SPLITS = ("train", "valid", "test")
#: ``filtered``: the dataset's published split where it has one; ``random``: stratified, seeded.
SPLIT_METHODS = ("filtered", "random")
#: Default shares of a random split (train, valid, test): those of GTZAN's fault-filtered split.
RANDOM_FRACTIONS = (0.5, 0.2, 0.3)
GTZAN_URL = "https://www.kaggle.com/datasets/andradaolteanu/gtzan-dataset-music-genre-classification"


class Item(NamedTuple):
    """One labelled audio file: its path and the index of its label (``single`` task), or the
    sorted tuple of its labels' indices (``multi`` task; possibly empty)."""
    path: str
    label: int | tuple[int, ...]


@dataclass(frozen=True)
class LabelledDataset:
    """A labelled dataset: the labels in output order and the items of each split.

    ``task`` is ``single`` (one label per item) or ``multi`` (a set of labels per item).
    ``notes`` are things a user should hear about (files of a published split that are not in
    the folder, for instance); the reader does not fail for them.
    """
    name: str
    root: str
    labels: tuple[str, ...]
    splits: Mapping[str, tuple[Item, ...]]
    split_method: str
    notes: tuple[str, ...] = field(default=())
    task: str = "single"

    def counts(self) -> dict[str, int]:
        """Items per split."""
        return {name: len(items) for name, items in self.splits.items()}

    def targets(self, items) -> np.ndarray:
        """The training targets of ``items``: class indices ``[N]`` (single) or 0/1 rows ``[N, C]`` (multi)."""
        if self.task == "multi":
            from .multilabel import multi_hot

            return multi_hot([item.label for item in items], len(self.labels))
        return np.asarray([item.label for item in items], np.int64)

    def __str__(self) -> str:
        sizes = " / ".join(f"{len(self.splits[s])} {s}" for s in SPLITS)
        kind = "labels, multi-label" if self.task == "multi" else "classes"
        return f"{self.name} at {self.root}: {len(self.labels)} {kind}, {sizes} ({self.split_method} split)"


Reader = Callable[..., LabelledDataset]
_REGISTRY: dict[str, Reader] = {}
#: The registered readers by name (read-only view).
DATASETS = MappingProxyType(_REGISTRY)


def register_dataset(name: str):
    """Decorator: register ``reader(data_dir, split, seed, fractions)`` under ``name``."""
    def decorate(reader: Reader) -> Reader:
        _REGISTRY[name] = reader
        return reader
    return decorate


def read_dataset(name: str, data_dir, *, split: str = "filtered", seed: int = 0,
                 fractions: Sequence[float] = RANDOM_FRACTIONS) -> LabelledDataset:
    """Read the dataset ``name`` (see :data:`DATASETS`) from ``data_dir`` and split it.

    ``split='filtered'`` is the dataset's published split (GTZAN's fault-filtered split); a
    dataset without one, and ``split='random'``, get a stratified split seeded by ``seed`` with
    ``fractions`` of each class in train, valid and test.
    """
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    if split not in SPLIT_METHODS:
        raise DatasetError(f"split must be one of {', '.join(SPLIT_METHODS)}, got {split!r}")
    if len(fractions) != 3 or min(fractions) < 0 or fractions[0] <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise DatasetError(f"fractions must be 3 shares (train, valid, test) summing to 1, got {tuple(fractions)}")
    return _REGISTRY[name](Path(os.fspath(data_dir)).expanduser(), split=split, seed=seed, fractions=tuple(fractions))


def stratified_split(labels: Sequence[int], fractions: Sequence[float] = RANDOM_FRACTIONS,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Indices of train, valid and test: each class shuffled by ``seed`` and cut by ``fractions``.

    Every class with at least 3 items has at least one in each split with a non-zero share, so
    per-class metrics exist everywhere. Indices are sorted within each split.

    Examples
    --------
    >>> parts = stratified_split([0] * 10 + [1] * 10, (0.5, 0.2, 0.3), seed=1)
    >>> [len(parts[s]) for s in SPLITS]
    [10, 4, 6]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {s: [] for s in SPLITS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n = len(members)
        n_valid, n_test = (int(round(n * f)) for f in fractions[1:])
        if n >= 3:
            n_valid = max(n_valid, 1) if fractions[1] > 0 else 0
            n_test = max(n_test, 1) if fractions[2] > 0 else 0
        n_train = max(n - n_valid - n_test, 0)
        parts["train"] += members[:n_train].tolist()
        parts["valid"] += members[n_train:n_train + n_valid].tolist()
        parts["test"] += members[n_train + n_valid:].tolist()
    return {s: np.sort(np.asarray(parts[s], np.int64)) for s in SPLITS}


@lru_cache(maxsize=None)
def gtzan_filtered_split() -> dict[str, tuple[str, ...]]:
    """GTZAN's fault-filtered split (Kereliuk and Sturm): ``<genre>/<genre>.000NN.wav`` per split."""
    folder = resources.files("fcn4").joinpath("data/splits/gtzan_filtered")
    return {s: tuple(line.strip() for line in folder.joinpath(f"{s}.txt").read_text("utf-8").splitlines()
                     if line.strip()) for s in SPLITS}


# ---------------------------------------------------------------------------------- readers
@register_dataset("gtzan")
def gtzan(data_dir: Path, *, split: str, seed: int, fractions) -> LabelledDataset:
    """GTZAN: ``genres_original/<genre>/<genre>.000NN.wav`` (Kaggle) or ``genres/.../*.au`` (original).

    ``data_dir`` may be the folder holding ``genres_original/`` (or ``genres/``) or that folder
    itself. Clips are matched to the published split by name, whatever their extension.
    """
    genres = load_labels("gtzan_genres")
    root = _gtzan_root(data_dir, genres)
    files = {}
    for genre in genres:
        for path in sorted((root / genre).iterdir()):
            if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith("."):
                files.setdefault(f"{genre}/{path.stem}", str(path))
    if split == "random":
        keys = sorted(files)
        return _random("gtzan", root, genres, [Item(files[k], genres.index(k.split("/")[0]))
                                                                for k in keys], seed, fractions)
    splits, missing = {}, 0
    for name, entries in gtzan_filtered_split().items():
        found = []
        for entry in entries:
            key = entry.rsplit(".", 1)[0]
            if key in files:
                found.append(Item(files[key], genres.index(key.split("/")[0])))
            else:
                missing += 1
        splits[name] = tuple(found)
    notes = []
    listed = sum(len(v) for v in gtzan_filtered_split().values())
    if missing:
        notes.append(f"{missing} of the {listed} clips of GTZAN's fault-filtered split are not in {root}; "
                     f"using the {listed - missing} that are")
    if not all(splits.values()):
        empty = [s for s in SPLITS if not splits[s]]
        raise DatasetError(
            f"{root} holds no clip of the fault-filtered split's {', '.join(empty)} set (clips are named like "
            f"blues/blues.00029.wav); use --split random for a stratified split of the clips it has")
    return LabelledDataset("gtzan", str(root), genres, MappingProxyType(splits), "filtered", tuple(notes))


@register_dataset("folder")
def folder(data_dir: Path, *, split: str, seed: int, fractions) -> LabelledDataset:
    """Any ``DIR/<label>/<audio files>`` dataset; labels are the sub-folder names, sorted.

    Audio files are found recursively under each label folder. It has no published split, so
    ``split`` is always a stratified random one.
    """
    if not data_dir.is_dir():
        raise DatasetError(f"data folder {data_dir} does not exist; expected DIR/<label>/<audio files>, "
                           "one sub-folder per label")
    files, empty = {}, []
    for sub in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = [str(path) for path in sorted(sub.rglob("*")) if path.is_file()
                 and path.suffix.lower() in AUDIO_EXTENSIONS
                 and not any(part.startswith(".") for part in path.relative_to(sub).parts)]
        if found:
            files[sub.name] = found
        else:
            empty.append(sub.name)
    if len(files) < 2:
        raise DatasetError(f"{data_dir} has {len(files)} label folder(s) with audio files "
                           f"({', '.join(files) or 'none'}); expected DIR/<label>/<audio files> with at least "
                           "two labels")
    labels = tuple(files)
    items = [Item(path, index) for index, label in enumerate(labels) for path in files[label]]
    notes = [f"label folders without audio files were left out: {', '.join(empty)}"] if empty else []
    return _random("folder", data_dir, labels, items, seed, fractions, notes)


def _gtzan_root(data_dir: Path, genres: Sequence[str]) -> Path:
    candidates = [data_dir / "genres_original", data_dir / "genres", data_dir / "Data" / "genres_original", data_dir]
    for candidate in candidates:
        if candidate.is_dir() and all((candidate / g).is_dir() for g in genres):
            return candidate
    found = [c for c in candidates if c.is_dir()]
    lacking = ""
    if found:
        best = found[0]
        lacking = (f"; {best} lacks the genre folder(s) "
                   f"{', '.join(g for g in genres if not (best / g).is_dir())}")
    raise DatasetError(
        f"{data_dir} is not a GTZAN folder{lacking if data_dir.exists() else ' (it does not exist)'}.\n"
        f"  expected: DIR/genres_original/<genre>/<genre>.000NN.wav (the Kaggle copy), or DIR/genres/<genre>/*.au "
        f"(the original), or DIR/<genre>/... itself, with the genres {' '.join(genres)}\n"
        f"  get GTZAN from {GTZAN_URL} and pass the folder that holds genres_original/ as --data-dir")


def _random(name, root, labels, items: list[Item], seed, fractions, notes=()) -> LabelledDataset:
    indices = stratified_split([i.label for i in items], fractions, seed)
    splits = {s: tuple(items[i] for i in indices[s]) for s in SPLITS}
    return LabelledDataset(name, str(root), tuple(labels), MappingProxyType(splits), "random", tuple(notes))
