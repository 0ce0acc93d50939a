"""MagnaTagATune: melgram preparation and the full-size FCN-4's training throughput.

A synthetic MTAT-shaped tree (mp3 clips of 29.1 s at 16 kHz, as MagnaTagATune's are; written once
into ``.bench/`` and reused, not timed) is prepared with the command a user runs,
``python -m fcn4 prepare``, into a fresh feature store. Training steps of the full-size network
(the seed's recipe: Adam, sigmoid BCE, graph mode) then run on batches read from that store,
in a process of their own so that its peak memory is its own.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_TARGET_TRAIN = 1.2  # samples/s, single process, 2 cores

_TRAIN = """
import sys
from benchmarks.mtat import train_throughput
train_throughput(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
"""


def bench_mtat(clips_per_folder: int = 8, batch_size: int = 32, steps: int = 3, folder: str = ".bench") -> None:
    from fcn4.training.synthetic import write_mtat_corpus

    n = 16 * clips_per_folder
    print(f"\n== MagnaTagATune: {n} synthetic mp3 clips of 29.1 s at 16 kHz, full-size FCN-4 ==")
    root = Path(folder) / f"mtat{n}"
    began = time.perf_counter()
    write_mtat_corpus(root, clips_per_folder=clips_per_folder, corrupt=0, missing=0)
    print(f"corpus ready in {time.perf_counter() - began:.0f} s (not timed below): {root}")
    with tempfile.TemporaryDirectory() as tmp:
        features = Path(tmp) / "features"
        command = [sys.executable, "-m", "fcn4", "prepare", "--data-dir", str(root), "--out", str(features),
                   "--no-progress"]
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        print(f"prepare ({os.cpu_count()} CPUs, default workers): {n / seconds:.1f} clips/s over {seconds:.1f} s wall, "
              "start-up included")
        print("  " + next((line for line in done.stderr.splitlines() if line.startswith("prepared")), "").strip())
        done = subprocess.run([sys.executable, "-c", _TRAIN, str(features), str(batch_size), str(steps)])
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            print(f"training at batch {batch_size} failed (exit {done.returncode}; out of memory?)")
        print(f"  peak memory of the benchmark's child processes: {peak:.0f} MB")


def train_throughput(features: str, batch_size: int, steps: int) -> None:
    """Samples/s of the trainer's graph-mode Adam step on the full-size FCN-4, batches from ``features``."""
    import mindspore as ms

    from fcn4 import FCN4
    from fcn4.training.feature_store import FeatureStore
    from fcn4.training.trainer import LogitsOf, Trainer

    ms.set_device("CPU")
    store = FeatureStore.open(features, splits=("train",))
    batches = store.batches("train", batch_size)
    ms.set_seed(0)
    net = FCN4(num_classes=len(store.labels))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(LogitsOf(net), labels=store.labels, run_dir=tmp, log=lambda line: None)
    net.set_train(True)
    times, loading, epoch, first = [], [], 0, None
    while len(times) < steps:
        epoch += 1
        mark = time.perf_counter()
        for x, y in batches.epoch(epoch):
            loading.append(time.perf_counter() - mark)
            began = time.perf_counter()
            trainer.step(x, y)
            seconds = time.perf_counter() - began
            if len(y) == batch_size:  # a last, smaller batch compiles a graph of its own
                if first is None:
                    first = seconds
                else:
                    times.append(seconds)
            if len(times) == steps:
                break
            mark = time.perf_counter()
    times.sort()
    median = times[len(times) // 2]
    verdict = "met" if batch_size / median >= _TARGET_TRAIN else "MISSED"
    print(f"training step, batch {batch_size}: {batch_size / median:.2f} samples/s (median of {steps} steps, "
          f"{times[0]:.1f}-{times[-1]:.1f} s a step; first step with compilation {first:.1f} s); "
          f"target >= {_TARGET_TRAIN}: {verdict}")
    print(f"  reading a batch from the feature store (MindDataset): {sorted(loading)[len(loading) // 2]:.2f} s median")
