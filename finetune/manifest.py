"""Labels manifests: a table of audio files and their labels, as CSV, TSV or Parquet.

A manifest has a ``path`` column (``mp3_path`` in MagnaTagATune's ``annotations_final.csv``) and its
labels in one of two forms:

- a ``labels`` column of text, several labels separated by ``;`` or ``|`` (``rock;guitar``);
- one column per label holding 0 or 1 (MagnaTagATune's layout; ``clip_id`` is ignored).

Single-label or multi-label is read from the data (every row with exactly one label: single),
unless ``task`` says. An optional ``split`` column (``train``, ``valid``, ``test``) is honoured;
without it single-label data gets a stratified split and multi-label data an iterative stratified
one, both seeded. Relative paths are under ``data_dir`` (default: the manifest's folder). A file
named twice (told by its real path) is one clip: a repeat with the same split and labels is read once
with a warning, one with another split or labels is refused. Every fault is a
:class:`~fcn4.errors.ManifestError` naming the file, the row and the column.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> for name in "abcdef":
...     _ = (folder / f"{name}.wav").write_bytes(b"")
>>> _ = (folder / "labels.csv").write_text("path,labels\\na.wav,rock;vocals\\nb.wav,rock\\nc.wav,jazz\\n"
...                                        "d.wav,jazz|vocals\\ne.wav,rock\\nf.wav,jazz\\n")
>>> dataset = read_manifest(folder / "labels.csv")
>>> dataset.task, dataset.labels
('multi', ('jazz', 'rock', 'vocals'))
"""
from __future__ import annotations

import csv
import logging
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

from fcn4.base.errors import ManifestError
from fcn4.training.datasets import RANDOM_FRACTIONS, SPLITS, Item, LabelledDataset, stratified_split
from fcn4.training.multilabel import TASKS, iterative_stratified_split, multi_hot

__all__ = ["read_manifest", "ManifestError", "PATH_COLUMNS", "LABELS_COLUMN", "SPLIT_COLUMN", "IGNORED_COLUMNS"]

#: The column naming each audio file, in order of preference.
PATH_COLUMNS = ("path", "mp3_path")
#: The column of text labels (several separated by ``;`` or ``|``).
LABELS_COLUMN = "labels"
#: The optional column giving each row's split.
SPLIT_COLUMN = "split"
#: Columns that are neither labels nor paths (MagnaTagATune's clip ids).
IGNORED_COLUMNS = ("clip_id",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_SEPARATORS = re.compile(r"[;|]")
_SPLIT_NAMES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid", "val": "valid",
                "dev": "valid", "test": "test", "testing": "test"}
_ONE, _ZERO = ("1", "1.0", "true"), ("0", "0.0", "false")
_SHOWN = 3  # missing files named in the message
logger = logging.getLogger(__name__)


def read_manifest(path, data_dir=None, *, task: str | None = None, seed: int = 0,
                  fractions=RANDOM_FRACTIONS) -> LabelledDataset:
    """The :class:`~fcn4.training.datasets.LabelledDataset` a manifest describes (see the module).

    Parameters
    ----------
    path : path
        The manifest: ``.csv``, ``.tsv`` or ``.txt`` (comma or tab separated, told by its header
        line), or ``.parquet``.
    data_dir : path, optional
        Where relative paths start (default: the manifest's folder).
    task : {'single', 'multi'}, optional
        Overrides what the data says; ``single`` refuses a row without exactly one label.
    seed, fractions :
        The split when the manifest has no ``split`` column.
    """
    path = Path(os.fspath(path)).expanduser()
    if task not in (None, *TASKS):
        raise ManifestError(path, f"task {task!r}: use single, multi, or leave it out to read it from the data")
    if not path.is_file():
        raise ManifestError(path, "no such file; pass --manifest a CSV, TSV or Parquet file with a 'path' column")
    root = Path(os.fspath(data_dir)).expanduser() if data_dir is not None else path.parent
    columns, rows = _table(path)
    plan = _columns(path, columns)
    numbers, paths, splits, sets, vocabulary = [], [], [], [], plan["labels"]
    for number, row in rows:
        numbers.append(number)  # the row's own number: blank lines are skipped, not renumbered
        paths.append(_file(path, number, plan["path_name"], row[plan["path"]], root))
        splits.append(_split(path, number, row[plan["split"]]) if plan["split"] is not None else None)
        if plan["text"] is not None:
            names = _text_labels(path, number, row[plan["text"]])
            sets.append(names)
        else:
            sets.append(tuple(name for name, index in plan["flags"] if _flag(path, number, name, row[index])))
    if not paths:
        raise ManifestError(path, "no rows after the header; list one audio file a row")
    _missing(path, numbers, paths, plan["path_name"], root)
    numbers, paths, splits, sets = _once(path, plan["path_name"], numbers, paths, splits, sets)
    if plan["split"] is not None:  # before any audio is decoded
        for name in SPLITS:
            if name not in splits:
                raise ManifestError(path, f"no {name} rows: give some rows split {name}, or drop the split column "
                                          "for a seeded split", column=SPLIT_COLUMN)
    found_task = "single" if all(len(s) == 1 for s in sets) else "multi"
    if task == "single" and found_task == "multi":
        k = next(i for i, s in enumerate(sets) if len(s) != 1)
        raise ManifestError(path, f"{len(sets[k])} labels, but task single takes exactly one a row; "
                                  "leave --task out for multi-label", row=numbers[k], column=plan["labels_name"])
    task = task or found_task
    if plan["text"] is not None:
        vocabulary = sorted({name for names in sets for name in names})
    used = {name for names in sets for name in names}
    notes = []
    unused = [name for name in vocabulary if name not in used]
    if unused:
        notes.append(f"label(s) without any positive row left out: {', '.join(unused[:10])}"
                     + (f" and {len(unused) - 10} more" if len(unused) > 10 else ""))
    labels = tuple(name for name in vocabulary if name in used)
    if len(labels) < (2 if task == "single" else 1):
        raise ManifestError(path, f"{len(labels)} label(s) in use; a classifier needs at least two",
                            column=plan["labels_name"])
    index = {name: i for i, name in enumerate(labels)}
    items = [Item(p, index[s[0]] if task == "single" else tuple(sorted(index[n] for n in s)))
             for p, s in zip(paths, sets)]
    if plan["split"] is not None:
        chosen = {name: tuple(item for item, split in zip(items, splits) if split == name) for name in SPLITS}
        method = "manifest"
    elif task == "single":
        parts = stratified_split([item.label for item in items], fractions, seed)
        chosen, method = {s: tuple(items[i] for i in parts[s]) for s in SPLITS}, "random"
    else:
        parts = iterative_stratified_split(multi_hot([item.label for item in items], len(labels)), fractions, seed)
        chosen, method = {s: tuple(items[i] for i in parts[s]) for s in SPLITS}, "iterative stratified"
    return LabelledDataset(path.stem, str(root), labels, MappingProxyType(chosen), method, tuple(notes), task)


# ----------------------------------------------------------------------------- reading the table
def _table(path: Path) -> tuple[list[str], Iterator[tuple[int, list]]]:
    """The header and an iterator of (row number, values); rows are read as they are used."""
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return _parquet(path)
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
        header_line = handle.readline()
    except UnicodeDecodeError as exc:
        raise ManifestError(path, f"not UTF-8 text ({exc.reason}); save the manifest as UTF-8") from exc
    except OSError as exc:
        raise ManifestError(path, f"cannot be read ({exc.strerror})") from exc
    if not header_line.strip():
        handle.close()
        raise ManifestError(path, "empty: the first line must name the columns (path, labels or one per label)")
    tab = path.suffix.lower() in (".tsv", ".tab") or header_line.count("\t") > header_line.count(",")
    delimiter = "\t" if tab else ","
    try:
        if header_line.count('"') % 2:
            raise csv.Error("an unclosed quote (a column name cannot span lines)")
        header = next(csv.reader([header_line], delimiter=delimiter))
    except csv.Error as exc:
        handle.close()
        raise ManifestError(path, f"the header line is not readable as {'TSV' if tab else 'CSV'}: {exc}; "
                                  "name each column once, in one line") from exc

    def rows():
        with handle:
            reader = csv.reader(handle, delimiter=delimiter)
            number = 0
            try:
                for values in reader:
                    number += 1
                    if not any(v.strip() for v in values):
                        continue  # a blank line
                    if len(values) != len(header):
                        raise ManifestError(path, f"{len(values)} fields but the header names {len(header)}; "
                                                  f"check the {'tabs' if tab else 'commas'} (quote a value holding one)",
                                            row=number)
                    yield number, values
            except csv.Error as exc:
                raise ManifestError(path, f"not readable as {'TSV' if tab else 'CSV'}: {exc}", row=number + 1) from exc
            except UnicodeDecodeError as exc:
                raise ManifestError(path, f"not UTF-8 text ({exc.reason}); save the manifest as UTF-8",
                                    row=number + 1) from exc
    return [h.strip() for h in header], rows()


def _parquet(path: Path):
    from fcn4.library.extra import require

    require("pyarrow")
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
        columns = [str(name) for name in reader.schema_arrow.names]
    except Exception as exc:  # pyarrow raises its own errors for a damaged file
        raise ManifestError(path, f"not a readable Parquet file ({_first_line(exc)})") from exc

    def rows():
        number = 0
        batches = reader.iter_batches(batch_size=4096)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            except Exception as exc:  # a damaged row group, found as it is read
                raise ManifestError(path, f"a damaged Parquet row group at or after this row ({_first_line(exc)}); "
                                          "write the file again", row=number + 1) from exc
            for k in range(batch.num_rows):
                number += 1
                yield number, [column[k] for column in values]
    return columns, rows()


def _columns(path: Path, columns: list[str]) -> dict:
    """Where the path, split and labels are among ``columns``."""
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ManifestError(path, "appears more than once in the header; name each column once", column=repeated[0])
    if any(not c for c in columns):
        raise ManifestError(path, f"the header has an empty column name (column {columns.index('') + 1})")
    path_name = next((c for c in PATH_COLUMNS if c in columns), None)
    if path_name is None:
        raise ManifestError(path, f"no 'path' column naming the audio files (found: {', '.join(columns[:8])}"
                                  f"{' ...' if len(columns) > 8 else ''}); name it path")
    plan = {"path": columns.index(path_name), "path_name": path_name,
            "split": columns.index(SPLIT_COLUMN) if SPLIT_COLUMN in columns else None,
            "text": columns.index(LABELS_COLUMN) if LABELS_COLUMN in columns else None, "labels": []}
    if plan["text"] is not None:
        plan["labels_name"] = LABELS_COLUMN
        return plan
    flags = [(c, i) for i, c in enumerate(columns) if c not in (path_name, SPLIT_COLUMN, *IGNORED_COLUMNS)]
    if not flags:
        raise ManifestError(path, "no labels: add a 'labels' column (labels separated by ';' or '|') or one 0/1 "
                                  "column per label")
    for name, _ in flags:
        _label_name(path, None, name, name)
    plan.update(flags=flags, labels=[c for c, _ in flags], labels_name=None)
    return plan


# ------------------------------------------------------------------------------------ the values
def _file(path: Path, number: int, column: str, value, root: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(path, "no audio file named: every row needs a path", row=number, column=column)
    value = value.strip()
    if "\0" in value:
        raise ManifestError(path, "the path holds a NUL character", row=number, column=column)
    return os.path.normpath(os.path.join(root, os.path.expanduser(value)))


def _missing(path: Path, numbers: list[int], paths: list[str], column: str, root: Path) -> None:
    missing = [(number, p) for number, p in zip(numbers, paths) if not os.path.isfile(p)]
    if missing:
        shown = "; ".join(f"row {n}: {p}" for n, p in missing[:_SHOWN])
        raise ManifestError(path, f"{len(missing)} of {len(paths)} audio file(s) not found ({shown}"
                                  f"{' ...' if len(missing) > _SHOWN else ''}); relative paths start at {root}: "
                                  "pass --data-dir ROOT", row=missing[0][0], column=column)


def _once(path: Path, column: str, numbers, paths, splits, sets):
    """The rows with each audio file once (told by its real path): a repeat with the same split and labels is
    dropped with a warning; one with another split or other labels is a ManifestError naming both rows."""
    first, keep, repeats = {}, [], []
    for k, p in enumerate(paths):
        j = first.setdefault(os.path.normcase(os.path.realpath(p)), k)
        if j == k:
            keep.append(k)
            continue
        what = "split" if splits[j] != splits[k] else "labels" if set(sets[j]) != set(sets[k]) else None
        if what:
            raise ManifestError(path, f"the same audio file as row {numbers[j]} ({p}) with another {what} "
                                      f"({splits[k] if what == 'split' else ';'.join(sets[k])} against "
                                      f"{splits[j] if what == 'split' else ';'.join(sets[j])}); list each file once",
                                row=numbers[k], column=column)
        repeats.append(f"row {numbers[k]} repeats row {numbers[j]}")
    if repeats:  # one line, however many
        logger.warning("%s: %d row(s) name a file an earlier row names, with the same split and labels, and are "
                       "read once (%s%s)", path, len(repeats), ", ".join(repeats[:_SHOWN]),
                       " ..." if len(repeats) > _SHOWN else "")
    if len(keep) == len(paths):
        return numbers, paths, splits, sets
    return tuple([values[k] for k in keep] for values in (numbers, paths, splits, sets))


def _split(path: Path, number: int, value) -> str:
    name = _SPLIT_NAMES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if name is None:
        raise ManifestError(path, f"{_short(value)} is not a split; use train, valid or test", row=number,
                            column=SPLIT_COLUMN)
    return name


def _text_labels(path: Path, number: int, value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value]
    elif isinstance(value, str):
        names = [v.strip() for v in _SEPARATORS.split(value)]
    else:
        raise ManifestError(path, f"{_short(value)} is neither text nor a list of text; write the labels as "
                                  "text separated by ';' or '|'", row=number, column=LABELS_COLUMN)
    names = [n for n in names if n]
    for name in names:
        _label_name(path, number, LABELS_COLUMN, name)
    return tuple(dict.fromkeys(names))  # a label written twice is one label


def _flag(path: Path, number: int, column: str, value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)) and value in (0, 1):
        return value == 1
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _ONE or text in _ZERO:
        return text in _ONE
    raise ManifestError(path, f"{_short(value)} is neither 0 nor 1: a label column holds 0/1 flags (or put the "
                              "labels as text in a 'labels' column, separated by ';')", row=number, column=column)


def _label_name(path: Path, number: int | None, column: str, name: str) -> None:
    """Refuses a label name that would break the weights' card (a control character, a backtick)."""
    if "`" in name or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise ManifestError(path, f"the label {_short(name)} holds a control character or a backtick, which the "
                                  "weights' card cannot show; rename it", row=number, column=column)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
