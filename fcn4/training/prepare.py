"""``python -m fcn4 prepare``: a dataset's audio -> log-mel inputs in a MindRecord feature store.

Decoding and the mel front end run in parallel worker processes (:class:`fcn4.audio.decoding.DecodePool`);
this process writes the shards in order (:func:`fcn4.training.feature_store.write_shard`). A rerun with the same
settings skips the shards already written, so a killed run loses at most the shard in progress.
Files that cannot be decoded (corrupt or missing mp3s) are skipped and listed in ``report.json``.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..audio.frontend import DEFAULT_FRONT_END, FrontEnd
from ..base.files import folder_inside, refuse_link, remove_stray_temporaries, write_text_atomic
from ..base.locks import exclusive_folder
from ..base.progress import log_line, progress_bar
from .datasets import DATASETS, SPLIT_METHODS, SPLITS, DatasetError, read_dataset
from .feature_store import FORMAT, PLAN, REPORT, FeatureStore, shard_schema, write_shard
from .mtat import MTAT_RANDOM_FRACTIONS, MTAT_SPLIT_METHODS, Clip, TaggedDataset, read_mtat

logger = logging.getLogger(__name__)

__all__ = ["PrepareConfig", "PrepareResult", "prepare", "tagged_dataset", "split_methods", "PREPARE_DATASETS"]

#: Datasets ``prepare`` reads: MagnaTagATune (multi-label) and the single-label readers (one-hot labels).
PREPARE_DATASETS = ("mtat",) + tuple(sorted(DATASETS))


@dataclass(frozen=True)
class PrepareConfig:
    """What ``prepare`` reads, how it splits, and where the features go.

    ``split`` is the dataset's published split (default: ``folders`` for MagnaTagATune, its
    audio folders; ``filtered`` for GTZAN, its fault-filtered split) or ``random`` (seeded by
    ``seed``). ``min_seconds``: shorter files are skipped instead of padded
    (default: half the front end's clip, as a damaged file is usually short).
    """
    data_dir: str
    out: str
    dataset: str = "mtat"
    split: str | None = None
    seed: int = 0
    workers: int | None = None
    shard_size: int = 256
    min_seconds: float | None = None
    front_end: FrontEnd = field(default=DEFAULT_FRONT_END)
    progress: bool | None = None

    def __post_init__(self):
        if self.dataset not in PREPARE_DATASETS:
            raise DatasetError(f"prepare reads the datasets {', '.join(PREPARE_DATASETS)}, not {self.dataset!r}")
        methods = split_methods(self.dataset)
        if self.split is None:
            object.__setattr__(self, "split", methods[0])
        elif self.split == "folders" and self.dataset != "mtat":
            # The flag's old meaning for GTZAN-like datasets, kept for one release.
            warnings.warn(f"--split folders is MagnaTagATune's; for {self.dataset} it is called filtered",
                          DeprecationWarning, stacklevel=3)
            object.__setattr__(self, "split", methods[0])
        if self.split not in methods:
            raise DatasetError(f"the {self.dataset} split must be one of {', '.join(methods)}, got {self.split!r}")
        if self.shard_size < 1:
            raise DatasetError(f"shard_size must be at least 1, got {self.shard_size}")


@dataclass
class PrepareResult:
    """Where the features are, clips per split, the clips skipped, and how long it took."""
    store: FeatureStore
    clips: dict
    skipped: list
    written_shards: int
    reused_shards: int
    decoded: int
    seconds: float


def split_methods(dataset: str) -> tuple[str, ...]:
    """The splits ``prepare`` offers for ``dataset``, its published one first."""
    return MTAT_SPLIT_METHODS if dataset == "mtat" else SPLIT_METHODS


def tagged_dataset(name: str, data_dir, split: str | None = None, seed: int = 0) -> TaggedDataset:
    """The clips of ``name`` with their labels as tag indices (a single-label dataset gets one each)."""
    split = split or split_methods(name)[0]
    if name == "mtat":
        return read_mtat(data_dir, split=split, seed=seed, fractions=MTAT_RANDOM_FRACTIONS)
    single = read_dataset(name, data_dir, split=split, seed=seed)
    root = Path(single.root)
    splits = {s: tuple(Clip(_relative(item.path, root), item.path, (item.label,)) for item in items)
              for s, items in single.splits.items()}
    return TaggedDataset(single.name, single.root, single.labels, splits, single.split_method, single.notes)


def prepare(config: PrepareConfig, *, log: Callable[[str], None] | None = None,
            warn: Callable[[str], None] | None = None) -> PrepareResult:
    """Write the features ``config`` asks for (only the shards not written yet) and the report.

    The feature store is locked while this runs: a second ``prepare`` into it is refused at once,
    naming the process that holds it (:class:`~fcn4.base.locks.FolderBusy`).
    """
    out = Path(config.out).expanduser()
    with exclusive_folder(out, "prepare"):
        # out is the user's choice; its split folders are this package's: a link there is refused.
        for folder in [out, *(folder_inside(out, split) for split in SPLITS)]:  # what a killed run left
            remove_stray_temporaries(folder)
            for partial in folder.glob(".partial-*"):
                refuse_link(partial, "a shard being written")
                shutil.rmtree(partial, ignore_errors=True)
        for name in (PLAN, REPORT):
            refuse_link(out / name, "a file of the feature store")
        return _prepare(config, out, log or logger.info, warn or logger.warning)


def _prepare(config: PrepareConfig, out: Path, log, warn) -> PrepareResult:
    from ..audio.decoding import DecodeJob, DecodePool, cpu_count

    began = time.perf_counter()
    dataset = tagged_dataset(config.dataset, config.data_dir, config.split, config.seed)
    log(str(dataset))
    for note in dataset.notes:
        warn(note)
    plan = _plan(dataset, config)
    _check_or_write_plan(out, plan)
    store = FeatureStore(out, plan)
    clips = {s: {c.key: c for c in dataset.splits[s]} for s in SPLITS}
    pending = [(split, shard) for split in SPLITS for shard in plan["splits"][split] if not store.is_written(split, shard["name"])]
    total = sum(len(plan["splits"][s]) for s in SPLITS)
    log(f"features in {out}: {total - len(pending)} of {total} shard(s) already written"
        + (f"; writing {len(pending)}" if pending else ""))
    min_seconds = _min_seconds(config)
    schema = shard_schema(plan["feature_shape"], len(dataset.labels))
    jobs = [DecodeJob(clips[split][key].path, config.front_end, "clip", None, min_seconds)
            for split, shard in pending for key in shard["keys"]]
    # Every CPU decodes: no network competes for them here.
    workers = cpu_count() if config.workers is None else config.workers
    decoded = 0
    if jobs:
        import contextlib

        with DecodePool(workers) as pool, \
                contextlib.closing(pool.stream(jobs, 2 * max(1, workers))) as stream, \
                progress_bar(len(jobs), "prepare", "clip", config.progress) as bar:
            results = iter(stream)
            for split, shard in pending:
                records, keys, tags, skipped = [], [], [], []
                for key in shard["keys"]:
                    result = next(results)
                    clip = clips[split][key]
                    bar.update()
                    decoded += 1
                    if result.error is not None:
                        skipped.append({"key": key, "path": clip.path, "reason": result.error})
                        log_line(f"skipping {clip.path}: {result.error}")
                        continue
                    label = np.zeros(len(dataset.labels), np.int32)
                    label[list(clip.tags)] = 1
                    records.append({"feature": result.windows.melgrams[0][None].astype(np.float32), "label": label})
                    keys.append(key)
                    tags.append(list(clip.tags))
                write_shard(out / split, shard["name"], records, schema,
                            {"keys": keys, "tags": tags, "skipped": skipped})
    report = _write_report(out, store, dataset)
    seconds = time.perf_counter() - began
    counts = {s: len(store.keys(s)) for s in SPLITS}
    log(f"prepared {' / '.join(f'{counts[s]} {s}' for s in SPLITS)} clips in {out} "
        f"({decoded} decoded in {seconds:.1f} s"
        + (f", {decoded / seconds:.1f} clips/s with {workers} worker(s)" if decoded else "") + ")")
    if report:
        warn(f"skipped {len(report)} clip(s) that could not be used; they are listed in {out / REPORT}")
    if not any(counts.values()):
        raise DatasetError(f"no clip of {dataset.root} could be used ({len(report)} skipped, the reasons in "
                           f"{out / REPORT}); files shorter than {min_seconds:g} s are skipped: pass --min-seconds "
                           "to take shorter ones")
    return PrepareResult(FeatureStore.open(out), counts, report, len(pending), total - len(pending), decoded, seconds)


def _plan(dataset: TaggedDataset, config: PrepareConfig) -> dict:
    front_end = config.front_end
    shards = {}
    for split in SPLITS:
        keys = [c.key for c in dataset.splits[split]]
        shards[split] = [{"name": f"shard-{i // config.shard_size:05d}", "keys": keys[i:i + config.shard_size]}
                         for i in range(0, len(keys), config.shard_size)]
    return {"format": FORMAT, "dataset": dataset.name, "root": dataset.root, "split": dataset.split_method,
            "seed": config.seed if dataset.split_method == "random" else None, "labels": list(dataset.labels),
            "front_end": dataclasses.asdict(front_end), "feature_shape": [1, front_end.n_mels, front_end.n_frames],
            "shard_size": config.shard_size, "min_seconds": _min_seconds(config), "splits": shards}


def _min_seconds(config: PrepareConfig) -> float:
    return config.front_end.clip_seconds / 2 if config.min_seconds is None else float(config.min_seconds)


def _check_or_write_plan(out: Path, plan: dict) -> None:
    """Refuse to add to features made with other settings; else (re)write the plan."""
    path = out / PLAN
    if path.exists():
        try:
            old = json.loads(path.read_text("utf-8"))
        except ValueError:
            old = {}
        changed = [k for k in plan if k != "root" and old.get(k) != plan[k]]
        if changed:
            raise DatasetError(
                f"{out} holds features prepared with other settings ({', '.join(changed)} differ); "
                "prepare into another --out, or delete that folder to start again")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(plan) + "\n")


def _write_report(out: Path, store: FeatureStore, dataset: TaggedDataset) -> list[dict]:
    skipped = [{"split": None, "key": key, "path": path, "reason": reason} for key, path, reason in dataset.skipped]
    for split in SPLITS:
        for car in store.sidecars(split):
            skipped += [{"split": split, **entry} for entry in car["skipped"]]
    write_text_atomic(out / REPORT, json.dumps({"skipped": skipped}, indent=1) + "\n")
    return skipped


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path
