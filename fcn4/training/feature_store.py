"""The feature store: log-mel inputs and multi-hot labels in MindRecord shards, as the zoo trains.

A prepared folder holds::

    features.json                    the plan: dataset, labels, front end, each split's shards and their clips
    <split>/shard-NNNNN.mindrecord   feature float32 [1, n_mels, n_frames], label int32 [n_labels]
    <split>/shard-NNNNN.mindrecord.db   (MindRecord's index)
    <split>/shard-NNNNN.json         written last: the clips the shard holds, in order, and those skipped
    report.json                      every clip left out, and why

A shard is written under ``<split>/.partial-shard-NNNNN/`` and moved into place whole; its
``.json`` is written after that, atomically. Readers take only shards with their ``.json``, so a
shard cut short by a kill is never read, and :func:`fcn4.training.prepare.prepare` writes it again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..audio.frontend import FrontEnd
from ..base.errors import StorageError
from ..base.files import refuse_link, replace_durably, write_text_atomic, writing_into
from .datasets import SPLITS, DatasetError
from .parallel import SINGLE, World
from .trainer import batch_count, epoch_order

__all__ = ["FeatureStore", "FeatureBatches", "write_shard", "shard_schema", "PLAN", "REPORT", "FORMAT"]

PLAN = "features.json"
REPORT = "report.json"
FORMAT = 1
_COLUMNS = ["feature", "label"]


def shard_schema(feature_shape, n_labels: int) -> dict:
    """The MindRecord schema of a shard: ``feature`` float32 ``[1, mels, frames]``, ``label`` int32 ``[n_labels]``."""
    return {"feature": {"type": "float32", "shape": list(feature_shape)},
            "label": {"type": "int32", "shape": [int(n_labels)]}}


def write_shard(folder, name: str, records: Iterable[Mapping], schema: Mapping, sidecar: Mapping) -> None:
    """Write one shard whole: MindRecord files first (moved into place), then ``sidecar`` as ``<name>.json``.

    ``records`` are ``{"feature": array, "label": array}``; an empty shard writes only the sidecar.
    """
    folder = Path(folder)
    partial = refuse_link(folder / f".partial-{name}", "a shard being written")
    try:
        with writing_into(folder):
            _write_shard(folder, name, partial, records, schema)
    except RuntimeError as exc:  # MindRecord's C++ writer says only "failed", never why
        if _free_bytes(folder) < _LOW_SPACE:
            shutil.rmtree(partial, ignore_errors=True)  # the space it held is given back at once
            error = StorageError(f"cannot write into {folder}: no space is left on its device (MindRecord: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); free space "
                                 "there, or choose another --out, and run the same prepare again to finish")
            error.errno = 28
            raise error from exc
        raise
    # (a shard cut by a kill or an interrupt stays under its hidden name: the next run removes it)
    shutil.rmtree(partial, ignore_errors=True)
    write_text_atomic(folder / f"{name}.json", json.dumps(dict(sidecar)) + "\n")


#: Free bytes below which a MindRecord write that failed is taken for a full disk (a page is 8 MiB).
_LOW_SPACE = 64 << 20


def _free_bytes(folder) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


def _write_shard(folder: Path, name: str, partial: Path, records, schema) -> None:
    from mindspore.mindrecord import FileWriter

    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    target = partial / f"{name}.mindrecord"
    writer, pending, written = None, [], 0
    for record in records:
        if writer is None:
            writer = FileWriter(str(target), shard_num=1, overwrite=True)
            # Pages of 8 MiB hold 15 full-size inputs with little slack (the 32 MiB default wastes
            # up to a page per shard, 50 MB for a shard of a few clips).
            writer.set_header_size(1 << 20)
            writer.set_page_size(1 << 23)
            writer.add_schema(dict(schema), "fcn4_features")
        pending.append(record)
        if len(pending) == 16:
            writer.write_raw_data(pending)
            written, pending = written + len(pending), []
    if writer is not None:
        if pending:
            writer.write_raw_data(pending)
        writer.commit()
        # The index first: a data file never sits in the folder without it. MindRecord keeps the
        # file's own name inside, so the files move under the names they were written with.
        replace_durably(partial / f"{name}.mindrecord.db", folder / f"{name}.mindrecord.db")
        replace_durably(target, folder / f"{name}.mindrecord")


class FeatureStore:
    """A prepared feature folder (see the module's docstring), opened for reading.

    Examples
    --------
    >>> FeatureStore.open("/nowhere")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fcn4.base.errors.DatasetError: /nowhere holds no prepared features (no features.json); ...
    """

    def __init__(self, root, plan: Mapping):
        self.root, self.plan = Path(root), plan

    @classmethod
    def open(cls, root, splits=SPLITS) -> FeatureStore:
        """Open ``root``; every shard of ``splits`` must be complete."""
        root = Path(os.fspath(root)).expanduser()
        try:
            plan = json.loads((root / PLAN).read_text("utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"{root} holds no prepared features (no {PLAN}); make them with python -m fcn4 "
                               f"prepare --dataset mtat --data-dir DIR --out {root}") from None
        except ValueError as exc:
            raise DatasetError(f"{root / PLAN} is damaged ({exc}); prepare the features again in another --out") from exc
        if not isinstance(plan, dict) or plan.get("format") != FORMAT:
            raise DatasetError(f"{root / PLAN} is in format {plan.get('format') if isinstance(plan, dict) else None!r}, "
                               f"this package reads {FORMAT}; prepare the features again with this version")
        _check_plan(plan, root / PLAN)
        store = cls(root, plan)
        for split in splits:
            missing = [s["name"] for s in plan["splits"][split] if not store.is_written(split, s["name"])]
            if missing:
                raise DatasetError(
                    f"the {split} features in {root} are incomplete: {len(missing)} of {len(plan['splits'][split])} "
                    f"shard(s) not written ({', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}); run the "
                    f"same python -m fcn4 prepare ... --out {root} again to finish them")
        return store

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.plan["labels"])

    @property
    def front_end(self) -> FrontEnd:
        """The front end the features were computed with."""
        return FrontEnd(**self.plan["front_end"])

    def sidecars(self, split: str) -> list[dict]:
        """The ``.json`` of each shard of ``split``, in order, each checked field by field."""
        cars = []
        for shard in self.plan["splits"][split]:
            path = self.root / split / f"{shard['name']}.json"
            try:
                car = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise DatasetError(f"{path} cannot be read ({exc}); run the same prepare again to rewrite it") from exc
            n_labels = len(self.labels)
            if not (isinstance(car, dict) and isinstance(car.get("keys"), list) and isinstance(car.get("tags"), list)
                    and len(car["keys"]) == len(car["tags"])
                    and all(isinstance(t, list) and all(isinstance(i, int) and 0 <= i < n_labels for i in t)
                            for t in car["tags"])):
                raise DatasetError(f"{path} is not a shard note this package wrote (keys and tags, one list of "
                                   f"tag indices below {n_labels} per clip); delete it and run the same prepare again")
            cars.append(car)
        return cars

    def files(self, split: str) -> list[str]:
        """The MindRecord files of ``split`` that hold clips, in order."""
        return [str(self.root / split / f"{s['name']}.mindrecord")
                for s, car in zip(self.plan["splits"][split], self.sidecars(split)) if car["keys"]]

    def keys(self, split: str) -> list[str]:
        """The clips of ``split`` in the order they are read."""
        return [key for car in self.sidecars(split) for key in car["keys"]]

    def targets(self, split: str) -> np.ndarray:
        """The 0/1 labels of ``split``, ``[clips, labels]`` int32, in the order they are read."""
        rows = [tags for car in self.sidecars(split) for tags in car["tags"]]
        targets = np.zeros((len(rows), len(self.labels)), np.int32)
        for i, tags in enumerate(rows):
            targets[i, tags] = 1
        return targets

    def batches(self, split: str, batch_size: int, seed: int = 0, world: World = SINGLE,
                threads: int = 2) -> FeatureBatches:
        """Batches of ``split`` for :class:`fcn4.training.trainer.Trainer` (each rank reads its own share)."""
        if not self.keys(split):
            raise DatasetError(f"the {split} split of the features in {self.root} holds no clips (the clips left "
                               f"out are listed in {self.root / REPORT}); prepare them from a dataset that has "
                               f"{split} clips")
        return FeatureBatches(self.files(split), self.targets(split), batch_size, seed, world, threads)

    def is_written(self, split: str, name: str) -> bool:
        """Whether shard ``name`` of ``split`` is complete (its files and its ``.json`` are in place)."""
        sidecar = self.root / split / f"{name}.json"
        if not sidecar.is_file():
            return False
        try:
            keys = json.loads(sidecar.read_text("utf-8"))["keys"]
        except (ValueError, KeyError):
            return False
        data = self.root / split / f"{name}.mindrecord"
        return not keys or (data.is_file() and Path(f"{data}.db").is_file())


def _check_plan(plan: dict, path: Path) -> None:
    """The shape of ``features.json``: labels, front end, and per split shards with safe names."""
    problems = []
    if not (isinstance(plan.get("labels"), list) and plan["labels"] and all(isinstance(x, str) for x in plan["labels"])):
        problems.append("labels (a list of names)")
    if not isinstance(plan.get("front_end"), dict):
        problems.append("front_end (the front-end settings)")
    else:
        try:
            FrontEnd(**plan["front_end"])
        except (TypeError, ValueError) as exc:
            problems.append(f"front_end ({exc})")
    splits = plan.get("splits")
    if not (isinstance(splits, dict) and all(
            isinstance(splits.get(split), list) and all(
                isinstance(shard, dict) and isinstance(shard.get("name"), str)
                and re.fullmatch(r"shard-\d{5,}", shard["name"]) and isinstance(shard.get("keys"), list)
                for shard in splits[split]) for split in SPLITS)):
        problems.append("splits (train, valid and test, each a list of shards named shard-NNNNN)")
    if problems:
        raise DatasetError(f"{path} is not a plan this package wrote: wrong or missing {', '.join(problems)}; "
                           "prepare the features again in another --out")


class FeatureBatches:
    """A split of a feature store read by MindSpore's ``MindDataset``, in batches.

    Each epoch's order is a permutation seeded by ``(seed, epoch)``, shared by all ranks; each
    rank reads its :meth:`~fcn4.training.parallel.World.shard` of it.
    """

    def __init__(self, files, y: np.ndarray, batch_size: int, seed: int = 0, world: World = SINGLE, threads: int = 2):
        if len(y) == 0:
            raise DatasetError("no clips to train or evaluate on: this split of the features is empty")
        self.files, self.y, self.batch_size, self.seed = list(files), y, int(batch_size), seed
        self.world, self.threads = world, threads

    def __len__(self) -> int:
        return batch_count(len(self.y), self.batch_size, self.world)

    def epoch(self, epoch: int, shuffle: bool = True):
        import mindspore.dataset as ds

        order = epoch_order(len(self.y), self.seed, epoch, shuffle, self.world)
        dataset = ds.MindDataset(self.files, columns_list=_COLUMNS, sampler=ds.SubsetSampler(order.tolist()),
                                 num_parallel_workers=max(1, self.threads))
        dataset = dataset.batch(self.batch_size, drop_remainder=False)
        for x, y in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            yield x, y
