"""Audio files -> model-sized log-mel windows, in worker processes, streamed back in order.

Decoding and the mel front end run in ``workers`` spawned processes while the caller runs the
network; at most ``prefetch`` files are in flight, so memory stays bounded however many files
there are. A file that cannot be used comes back with the reason instead of windows, and a file
whose decoder crashes its worker process is found, reported and skipped; the rest go on.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool

from ..base.errors import SettingError
from .frontend import AudioError, FrontEnd
from .jobs import (
    LONG_FILES,
    WINDOW_MODES,
    WINDOWS_PER_JOB,
    Decoded,
    DecodeJob,
    decode,
    plan,
)

# DecodeJob, Decoded, plan and decode live in .jobs; they are named here too, where callers import them.
__all__ = ["WINDOW_MODES", "LONG_FILES", "WINDOWS_PER_JOB", "DecodeJob", "Decoded", "DecodePool", "decode", "plan",
           "cpu_count", "default_workers"]

def cpu_count() -> int:
    """The CPUs this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Decoding processes beside a network: one per two usable CPUs, at most 4 (decoding costs
    about a tenth of the network's time)."""
    return max(1, min(4, cpu_count() // 2))


class DecodePool:
    """Worker processes that decode files; they start at once and serve every :meth:`stream`.

    ``workers=0`` decodes in the calling process (where a job's ``timeout`` is not enforced). Use
    as a context manager, or :meth:`close`.
    """

    def __init__(self, workers: int = 0):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise SettingError(f"workers must be an integer >= 0, got {workers!r}")
        self.workers = workers
        # Spawned, not forked: forking a process that runs MindSpore's threads is unsafe.
        self._context = multiprocessing.get_context("spawn")
        self._workers = _Workers(self._context, workers) if workers else None
        self._started = self._workers.started if workers else []

    @property
    def _executor(self):
        return None if self._workers is None else self._workers.executor

    def _check_started(self) -> None:
        """Fall back to decoding here, with a warning, if the workers cannot start at all."""
        try:
            for future in self._started:
                future.result()
        except BrokenProcessPool:
            warnings.warn(
                "decoding worker processes could not start, so files are decoded in this process "
                "(slower). In a script, put the code that tags under `if __name__ == '__main__':`, "
                "which spawned processes need", RuntimeWarning, stacklevel=3)
            self.close()
        self._started = []

    def stream(self, jobs: Iterable[DecodeJob], prefetch: int | None = None) -> Iterator[Decoded]:
        """Decode ``jobs``, yielding them in job order with at most ``prefetch`` in flight.

        ``prefetch`` defaults to twice the workers. A file whose decoder crashes a worker is
        found by re-running the files in flight one by one in fresh processes, and reported. A job
        still running ``timeout`` seconds after a worker started it is cut here: that worker is
        killed (a decoder stuck in C code cannot be interrupted from inside), the file reported as
        timed out, and the other files in flight are decoded again by fresh workers.
        """
        jobs = iter(jobs)
        self._check_started()
        if self._workers is None:
            yield from map(_attempt, jobs)
            return
        prefetch = max(1, prefetch or 2 * self.workers)
        in_flight: deque = deque()  # [job, token, future], in job order

        def fill():
            while len(in_flight) < prefetch:
                job = next(jobs, None)
                if job is None:
                    return
                in_flight.append([job, *self._workers.submit(job)])

        try:
            fill()
            while in_flight:
                expired = self._workers.wait(in_flight)
                if expired is not None:
                    if self._workers.kill(expired[1]):  # (False: it finished after all)
                        self._cut(in_flight, expired)
                    continue
                job, _, future = in_flight.popleft()
                try:
                    result = future.result()
                except BrokenProcessPool:
                    self._workers.close()
                    retry = [(job, None)] + [(queued, _result_of(f)) for queued, _, f in in_flight]
                    in_flight.clear()
                    for queued, kept in retry:
                        yield kept or _isolated(queued, self._context)
                    self._workers = _Workers(self._context, self.workers)
                    fill()
                    continue
                fill()
                yield result
        finally:
            for _, _, future in in_flight:  # a consumer that stops early leaves no work queued
                future.cancel()

    def _cut(self, in_flight: deque, expired: list) -> None:
        """After the worker running the job in ``expired`` (an entry of ``in_flight``) was killed:
        report that job as timed out, restart the workers and resubmit the jobs in flight that
        lost theirs."""
        self._workers.close()
        self._workers = _Workers(self._context, self.workers)
        for entry in in_flight:
            job, _, future = entry
            if entry is expired:
                entry[2] = _done(_timed_out(job))
            elif _result_of(future) is None:
                # Lost with the killed worker's pool (or, rarely, a crash of its own: found again).
                entry[1:] = self._workers.submit(job)

    def close(self) -> None:
        """Stop the worker processes."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def __enter__(self) -> "DecodePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _result_of(future: Future) -> Decoded | None:
    """A future's result if it has one already, else None."""
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    return None


def _done(result: Decoded) -> Future:
    future = Future()
    future.set_result(result)
    return future


def _timed_out(job: DecodeJob) -> Decoded:
    return Decoded(job, None, f"decoding took longer than {job.timeout:g} s (--decode-timeout) and was timed out (its "
                              "worker process was stopped); the file may be damaged, or raise the limit")


#: How often the parent looks at the clock while a job with a time-out runs.
_POLL_SECONDS = 0.05


class _Workers:
    """A process pool whose workers say, on a queue, when they start each job (a token, their pid
    and the time) and when they have finished decoding it: the parent measures each job's time-out
    from its start and can kill the process still decoding it.

    A worker says it finished, and the parent kills, each holding the pool's lock: so a worker is
    never killed while it sends a result (the executor's thread would wait for the rest of that
    message for ever), and a job that finished in time is never reported as timed out.
    """

    def __init__(self, context, workers: int):
        # A fresh queue and lock for each pool: a worker terminated while holding them jams only
        # the pool that is being replaced.
        self._queue, self._lock = context.SimpleQueue(), context.Lock()
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                                            initargs=(self._queue, self._lock))
        self._tokens = itertools.count()
        self._running: dict[int, tuple[int, float]] = {}  # token -> (pid, when it started)
        # Start the workers now, while the caller loads its network.
        self.started = [self.executor.submit(int) for _ in range(workers)]

    def submit(self, job: DecodeJob) -> tuple[int, Future]:
        token = next(self._tokens)
        try:
            future = self.executor.submit(_reported, token, job)
        except (BrokenProcessPool, RuntimeError) as exc:  # broken by an earlier job: handled with it
            future = Future()
            future.set_exception(exc if isinstance(exc, BrokenProcessPool) else BrokenProcessPool(str(exc)))
        return token, future

    def _drain(self) -> None:
        try:
            while not self._queue.empty():
                token, pid, start = self._queue.get()
                if start is None:  # finished: its result is on its way
                    self._running.pop(token, None)
                else:
                    self._running[token] = (pid, start)
        except (OSError, EOFError):  # the queue went with a closed pool
            pass

    def wait(self, in_flight: deque) -> list | None:
        """Wait until the first job in flight is done (None), or return the entry of a job in
        flight whose time-out ran out while it was running."""
        head = in_flight[0][2]
        while True:
            timed = [entry for entry in in_flight if entry[0].timeout is not None and not entry[2].done()]
            if not timed:
                futures_wait([head])
                return None
            self._drain()
            now, soonest = time.monotonic(), None
            for entry in timed:
                job, token, _ = entry
                if token in self._running:
                    left = self._running[token][1] + job.timeout - now
                    if left <= 0:
                        return entry
                    soonest = left if soonest is None else min(soonest, left)
            # A job not yet started: look again soon; otherwise sleep until the nearest deadline.
            pause = _POLL_SECONDS if soonest is None or len(timed) > sum(e[1] in self._running for e in timed) \
                else min(soonest + 0.005, 1.0)
            done, _ = futures_wait([head], timeout=pause)
            if done:
                return None

    def kill(self, token: int) -> bool:
        """Kill the process decoding the job ``token``; False if it finished decoding it first, or
        its process is gone already (a crash, which the executor reports)."""
        with self._lock:
            self._drain()
            if token not in self._running:
                return False
            pid = self._running.pop(token)[0]
            process = (self.executor._processes or {}).get(pid)
            if process is None:
                return False
            process.kill()
        process.join(5)
        return True

    def close(self) -> None:
        """Stop the workers: those still decoding a file are killed (under the lock, so never
        while one sends a result); the others finish what they send."""
        with self._lock:
            self._drain()
            for pid, _ in self._running.values():
                process = (self.executor._processes or {}).get(pid)
                if process is not None:
                    process.kill()
            self._running.clear()
        # Terminating the other workers instead could cut one while it sends a result, and the
        # executor's thread would then wait for the rest of that message forever, which hangs the
        # interpreter's exit. Waiting for them costs a few tens of ms.
        self.executor.shutdown(wait=True, cancel_futures=True)
        self._queue.close()


_STARTS = _LOCK = None  # in a worker: the queue on which it says when it starts and ends a job, its lock


def _worker_start(starts=None, lock=None) -> None:
    global _STARTS, _LOCK
    _STARTS, _LOCK = starts, lock
    # Ctrl-C is the parent's to handle; a worker killed mid-file would only add tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    try:  # one BLAS thread a worker: the cores belong to the network
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    FrontEnd().warm_up()


def _reported(token: int, job: DecodeJob) -> Decoded:
    """:func:`_attempt` in a worker, after saying on the pool's queue that it started."""
    if _STARTS is None:
        return _attempt(job)
    _STARTS.put((token, os.getpid(), time.monotonic()))
    result = _attempt(job)
    with _LOCK:  # not while the parent kills: it then sees this, and lets the result come
        _STARTS.put((token, os.getpid(), None))
    return result


def _exit_with_parent(every: float = 1.0) -> None:
    """End this worker when the process that started it is gone (killed, or a Ray worker Ray
    stopped): an orphan would otherwise wait on its queue for ever."""
    import threading
    import time

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="fcn4-parent-watch", daemon=True).start()


def _attempt(job: DecodeJob) -> Decoded:
    """Decode one job; any failure of one file becomes its reason, so the others go on. (Its
    time-out is enforced by the parent, which kills the worker: see :meth:`DecodePool.stream`.)"""
    try:
        windows, note, seconds = decode(job)
        return Decoded(job, windows, None, note, seconds)
    except AudioError as exc:
        return Decoded(job, None, exc.reason)
    except Exception as exc:  # noqa: BLE001 (a bug of ours, not the file's: say so, briefly)
        detail = " ".join(str(exc).split())[:200] or "no detail"
        return Decoded(job, None, f"an internal error while decoding it ({type(exc).__name__}: {detail}); "
                                  "please report it with the file, or re-encode the file, e.g. "
                                  "`ffmpeg -i IN OUT.wav`, and try that")


def _isolated(job: DecodeJob, context) -> Decoded:
    """``job`` alone in a fresh worker process: its result, or why that process died or was stopped."""
    workers = _Workers(context, 1)
    try:
        entry = [job, *workers.submit(job)]
        while workers.wait(deque([entry])) is not None:
            if workers.kill(entry[1]):
                return _timed_out(job)
        try:
            return entry[2].result()
        except BrokenProcessPool:
            return Decoded(job, None, "its decoder crashed (the worker process reading it died); "
                                      "re-encode the file, e.g. `ffmpeg -i IN OUT.wav`")
    finally:
        workers.close()
