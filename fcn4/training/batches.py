"""Examples in batches, in the same order on every rank: in memory or through MindSpore's pipeline.

Each epoch's order is one permutation seeded by ``(seed, epoch)``, shared by all data-parallel
ranks, each taking its shard; so a resumed run sees the batches the uninterrupted run would have.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from ..base.errors import SettingError
from .parallel import SINGLE, World

__all__ = ["ArrayBatches", "PipelineBatches", "epoch_order", "batch_count"]


class ArrayBatches:
    """Examples held in memory, in batches; shuffled per epoch by ``(seed, epoch)``.

    Under data parallelism each rank takes its ``world.shard`` of every epoch.

    Examples
    --------
    >>> batches = ArrayBatches(np.zeros((5, 3), np.float32), np.arange(5), batch_size=2)
    >>> len(batches), [y.tolist() for _, y in batches.epoch(0, shuffle=False)]
    (3, [[0, 1], [2, 3], [4]])
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0, world: World = SINGLE):
        if len(x) != len(y) or len(x) == 0:
            raise SettingError(f"need as many targets as examples, and at least one: got {len(x)} and {len(y)}")
        self.x, self.y, self.batch_size, self.seed = np.asarray(x), np.asarray(y), int(batch_size), seed
        self.world = world

    def __len__(self) -> int:
        return batch_count(len(self.y), self.batch_size, self.world)

    def epoch(self, epoch: int, shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = epoch_order(len(self.y), self.seed, epoch, shuffle, self.world)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start:start + self.batch_size]
            yield self.x[chosen], self.y[chosen]


class PipelineBatches:
    """Examples loaded by ``load(i)`` through MindSpore's dataset pipeline, in batches.

    ``threads`` threads of the pipeline load examples in parallel, in the order of a per-epoch
    permutation seeded by ``(seed, epoch)``; the pipeline batches them.
    """

    def __init__(self, load: Callable[[int], np.ndarray], y: np.ndarray, batch_size: int, seed: int = 0,
                 threads: int = 2, world: World = SINGLE):
        if len(y) == 0:
            raise SettingError("no examples to train or evaluate on")
        self.load, self.y, self.batch_size, self.seed, self.threads = load, np.asarray(y), int(batch_size), seed, threads
        self.world = world

    def __len__(self) -> int:
        return batch_count(len(self.y), self.batch_size, self.world)

    def epoch(self, epoch: int, shuffle: bool = True) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        import mindspore.dataset as ds

        order = epoch_order(len(self.y), self.seed, epoch, shuffle, self.world)
        dataset = ds.GeneratorDataset(_Examples(self.load, self.y), ["x", "y"], sampler=order.tolist(),
                                      num_parallel_workers=max(1, self.threads), python_multiprocessing=False)
        dataset = dataset.batch(self.batch_size, drop_remainder=False)
        for x, y in dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            yield x, y


class _Examples:
    """Random-access source of the pipeline."""

    def __init__(self, load, y):
        self.load, self.y = load, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index):
        return np.asarray(self.load(int(index)), np.float32), self.y[index]


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool, world: World = SINGLE) -> np.ndarray:
    """This rank's examples of an epoch, in order: one permutation per ``(seed, epoch)`` shared by all ranks."""
    return world.shard(np.random.default_rng([seed, epoch]).permutation(n) if shuffle else np.arange(n))


def batch_count(n: int, batch_size: int, world: World = SINGLE) -> int:
    """Batches per epoch on each rank (all ranks have as many)."""
    return math.ceil(math.ceil(n / world.size) / batch_size)
