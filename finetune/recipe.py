"""The fine-tuning recipe: dataset -> network with a fresh head -> features -> trainer -> test -> card.

``head`` mode embeds every clip once with the frozen backbone through the tagging engine's fast
path (:class:`fcn4.Tagger`) and caches the embeddings; ``full`` and ``last-N`` decode every clip
once into cached log-mel inputs (parallel decoding processes) that MindSpore's dataset pipeline
shuffles and batches for graph-mode training steps. Both caches are keyed by the audio content
(see :mod:`finetune.clip_cache`), so a second run does no audio work at all.

Launched by ``msrun``, a run is data-parallel (:mod:`fcn4.training.parallel`): the ranks share out the
clips still to decode or embed, then each trains on its share of every batch with the gradients
averaged; rank 0 alone writes the run folder, the checkpoint and the card.

The run's skeleton (world, run folder and lock, config record, build, trainer) is
:func:`fcn4.training.run.run_training`'s; this module is its adapter for the kit.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fcn4.base.npy import load_npy
from fcn4.hub.weights import resolve
from fcn4.training.batches import ArrayBatches, PipelineBatches
from fcn4.training.datasets import SPLITS, Item, LabelledDataset, read_dataset
from fcn4.training.multilabel import multilabel_metrics
from fcn4.training.parallel import SINGLE, World
from fcn4.training.run import Plan, RunAdapter, run_training
from fcn4.training.trainer import LogitsOf

from .clip_cache import ClipCache, content_keys, front_end_key
from .config import ConfigError, FinetuneConfig, trainable_blocks
from .model import fold_standardisation, standardised_head
from .outputs import calibrated_thresholds, print_test, run_metrics, test_metrics, write_outputs

__all__ = ["run", "FinetuneResult", "Skipped"]


@dataclass(frozen=True)
class Skipped:
    """A clip left out, and why (unreadable, too short, ...)."""
    path: str
    split: str
    reason: str


@dataclass
class FinetuneResult:
    """What a run produced: where, its test metrics, its checkpoint and card, the clips it skipped."""
    run_dir: Path
    config: FinetuneConfig
    dataset: LabelledDataset
    metrics: dict
    checkpoint: Path
    card: Path | None
    uid: str | None
    skipped: list[Skipped] = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def run(config: FinetuneConfig, *, log: Callable[[str], None] | None = None,
        warn: Callable[[str], None] | None = None) -> FinetuneResult:
    """Fine-tune as ``config`` says; returns the test metrics and where the model and card are.

    The run folder is held while this runs: a second run into it is refused at once.
    """
    if config.probe:
        from .probe import run_probe

        return run_probe(config, log=log, warn=warn)
    if config.data_dir is None and config.manifest is None:
        raise ConfigError("no data: pass --data-dir (or data_dir in the config file), or --manifest FILE")
    return run_training(config, _Kit(), log=log, warn=warn)


class _Kit(RunAdapter):
    """The kit's recipe: a fresh head, cached embeddings (head) or log-mel inputs (full, last-N), test, card."""
    what = "fine-tuning run"

    def open(self, run):
        config = run.config
        if config.manifest is not None:
            from .manifest import read_manifest

            self.dataset = read_manifest(config.manifest, config.data_dir, task=config.task, seed=config.seed,
                                         fractions=config.fractions)
        else:
            self.dataset = read_dataset(config.dataset, config.data_dir, split=config.split, seed=config.seed,
                                        fractions=config.fractions)
        if self.dataset.task == "multi" and config.loss == "ce":
            raise ConfigError(f"{config.manifest} is multi-label: it trains one sigmoid per label (--loss bce), "
                              "not a softmax (--loss ce); or pass --task single")
        run.log(str(self.dataset))
        for note in self.dataset.notes:
            run.warn(note)

    def build(self, run):
        config = run.config
        return resolve(config.pretrained).build(len(self.dataset.labels), keep_head=False, in_classes=config.in_classes)

    def plan(self, run, start):
        config, net = run.config, start.network
        self.blocks = trainable_blocks(config.mode)
        net.freeze_backbone(self.blocks)
        features = _embeddings if config.mode == "head" else _melgrams
        with run.timed("features_s"):
            data, self.skipped, digest = features(net, start.front_end, self.dataset, config, run.log, run.warn,
                                                  run.world)
        self.counts = _check_counts(data, self.skipped, self.dataset, run.warn)
        self.model, batches = _model_and_batches(net, data, config, run.world)
        run.log(_plan_line(self.model, self.blocks, config, run.world))
        self.test_batches, self.valid_batches = batches["test"], batches["valid"]
        trainer = {"loss": config.loss}
        if self.dataset.task == "multi":
            labels = self.dataset.labels
            trainer["metrics"] = lambda y, p, loss: multilabel_metrics(y, p, labels, loss)
            trainer["select"] = "roc_auc" if config.select == "accuracy" else config.select
        return Plan(self.model, batches, self.dataset.labels, {"data": digest}, trainer=trainer)

    def finish(self, run, trainer, result, start):
        config, net, dataset, world = run.config, start.network, self.dataset, run.world
        thresholds = calibrated_thresholds(trainer, self.valid_batches, dataset, config.threshold_policy, config.loss)
        with run.timed("test_s"):
            test = test_metrics(trainer, self.test_batches, dataset, thresholds)
        if config.mode == "head" and self.model is not net.dense:
            fold_standardisation(self.model)
        net.unfreeze()
        checkpoint = run.run_dir / f"{config.name}.ckpt"
        card, uid = None, None
        if world.main and config.layer != "penultimate":  # not an FCN-4: the head alone, no card
            from fcn4.model.checkpoint import save_checkpoint

            checkpoint = run.run_dir / f"{config.name}_{config.layer}_head.ckpt"
            save_checkpoint(self.model.dense if hasattr(self.model, "dense") else self.model, checkpoint)
            run.log(f"a head on {config.layer}'s embeddings is not an FCN-4 checkpoint: saved alone, no card")
        elif world.main:
            card, uid = write_outputs(config, net, start.front_end, dataset, checkpoint, test, thresholds)
        run.timings["total_s"] = round(time.perf_counter() - run.began, 3)
        if world.main:
            run.write_json("metrics.json", run_metrics(config, start, dataset, self.counts, self.skipped, result, test,
                                                       checkpoint, card, uid, run.timings, world, thresholds))
        print_test(run.log, test, dataset, result.best_epoch)
        if thresholds:
            run.log("thresholds (" + config.threshold_policy + ", valid split): "
                    + ", ".join(f"{label} {thresholds[label]['threshold']:.3f}" for label in dataset.labels[:12])
                    + (" ..." if len(dataset.labels) > 12 else ""))
        return FinetuneResult(run.run_dir, config, dataset, test, checkpoint, card, uid, self.skipped, run.timings)


def _check_counts(data, skipped, dataset, warn) -> dict:
    """Usable clips per split; a split left empty is an error that names the data folder."""
    counts = {s: len(data[s][1]) for s in SPLITS}
    empty = [s for s in SPLITS if counts[s] == 0]
    if empty:
        raise ConfigError(f"no usable clip in the {', '.join(empty)} split of {dataset.root} "
                          f"({len(skipped)} skipped); check the data folder")
    if skipped:
        warn(f"skipped {len(skipped)} unreadable or unusable clip(s); training on "
             f"{counts['train']} / {counts['valid']} / {counts['test']} clips (train / valid / test)")
    return counts


def _model_and_batches(net, data, config, world):
    """What trains (the standardised head on cached embeddings, or the network on log-mel inputs) and its batches."""
    if config.mode == "head":
        train_x = data["train"][0]
        mean, std = train_x.mean(axis=0), train_x.std(axis=0)
        std = np.where(std > 1e-6 * max(1.0, float(np.abs(train_x).max())), std, 1.0)
        dense = net.dense if config.layer == "penultimate" else _layer_head(net, config.layer)
        model = standardised_head(dense, mean, std) if dense.has_bias else dense
        return model, {s: ArrayBatches(data[s][0], data[s][1], config.batch_size, config.seed, world) for s in SPLITS}
    return LogitsOf(net), {s: PipelineBatches(data[s][0], data[s][1], config.batch_size, config.seed,
                                              threads=_pipeline_threads(), world=world) for s in SPLITS}


def _layer_head(net, layer: str):
    """A fresh dense head on ``layer``'s embeddings (:meth:`fcn4.FCN4.forward_features`), named as FCN-4's."""
    from mindspore import nn

    return nn.Dense(net.feature_size(layer), net.num_classes, has_bias=True)


def _plan_line(model, blocks, config, world) -> str:
    trainable = sum(int(np.prod(p.shape)) for p in model.trainable_params())
    what = ("the head" if blocks == 0 else "every layer" if config.mode == "full"
            else f"the last {blocks} conv block(s) and the head")
    return (f"mode {config.mode}: training {trainable:,} values ({what}), {config.epochs} epochs, "
            f"batch {config.batch_size}"
            + (f" per process, data-parallel over {world.size} processes" if world.size > 1 else "")
            + f", Adam lr {config.lr}, {config.loss} loss")


# -------------------------------------------------------------------------------- features
def _items(dataset: LabelledDataset):
    return [(split, item) for split in SPLITS for item in dataset.splits[split]]


def _embeddings(net, front_end, dataset, config, log, warn, world: World = SINGLE):
    """Embeddings of every clip (cached by content, front end and backbone) and the clips skipped.

    Under data parallelism each rank embeds its share of the clips missing from the cache.
    """
    from fcn4.inference.backends import network_digest

    items = _items(dataset)
    keys = content_keys([item.path for _, item in items])
    layer = config.layer
    cache = ClipCache("embeddings", f"{network_digest(net, head=False)[:16]}-{front_end_key(front_end)}"
                                    + ("" if layer == "penultimate" else f"-{layer}"))
    found = [cache.get(key) for key in keys]
    if config.store:
        found = _from_store(config, front_end, items, keys, found, cache, log)
    missing = sorted({item.path for (_, item), hit, key in zip(items, found, keys) if hit is None and key})
    log(f"embeddings: {len(items) - len(missing)} of {len(items)} clips cached in {cache.folder}"
        + (f"; computing {len(missing)}" if missing else ""))
    key_of = {item.path: key for (_, item), key in zip(items, keys)}

    def embed(paths):
        from fcn4.inference.tagger import Tagger

        source = net if layer == "penultimate" else net.layer_view(layer)  # a view is exported under its own key
        with Tagger.from_network(source, labels=dataset.labels, front_end=front_end, backend=config.backend,
                                 workers=config.workers) as tagger:
            for prediction in tagger.predict(paths, embeddings=True, progress=config.progress and world.main):
                if prediction.ok:
                    cache.put(key_of[prediction.path], prediction.embedding.astype(np.float32))
                else:
                    cache.put_error(key_of[prediction.path], prediction.error)

    _fill_cache(missing, embed, world, missing=lambda paths: [p for p in paths if cache.get(key_of[p], load=False) is None])
    found = [hit if hit is not None else cache.get(key) for hit, key in zip(found, keys)]
    per_split, skipped, digest = _collect(items, keys, found, warn)
    data = {s: (np.stack(v) if v else np.zeros((0, net.feature_size(layer)), np.float32), _y(dataset, y))
            for s, (v, y, _) in per_split.items()}
    return data, skipped, digest


def _from_store(config, front_end, items, keys, found, cache, log) -> list:
    """``found`` with the clips the store ``config.store`` embedded filled in (and cached).

    The store must hold clip embeddings of the same weights (sha256) and front end; a file is
    taken when its path (resolved), size and modification time match the store's row.
    """
    import dataclasses
    import os

    from fcn4.library.store import Store, StoreError

    store = Store(config.store)
    s, spec = store.settings, resolve(config.pretrained)
    differ = [what for what, ok in (
        ("it holds no embeddings (written by `fcn4 tag`, not `fcn4 embed`)", s.embeddings),
        (f"its weights have sha256 {s.sha256}, --pretrained {spec.name} has {spec.sha256}", s.sha256 == spec.sha256),
        ("its front end differs from the pretrained weights'", s.front_end == dataclasses.asdict(front_end)),
        (f"it embedded --window {s.window}, training uses the centre clip", s.window == "clip"),
        (f"it holds --layer {s.layer}, this run trains on {config.layer}", s.layer == config.layer)) if not ok]
    if differ:
        raise StoreError(f"--store {config.store}: {'; '.join(differ)}; embed this dataset with "
                         f"`fcn4 embed --ray DATA -o STORE --weights {spec.name}`, or leave --store out")
    wanted = {}
    for index, ((_, item), hit, key) in enumerate(zip(items, found, keys)):
        if hit is None and key:
            wanted.setdefault(os.path.realpath(item.path), []).append(index)
    taken = 0
    # Streamed a batch at a time, and only the rows wanted become arrays: a store may hold millions.
    for batch in store.batches(["path", "status", "size", "mtime_ns", "embedding"]):
        paths, status, sizes, mtimes = (batch.column(c).to_pylist() for c in range(4))
        for row, path in enumerate(paths):
            indices = wanted.get(os.path.realpath(path)) if status[row] == "ok" else None
            if not indices:
                continue
            stat = os.stat(path)
            if (stat.st_size, stat.st_mtime_ns) != (sizes[row], mtimes[row]):
                continue  # the file changed since it was embedded
            del wanted[os.path.realpath(path)]
            vector = np.asarray(batch.column(4)[row].values.to_numpy(zero_copy_only=False), np.float32)
            for index in indices:
                cache.put(keys[index], vector)
                found[index] = (vector, None)  # as ClipCache.get gives it
            taken += len(indices)
    log(f"embeddings: {taken} clip(s) taken from the store {config.store}")
    return found


def _melgrams(net, front_end, dataset, config, log, warn, world: World = SINGLE):
    """Log-mel inputs of every clip (cached by content and front end) and the clips skipped.

    Under data parallelism each rank decodes its share of the clips missing from the cache.
    """
    import contextlib

    from fcn4.audio.decoding import DecodeJob, DecodePool, default_workers

    items = _items(dataset)
    keys = content_keys([item.path for _, item in items])
    cache = ClipCache("melgrams", front_end_key(front_end))
    found = [cache.get(key, load=False) for key in keys]
    jobs, seen = [], set()
    for (_, item), hit, key in zip(items, found, keys):
        if hit is None and key and key not in seen:
            seen.add(key)
            jobs.append((key, DecodeJob(item.path, front_end, "clip", None,
                                        front_end.seconds_for(net.min_input_size[1]))))
    log(f"log-mel inputs: {len(items) - len(jobs)} of {len(items)} clips cached in {cache.folder}"
        + (f"; decoding {len(jobs)}" if jobs else ""))
    workers = default_workers() if config.workers is None else config.workers

    def decode(work):
        with DecodePool(workers) as pool, contextlib.closing(pool.stream([j for _, j in work], 2 * max(1, workers))) as stream:
            for (key, _), decoded in zip(work, stream):
                if decoded.error is None:
                    cache.put(key, decoded.windows.melgrams[0].astype(np.float32))
                else:
                    cache.put_error(key, decoded.error)

    _fill_cache(jobs, decode, world, missing=lambda work: [(k, j) for k, j in work if cache.get(k, load=False) is None])
    found = [hit if hit is not None else cache.get(key, load=False) for hit, key in zip(found, keys)]
    per_split, skipped, digest = _collect(items, keys, found, warn)
    data = {s: (_loader([cache.array_path(key) for key in used]), _y(dataset, y))
            for s, (_, y, used) in per_split.items()}
    return data, skipped, digest


def _fill_cache(work: list, compute: Callable[[list], None], world: World, missing: Callable[[list], list]) -> None:
    """Run ``compute`` over ``work`` (what this rank's cache lacks), shared out among the ranks.

    Each rank computes every ``size``-th item. Ranks that do not share a cache folder (several
    machines) then compute here what they still lack (``missing(work)``), so every rank ends
    with every entry.
    """
    world.barrier()  # every rank has listed what it lacks before any rank adds to the cache
    share = work[world.rank::world.size]
    if share:
        compute(share)
    world.barrier()  # every rank's share is in the cache
    rest = missing(work) if world.size > 1 else []
    if rest:
        compute(rest)


def _loader(paths):
    """Reads the i-th cached log-mel input as ``[1, mels, frames]``."""
    return lambda i: load_npy(paths[i])[None]  # not np.load, on the pipeline's threads: see fcn4.base.npy


def _y(dataset: LabelledDataset, labels: list):
    """Targets of the usable clips' labels: class indices, or 0/1 rows for a multi-label dataset."""
    return dataset.targets([Item("", label) for label in labels])


def _collect(items, keys, found, warn):
    """Per split: the usable clips' cached values, labels and content keys; and the clips skipped."""
    per_split = {s: ([], [], []) for s in SPLITS}
    skipped = []
    for (split, item), key, hit in zip(items, keys, found):
        if key is not None and hit is not None and hit[1] is None:
            for column, value in zip(per_split[split], (hit[0], item.label, key)):
                column.append(value)
            continue
        reason = "cannot read the file" if key is None else (hit[1] if hit is not None else "not computed")
        skipped.append(Skipped(item.path, split, reason))
        warn(f"skipping {item.path}: {reason}")
    digest = hashlib.sha256()
    for split, (_, labels, used) in per_split.items():
        digest.update(json.dumps([split, labels, used]).encode())
    return per_split, skipped, digest.hexdigest()[:16]


def _pipeline_threads() -> int:
    from fcn4.audio.decoding import cpu_count

    return max(1, min(4, cpu_count()))


RunResult = FinetuneResult  # its name until this release
