"""The fine-tuning kit on a GTZAN-sized corpus, and full-mode training throughput.

A synthetic corpus in GTZAN's layout (1000 clips of 30 s at 22.05 kHz, written once into
``.bench/`` and reused; its making is not timed) is fine-tuned with the command a user runs,
``python -m finetune --dataset gtzan --mode head`` (10 epochs, the default filtered split, so 930
clips), from a full-size checkpoint of seeded random weights (the MagnaTagATune one cannot be
downloaded here; speed does not depend on the values). The first run starts from an empty
cache (decode, embeddings, training, test, card); the second reuses the embedding cache.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .tagging import seeded_checkpoint
from .timing import median_seconds

_TARGET_HEAD_S = 180.0


def _finetune(corpus: Path, checkpoint: Path, out: Path, hub: Path) -> float:
    env = dict(os.environ, FCN4_HUB_DIR=str(hub), FCN4_OFFLINE="1")
    command = [sys.executable, "-m", "finetune", "--dataset", "gtzan", "--data-dir", str(corpus), "--pretrained",
               str(checkpoint), "--mode", "head", "--out", str(out), "--no-progress"]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def bench_finetune(n_per_genre: int = 100, folder: str = ".bench", full_batch: int = 8, full_steps: int = 3) -> None:
    import json

    from finetune.synthetic import write_gtzan_corpus

    print(f"\n== fine-tuning: GTZAN-sized synthetic corpus ({10 * n_per_genre} clips of 30 s at 22.05 kHz), "
          "full-size FCN-4, --mode head, 10 epochs ==")
    began = time.perf_counter()
    corpus = write_gtzan_corpus(Path(folder) / f"gtzan{10 * n_per_genre}", n_per_genre, workers=os.cpu_count() or 1)
    print(f"corpus ready in {time.perf_counter() - began:.0f} s (not timed below): {corpus}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = tmp / "random_fcn4.ckpt"
        seeded_checkpoint(checkpoint)
        cold = _finetune(corpus, checkpoint, tmp / "run1", tmp / "hub")
        metrics = json.loads((tmp / "run1" / "metrics.json").read_text())
        timing = metrics["timings"]
        verdict = "met" if cold <= _TARGET_HEAD_S else "MISSED"
        print(f"first run (empty cache): {cold:.1f} s wall, target <= {_TARGET_HEAD_S:.0f} s: {verdict}")
        print(f"  of which embeddings {timing['features_s']:.1f} s for {sum(metrics['dataset']['clips'].values())} "
              f"clips, training {timing['training_s']:.1f} s, test {timing['test_s']:.1f} s")
        warm = _finetune(corpus, checkpoint, tmp / "run2", tmp / "hub")
        timing = json.loads((tmp / "run2" / "metrics.json").read_text())["timings"]
        print(f"second run (embeddings cached): {warm:.1f} s wall (features {timing['features_s']:.1f} s, "
              f"training {timing['training_s']:.1f} s)")
    bench_full_mode(full_batch, full_steps)


def bench_full_mode(batch_size: int = 8, steps: int = 3) -> None:
    """Samples/s of the trainer's graph-mode Adam step on the full-size network (``--mode full``)."""
    import mindspore as ms

    from fcn4 import FCN4
    from fcn4.training.trainer import LogitsOf, Trainer

    ms.set_seed(0)
    net = FCN4(num_classes=10)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(LogitsOf(net), labels=[str(i) for i in range(10)], run_dir=tmp, log=lambda m: None)
    rng = np.random.default_rng(0)
    x = rng.normal(-30, 15, (batch_size, 1, 96, 1366)).astype(np.float32)
    y = rng.integers(0, 10, batch_size)
    net.set_train(True)
    began = time.perf_counter()
    trainer.step(x, y)
    compile_s = time.perf_counter() - began
    seconds = median_seconds(lambda: trainer.step(x, y), steps)
    print(f"--mode full training step, batch {batch_size}: {batch_size / seconds:.2f} samples/s "
          f"({seconds:.1f} s a step; first step with compilation {compile_s:.1f} s)")
