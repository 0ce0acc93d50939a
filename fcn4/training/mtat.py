"""MagnaTagATune (MTAT): its annotations, the 50 tags of the checkpoint, and reproducible splits.

The data folder holds ``annotations_final.csv`` (tab-separated, quoted values: ``clip_id``, 188
tag columns, ``mp3_path``) and the audio folders ``0`` ... ``f`` (directly, or under ``mp3/``).
The checkpoint's 50 tags are kept in the checkpoint's order (:data:`fcn4.MTAT_TAGS`), never
re-sorted. The split follows the audio folders, as most papers since Dieleman's do: ``0``-``b``
train, ``c`` valid, ``d``-``f`` test; or, on request, a seeded random split of the same sizes.

Examples
--------
>>> MTAT_FOLDER_SPLIT["valid"], round(sum(MTAT_RANDOM_FRACTIONS), 6)
('c', 1.0)
"""
from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from .datasets import SPLITS, DatasetError

__all__ = ["Clip", "TaggedDataset", "read_mtat", "read_annotations", "MTAT_SPLIT_METHODS", "MTAT_FOLDER_SPLIT",
           "MTAT_RANDOM_FRACTIONS", "ANNOTATIONS", "MTAT_URL"]

ANNOTATIONS = "annotations_final.csv"
MTAT_URL = "https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset"
#: ``folders``: the split by audio folder; ``random``: seeded, with the folder split's sizes.
MTAT_SPLIT_METHODS = ("folders", "random")
#: The audio folders of each split.
MTAT_FOLDER_SPLIT = MappingProxyType({"train": "0123456789ab", "valid": "c", "test": "def"})
#: Shares of the random split: those of the folder split (12, 1 and 3 of 16 folders).
MTAT_RANDOM_FRACTIONS = (12 / 16, 1 / 16, 3 / 16)


class Clip(NamedTuple):
    """One audio file to prepare: its key (MTAT's ``clip_id``), path and the indices of its labels."""
    key: str
    path: str
    tags: tuple[int, ...]


@dataclass(frozen=True)
class TaggedDataset:
    """A multi-label dataset: labels in output order, the clips of each split, and what was left out."""
    name: str
    root: str
    labels: tuple[str, ...]
    splits: Mapping[str, tuple[Clip, ...]]
    split_method: str
    notes: tuple[str, ...] = field(default=())
    #: ``(key, path, reason)`` of rows that name no usable audio file.
    skipped: tuple[tuple[str, str, str], ...] = field(default=())

    def __str__(self) -> str:
        sizes = " / ".join(f"{len(self.splits[s])} {s}" for s in SPLITS)
        return f"{self.name} at {self.root}: {len(self.labels)} labels, {sizes} ({self.split_method} split)"


def read_annotations(path) -> tuple[list[str], list[tuple[str, str, np.ndarray]]]:
    """The tag columns of ``annotations_final.csv`` and its rows as ``(clip_id, mp3_path, 0/1 tags)``."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t", quotechar='"')
        header = next(reader, None)
        if not header or "clip_id" not in header or "mp3_path" not in header:
            raise DatasetError(f"{path} is not MagnaTagATune's {ANNOTATIONS}: its first line must name the "
                               f"tab-separated columns clip_id, the tags and mp3_path (got {str(header)[:80]})")
        id_column, path_column = header.index("clip_id"), header.index("mp3_path")
        tag_columns = [i for i in range(len(header)) if i not in (id_column, path_column)]
        rows = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path}, line {number}: {len(row)} values for {len(header)} columns; "
                                   f"the file is damaged: download {ANNOTATIONS} again from {MTAT_URL}")
            try:
                tags = np.array([int(row[i]) for i in tag_columns], np.int8)
            except ValueError as exc:
                raise DatasetError(f"{path}, line {number}: a tag value is not 0 or 1 ({exc})") from exc
            rows.append((row[id_column], row[path_column], tags))
    return [header[i] for i in tag_columns], rows


def read_mtat(data_dir, *, split: str = "folders", seed: int = 0, fractions: Sequence[float] = MTAT_RANDOM_FRACTIONS,
              tags: Sequence[str] | None = None) -> TaggedDataset:
    """MagnaTagATune from ``data_dir``: the clips of each split with the ``tags`` they carry.

    ``tags`` default to the checkpoint's 50 in checkpoint order. A note is added when the data's
    50 most frequent tags are not those (the checkpoint's were chosen that way on the full data).
    """
    from ..model.labels import MTAT_TAGS

    tags = tuple(MTAT_TAGS if tags is None else tags)
    if split not in MTAT_SPLIT_METHODS:
        raise DatasetError(f"the MagnaTagATune split must be one of {', '.join(MTAT_SPLIT_METHODS)}, got {split!r}")
    data_dir = Path(os.fspath(data_dir)).expanduser()
    annotations = data_dir / ANNOTATIONS
    if not annotations.is_file():
        raise DatasetError(
            f"{data_dir} is not a MagnaTagATune folder: it has no {ANNOTATIONS}.\n"
            f"  expected: DIR/{ANNOTATIONS} and the audio folders DIR/0 ... DIR/f (or DIR/mp3/0 ... DIR/mp3/f)\n"
            f"  get both from {MTAT_URL} (mp3.zip.001-003 joined and unzipped) and pass DIR as --data-dir")
    columns, rows = read_annotations(annotations)
    absent = [t for t in tags if t not in columns]
    if absent:
        raise DatasetError(f"{annotations} has no column for the tag(s) {', '.join(absent)}; the checkpoint's tags "
                           f"are MagnaTagATune's: is this the right {ANNOTATIONS}?")
    notes = []
    frequency = np.sum([r[2] for r in rows], axis=0) if rows else np.zeros(len(columns))
    top = [columns[i] for i in np.argsort(-frequency, kind="stable")[:len(tags)]]
    if set(top) != set(tags):
        out, extra = sorted(set(tags) - set(top)), sorted(set(top) - set(tags))
        notes.append(f"the {len(tags)} most frequent tags of {annotations} are not the checkpoint's: "
                     f"{', '.join(extra[:6])}{' ...' if len(extra) > 6 else ''} rank among them and "
                     f"{', '.join(out[:6])}{' ...' if len(out) > 6 else ''} do not; keeping the checkpoint's "
                     f"{len(tags)} tags in checkpoint order")
    root = _audio_root(data_dir, [r[1] for r in rows])
    picked = [columns.index(t) for t in tags]
    clips, skipped = [], []
    for clip_id, mp3_path, row_tags in rows:
        if not mp3_path:
            skipped.append((clip_id, "", "no mp3_path in the annotations"))
            continue
        clips.append(Clip(clip_id, str(root / mp3_path), tuple(int(i) for i in np.flatnonzero(row_tags[picked]))))
    if split == "folders":
        splits = {s: [] for s in SPLITS}
        for clip in clips:
            folder = Path(clip.path).relative_to(root).parts[0]
            name = next((s for s, folders in MTAT_FOLDER_SPLIT.items() if folder in folders), None)
            if name is None:
                skipped.append((clip.key, clip.path, f"its folder {folder!r} is none of MagnaTagATune's 0-f"))
            else:
                splits[name].append(clip)
    else:
        order = np.random.default_rng(seed).permutation(len(clips))
        n_train, n_valid = (int(round(len(clips) * f)) for f in fractions[:2])
        cut = {"train": order[:n_train], "valid": order[n_train:n_train + n_valid], "test": order[n_train + n_valid:]}
        splits = {s: [clips[i] for i in sorted(cut[s])] for s in SPLITS}
    return TaggedDataset("mtat", str(root), tags, MappingProxyType({s: tuple(v) for s, v in splits.items()}),
                         split, tuple(notes), tuple(skipped))


def _audio_root(data_dir: Path, mp3_paths: Sequence[str]) -> Path:
    """The folder holding the audio folders: ``data_dir`` or ``data_dir/mp3``, whichever has the files."""
    sample = [p for p in mp3_paths if p][:50]
    candidates = [data_dir, data_dir / "mp3"]
    for candidate in candidates:
        if any((candidate / p).is_file() for p in sample):
            return candidate
    raise DatasetError(
        f"none of the audio files {ANNOTATIONS} names are under {data_dir} or {data_dir / 'mp3'} "
        f"(the first is {sample[0] if sample else 'none'}); unzip MagnaTagATune's mp3.zip so that its folders 0 ... f "
        f"sit next to {ANNOTATIONS} (get it from {MTAT_URL})")
