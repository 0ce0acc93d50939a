"""Data parallelism with MindSpore's own collectives: one process per device, launched by ``msrun``.

``msrun --worker_num=N --local_worker_num=N --master_port=P --join=True -m fcn4 train ...`` starts
N copies of the command; :func:`init_world` joins them (``mindspore.communication.init``) in
``DATA_PARALLEL`` mode. Each rank reads its own share of every epoch (:meth:`World.shard`), the
trainer averages the gradients across ranks before each Adam step (``nn.DistributedGradReducer``),
and one seed gives every rank the same initial weights, so all ranks hold the same weights after
every step. Batch-norm statistics, which each rank updates from its own batches, are averaged at
the end of each epoch. Only rank 0 writes files and prints.

Without msrun, :func:`init_world` returns :data:`SINGLE` (rank 0 of 1) and nothing changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..base.errors import SettingError

__all__ = ["World", "SINGLE", "DEVICES", "init_world", "launched_by_msrun"]

#: Devices MindSpore trains on; ``None`` leaves the choice to the installed MindSpore build.
DEVICES = ("CPU", "GPU", "Ascend")


def launched_by_msrun() -> bool:
    """Whether ``msrun`` started this process (as one of its workers, or as its scheduler)."""
    return os.environ.get("MS_ROLE") in ("MS_WORKER", "MS_SCHED") and "MS_WORKER_NUM" in os.environ


@dataclass(frozen=True)
class World:
    """This process's rank among ``size`` data-parallel processes.

    Examples
    --------
    >>> World(1, 2).shard(np.arange(5)).tolist()   # rank 1 of 2: every second example, padded
    [1, 3, 0]
    >>> SINGLE.gather(np.ones((3, 2)), 3).shape
    (3, 2)
    """
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes checkpoints, logs and cards."""
        return self.rank == 0

    def on_main(self, fn):
        """``fn`` on rank 0; elsewhere a function that does nothing (for logs and messages)."""
        return fn if self.main else _nothing

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's share of ``order``: every ``size``-th entry from ``rank``.

        ``order`` is first padded by wrapping round to a multiple of ``size``, so every rank gets
        the same number of examples (and of steps: a collective waits for every rank).
        """
        order = np.asarray(order)
        if self.size == 1:
            return order
        padded = np.resize(order, -(-len(order) // self.size) * self.size)
        return padded[self.rank::self.size]

    def gather(self, rows: np.ndarray, n: int) -> np.ndarray:
        """The rows of every rank's :meth:`shard` of ``arange(n)``, put back in order (``[n, ...]``)."""
        rows = np.asarray(rows)
        if self.size == 1:
            return rows[:n]
        stacked = np.zeros((self.size,) + rows.shape, np.float64)
        stacked[self.rank] = rows
        everyone = _all_sum(stacked)
        # Entry j of rank r is example r + j * size of the padded order.
        return everyone.transpose(1, 0, *range(2, everyone.ndim)).reshape((-1,) + rows.shape[1:])[:n]

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks."""
        if self.size == 1:
            return float(value)
        return float(_all_sum(np.array([value], np.float64))[0] / self.size)

    def average_parameters(self, parameters) -> None:
        """Replace each parameter by its mean over the ranks (batch-norm statistics)."""
        if self.size == 1:
            return
        from ..model.checkpoint import assign

        for param in parameters:
            assign(param, _all_sum(param.asnumpy().astype(np.float64)) / self.size)

    def barrier(self) -> None:
        """Wait until every rank gets here (after rank 0 writes what the others read)."""
        if self.size > 1:
            _all_sum(np.zeros(1))  # an all-reduce returns on no rank before every rank has joined it

    def gradient_reducer(self, parameters):
        """The cell averaging gradients over the ranks, or ``None`` in a single process."""
        if self.size == 1:
            return None
        from mindspore import nn

        return nn.DistributedGradReducer(parameters, mean=True, degree=self.size)


def _nothing(*args, **kwargs) -> None:
    pass


SINGLE = World()
_WORLD: World | None = None


def init_world(device: str | None = None) -> World:
    """Join the data-parallel group when launched by msrun (once per process); else :data:`SINGLE`.

    ``device`` (one of :data:`DEVICES`) is set first; under msrun each process gets a device of
    its machine (MindSpore negotiates the ids).
    """
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    import mindspore as ms

    if device is not None:
        if device not in DEVICES:
            raise SettingError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        ms.set_device(device)
    if not launched_by_msrun():
        _WORLD = SINGLE
        return _WORLD
    from mindspore.communication import get_group_size, get_rank, init

    init()
    if os.environ["MS_ROLE"] == "MS_SCHED":
        # msrun runs the command once more as the cluster's scheduler: init() served the workers
        # until they finished; this process has nothing to train.
        raise SystemExit(0)
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    _WORLD = World(get_rank(), get_group_size())
    return _WORLD


_ALL_SUM = None


def _all_sum(values: np.ndarray) -> np.ndarray:
    """Element-wise sum over the ranks. Graph mode: MindSpore's CPU collectives run there only."""
    global _ALL_SUM
    import mindspore as ms

    if _ALL_SUM is None:
        from mindspore import ops

        reduce = ops.AllReduce(ops.ReduceOp.SUM)

        @ms.jit
        def all_sum(x):
            return reduce(x)

        _ALL_SUM = all_sum
    # float32 on the wire (the CPU all-reduce's type); sums of a few ranks stay exact enough.
    return _ALL_SUM(ms.Tensor(values.astype(np.float32))).asnumpy().astype(np.float64)
