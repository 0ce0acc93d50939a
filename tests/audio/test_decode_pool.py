"""DecodePool's time-out: the parent cuts a job whose decoder is stuck in C code, and the rest go on."""
import ctypes
import os
import signal
import time
from dataclasses import dataclass

import pytest

from fcn4.audio.decoding import DecodeJob, DecodePool, _attempt
from fcn4.audio.frontend import FrontEnd
from fcn4.audio.synth import synth_track, write_audio

SR = 22050


@dataclass(frozen=True)
class StuckFrontEnd(FrontEnd):
    """Stays 30 s in one C call, with SIGALRM blocked, over a file named stuck-*: a decoder stuck
    in libsndfile or FFmpeg, which no signal handler in the worker can interrupt."""

    def _usable(self, path):
        if os.path.basename(str(path)).startswith("stuck-"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            ctypes.CDLL(None).sleep(30)
        if os.path.basename(str(path)).startswith("slow-"):
            time.sleep(0.6)
        if os.path.basename(str(path)).startswith("crash-"):
            os._exit(70)
        if os.path.basename(str(path)).startswith("bug-"):
            raise ZeroDivisionError("float division by zero")
        return super()._usable(path)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    paths = [str(write_audio(root / f"clip{i}.wav", synth_track(5.0, SR, seed=i), SR)) for i in range(4)]
    for i in range(3):
        (root / f"slow-{i}.wav").write_bytes(open(paths[i], "rb").read())
    stuck = root / "stuck-me.wav"
    stuck.write_bytes(open(paths[0], "rb").read())
    return paths, str(stuck)


def _stream(pool, paths, timeout, prefetch=4):
    front_end = StuckFrontEnd()
    start, results, _stream.arrived = time.monotonic(), [], []
    for result in pool.stream([DecodeJob(p, front_end, timeout=timeout, min_seconds=0.0) for p in paths],
                              prefetch=prefetch):
        results.append(result)
        _stream.arrived.append(time.monotonic() - start)
    return results, time.monotonic() - start


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.slow
def test_a_decoder_stuck_in_c_is_cut_at_its_time_out_and_its_neighbours_are_decoded(clips, workers):
    paths, stuck = clips
    order = [paths[0], stuck, paths[1], paths[2], paths[3]]
    with DecodePool(workers) as pool:
        pool._check_started()
        results, took = _stream(pool, order, timeout=1.0)
        assert [r.job.path for r in results] == order
        assert "timed out" in results[1].error
        assert "decoding took longer than 1 s (--decode-timeout)" in results[1].error
        assert all(r.error is None and r.windows.melgrams.shape[0] == 1 for i, r in enumerate(results) if i != 1)
        assert _stream.arrived[1] < 1.0 + 1.5, _stream.arrived  # not after the 30 s of the stuck call
        assert took < 1.0 + 8.0, took  # the neighbours too, by restarted workers
        # The pool still works after the restart.
        again, _ = _stream(pool, paths[:2], timeout=1.0)
        assert [r.error for r in again] == [None, None]


@pytest.mark.slow
def test_the_time_out_is_measured_from_when_a_worker_starts_the_job(clips):
    """Queued behind slow files, a file is not timed out for its wait in the queue."""
    paths, _ = clips
    slow = [os.path.join(os.path.dirname(paths[0]), f"slow-{i}.wav") for i in range(3)]
    with DecodePool(1) as pool:
        pool._check_started()
        results, took = _stream(pool, slow, timeout=1.0, prefetch=3)  # 0.6 s each, one after another
    assert [r.error for r in results] == [None] * 3
    assert took > 1.5


@pytest.mark.slow
def test_a_stuck_file_and_a_crash_in_flight_together(clips):
    paths, stuck = clips
    crash = os.path.join(os.path.dirname(stuck), "crash-me.wav")
    order = [stuck, paths[0], crash, paths[1]]
    with DecodePool(2) as pool:
        results, took = _stream(pool, order, timeout=1.0)
    assert [r.job.path for r in results] == order
    assert "timed out" in results[0].error
    assert results[1].error is None and results[3].error is None
    assert "decoder crashed" in results[2].error
    assert took < 20, took


def test_an_internal_error_says_so_instead_of_pythons_text(clips):
    paths, _ = clips
    bug = os.path.join(os.path.dirname(paths[0]), "bug-me.wav")
    error = _attempt(DecodeJob(bug, StuckFrontEnd())).error
    assert error.startswith("an internal error while decoding it (ZeroDivisionError: float division by zero)")
    assert "please report it" in error


def test_closing_the_pool_does_not_wait_for_a_stuck_decoder(clips):
    paths, stuck = clips
    pool = DecodePool(2)
    pool._check_started()
    stream = pool.stream([DecodeJob(p, StuckFrontEnd(), min_seconds=0.0) for p in [paths[0], stuck, paths[1]]], 3)
    assert next(stream).error is None
    time.sleep(0.5)  # the stuck file has started (no time-out: only closing stops it)
    start = time.monotonic()
    stream.close()
    pool.close()
    assert time.monotonic() - start < 5


@pytest.mark.slow
def test_a_job_that_finishes_as_its_time_runs_out_is_never_cut_while_sending(clips):
    """Many files whose decoding takes about their time-out: each comes back whole, or timed out."""
    paths, _ = clips
    slow = [os.path.join(os.path.dirname(paths[0]), f"slow-{i}.wav") for i in range(3)]
    with DecodePool(2) as pool:
        results, _ = _stream(pool, slow * 2, timeout=0.6, prefetch=4)
        assert [r.job.path for r in results] == slow * 2
        for r in results:
            assert r.error is None or "timed out" in r.error
        assert [r.error for r in _stream(pool, paths, timeout=5.0)[0]] == [None] * 4
