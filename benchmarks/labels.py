"""Your labels (issue 24): a linear probe of stored embeddings, and head-only multi-label fine-tuning.

- probe: 10,000 embeddings of 2048 values x 50 labels in a store written as ``fcn4 embed --ray`` writes
  one, ``python -m finetune --store S --manifest labels.csv --probe`` (5 folds, 1000 bootstrap
  resamples), timed in this process from the store's opening to probe.json; target <= 30 s.
- head: 1,000 clips of a 50-label manifest whose embeddings are in the kit's cache (as after a first run),
  ``--mode head`` multi-label fine-tuning of the full-size FCN-4's head (10 epochs, thresholds, test,
  card), timed in this process; target <= 20 s.

The embeddings are synthetic (noise plus a direction per label), so the figures measure speed only.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

_TARGET_PROBE_S = 30.0
_TARGET_HEAD_S = 20.0


def _labels_and_vectors(n: int, labels: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < rng.uniform(0.02, 0.3, labels)).astype(np.int64)
    directions = rng.normal(size=(labels, width)).astype(np.float32) * 0.08
    return y, rng.normal(size=(n, width)).astype(np.float32) + y.astype(np.float32) @ directions


def _manifest(folder: Path, y: np.ndarray, names) -> tuple[Path, list[str]]:
    """``folder/labels.csv`` over ``len(y)`` tiny distinct files (their contents key the kit's cache)."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(y)):
        path = folder / "audio" / f"clip{i:05d}.wav"
        path.write_bytes(f"clip {i}".encode())
        paths.append(str(path))
    rows = ["path,labels"] + [f"audio/clip{i:05d}.wav,{';'.join(n for n, v in zip(names, row) if v)}"
                              for i, row in enumerate(y)]
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder / "labels.csv", paths


def bench_probe(n: int = 10_000, labels: int = 50, width: int = 2048, folds: int = 5) -> None:
    from fcn4.library.store import Store, StoreSettings
    from finetune import FinetuneConfig, run

    print(f"\n== probe: {n:,} stored embeddings of {width} values x {labels} labels, {folds} folds ==")
    names = [f"tag{j:02d}" for j in range(labels)]
    y, vectors = _labels_and_vectors(n, labels, width)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest, paths = _manifest(tmp, y, names)
        settings = StoreSettings(weights="bench.ckpt", sha256="ab" * 32, labels=("a",), front_end={}, features=width,
                                 embeddings=True)
        store = Store.open_for(tmp / "store", settings)
        for start in range(0, n, 2000):
            store.write_part([{"path": p, "status": "ok", "reason": None, "note": None, "size": 1, "mtime_ns": 1,
                               "key": i, "duration": 30.0, "starts": [0.0], "probabilities": [0.5], "top_tags": ["a"],
                               "embedding": vectors[i].tolist()} for i, p in enumerate(paths[start:start + 2000],
                                                                                        start=start)])
        config = FinetuneConfig(probe=True, store=str(tmp / "store"), manifest=str(manifest), folds=folds,
                                out=str(tmp / "probe"))
        began = time.perf_counter()
        result = run(config, log=lambda line: None, warn=print)
        seconds = time.perf_counter() - began
    row = result.rows[0]
    verdict = "met" if seconds <= _TARGET_PROBE_S else "MISSED"
    print(f"probe: {seconds:.1f} s (of which the probe itself {row['seconds']:.1f} s), target <= "
          f"{_TARGET_PROBE_S:.0f} s: {verdict}; macro ROC-AUC {row['metrics']['roc_auc']['value']:.3f} "
          f"{row['metrics']['roc_auc']['interval']}")


def bench_head(n: int = 1000, labels: int = 50, epochs: int = 10) -> None:
    from benchmarks.tagging import seeded_checkpoint
    from fcn4.hub.cache import set_hub_dir
    from fcn4.hub.weights import resolve
    from fcn4.inference.backends import network_digest
    from finetune import FinetuneConfig, run
    from finetune.clip_cache import ClipCache, content_keys, front_end_key

    print(f"\n== head-only multi-label fine-tuning: {n:,} clips x {labels} labels, embeddings cached, full-size "
          f"FCN-4, {epochs} epochs ==")
    names = [f"tag{j:02d}" for j in range(labels)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        set_hub_dir(tmp / "hub")
        checkpoint = tmp / "random_fcn4.ckpt"
        seeded_checkpoint(checkpoint)
        y, vectors = _labels_and_vectors(n, labels, 2048, seed=1)
        manifest, paths = _manifest(tmp / "data", y, names)
        start = resolve(str(checkpoint)).build(labels, keep_head=False)  # what the run builds: its cache's key
        cache = ClipCache("embeddings", f"{network_digest(start.network, head=False)[:16]}-"
                                        f"{front_end_key(start.front_end)}")
        for key, vector in zip(content_keys(paths), vectors):
            cache.put(key, vector)
        config = FinetuneConfig(manifest=str(manifest), pretrained=str(checkpoint), mode="head", epochs=epochs,
                                out=str(tmp / "run"), progress=False, workers=0)
        began = time.perf_counter()
        result = run(config, log=lambda line: None, warn=print)
        seconds = time.perf_counter() - began
    timings = result.timings
    verdict = "met" if seconds <= _TARGET_HEAD_S else "MISSED"
    print(f"head: {seconds:.1f} s, target <= {_TARGET_HEAD_S:.0f} s: {verdict} (embeddings from the cache "
          f"{timings.get('features_s', 0):.1f} s, training {timings.get('training_s', 0):.1f} s, test "
          f"{timings.get('test_s', 0):.1f} s); test macro ROC-AUC {result.metrics['roc_auc']:.3f}")


def bench_labels() -> None:
    bench_probe()
    bench_head()
