"""A library beyond one machine: ``fcn4 tag`` against ``fcn4 tag --ray`` on the same files (the job's
own Ray, on 127.0.0.1 only), the driver's memory, the same job again with nothing left to do, listing
a manifest of a million paths, and ``similar`` on 100,000 vectors.

The same 128 synthesised 30 s clips and full-size checkpoint as the tagging benchmark; every run
starts with the ONNX export cached. Throughput is compared without start-up (starting Ray,
listing, the pipeline filling), which a long job pays once, and the wall times with it.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .tagging import _clips, _run, seeded_checkpoint

_TARGET_RATIO = 0.85

# Each way in a process of its own; the library job's driver reports its own peak memory (Ray's
# daemons and workers are other processes).
_DRIVER = """
import json, resource, sys
from fcn4.library.job import tag_library
r = tag_library([sys.argv[1]], sys.argv[4], weights=sys.argv[2], batch_size=int(sys.argv[3]))
again = tag_library([sys.argv[1]], sys.argv[4], weights=sys.argv[2], batch_size=int(sys.argv[3]))  # nothing to do
assert again.skipped == again.listed == r.listed
print(json.dumps({"startup": r.startup_seconds, "first": r.first_result_seconds, "first_results": r.first_results,
                  "rate": r.files_per_second, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rerun": again.seconds}))
"""
_SINGLE = """
import json, sys, time
t0 = time.perf_counter()
from fcn4 import Tagger
stamps = []
with Tagger(sys.argv[2], batch_size=int(sys.argv[3])) as tagger:
    for _ in tagger.predict([sys.argv[1]], embeddings=False):
        stamps.append(time.perf_counter() - t0)
print(json.dumps({"first": stamps[0], "rate": (len(stamps) - 1) / (stamps[-1] - stamps[0])}))
"""


def bench_library(n_files: int = 128, batch_size: int = 4, manifest_paths: int = 1_000_000,
                  vectors: int = 100_000) -> None:
    try:
        import faiss  # noqa: F401
        import pyarrow  # noqa: F401
        import ray  # noqa: F401
    except ImportError as exc:
        print(f"library: skipped ({exc.name} is not installed: pip install 'fcn4-mindspore[ray]')")
        return
    _tag_vs_ray(n_files, batch_size)
    _listing(manifest_paths)
    _similar(vectors)


def _tag_vs_ray(n_files: int, batch_size: int) -> None:
    """Both ways on the same files: wall time and peak memory of the commands, and each one's
    steady throughput (files done per second from its first results to its last: start-up apart)."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, FCN4_HUB_DIR=str(tmp / "hub"))
        _clips(tmp / "clips", n_files)
        ckpt = tmp / "fcn4_random.ckpt"
        seeded_checkpoint(ckpt)
        tag = [sys.executable, "-m", "fcn4", "tag", str(tmp / "clips"), "--weights", str(ckpt), "--batch-size",
               str(batch_size), "--format", "json", "-o", str(tmp / "tags.json")]
        _run(tag, env)  # exports and caches the ONNX model
        wall, peak = _run(tag, env)
        assert len(json.loads((tmp / "tags.json").read_text())["files"]) == n_files
        runs = {}
        for name, code, extra in (("single", _SINGLE, []), ("ray", _DRIVER, [str(tmp / "store")])):
            t0 = time.perf_counter()
            command = [sys.executable, "-c", code, str(tmp / "clips"), str(ckpt), str(batch_size), *extra]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                print(f"library: the {name} run failed: {done.stderr[-800:]}")
                return
            runs[name] = dict(json.loads(done.stdout.strip().splitlines()[-1]), wall=time.perf_counter() - t0)
        single, ray_run = runs["single"], runs["ray"]
        ratio = ray_run["rate"] / single["rate"]
        print(f"library: {n_files} clips of 30 s, full-size FCN-4, batch {batch_size}, {os.cpu_count()} CPUs")
        print(f"  fcn4 tag:        {wall:6.1f} s wall ({n_files / wall:5.2f} clips/s), peak {peak:.0f} MB; "
              f"in Python: first result after {single['first']:.1f} s, then {single['rate']:.2f} clips/s")
        print(f"  fcn4 tag --ray:  {ray_run['wall']:6.1f} s wall ({n_files / ray_run['wall']:5.2f} clips/s), "
              f"driver peak {ray_run['peak_mb']:.0f} MB; weights, Ray and listing {ray_run['startup']:.1f} s, "
              f"first results ({ray_run['first_results']} files) after {ray_run['first']:.1f} s, "
              f"then {ray_run['rate']:.2f} clips/s")
        print(f"  the same command again, nothing left to do: {ray_run['rerun']:.2f} s (Ray not started)")
        print(f"  steady throughput, Ray / single: {ratio:.2f} (target >= {_TARGET_RATIO}: "
              f"{'met' if ratio >= _TARGET_RATIO else 'MISSED'}); "
              f"wall, start-up included: {wall / ray_run['wall']:.2f}")


def _listing(n: int) -> None:
    """Listing a manifest of ``n`` paths into a job's Parquet listing: time and peak traced memory."""
    import tracemalloc

    from fcn4.library.job import _write_listing
    from fcn4.library.keys import KeySet

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        peaks = {}
        for count in (n // 10, n):
            manifest = tmp / f"manifest-{count}.txt"
            with open(manifest, "w") as handle:
                for i in range(count):
                    handle.write(f"/mnt/library/artist-{i % 5000:04d}/album-{i % 97:02d}/track-{i:09d}.flac\n")
            tracemalloc.start()
            t0 = time.perf_counter()
            (tmp / f"listing-{count}").mkdir()
            _, listed, _ = _write_listing([manifest], tmp / f"listing-{count}", KeySet())
            seconds = time.perf_counter() - t0
            peaks[count] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            print(f"library: listing a manifest of {listed:,} paths ({manifest.stat().st_size / 1e6:.0f} MB): "
                  f"{seconds:.1f} s, peak traced memory {peaks[count]:.1f} MB")
        print(f"  peak memory {peaks[n // 10]:.1f} MB for {n // 10:,} paths, {peaks[n]:.1f} MB for {n:,}: it does not "
              "grow with the paths' text (8 bytes a path remain, to read a path listed twice once)")


def _similar(n: int, dim: int = 2048, queries: int = 20) -> None:
    """``similar`` on a store of ``n`` synthetic embeddings: exact against the cached IVF index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fcn4.library.similarity import SimilarityIndex
    from fcn4.library.store import Store, StoreSettings, schema_for

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = StoreSettings(weights="bench", sha256=None, labels=("a",), front_end={}, features=dim,
                                 embeddings=True)
        store = Store.open_for(Path(tmp) / "store", settings)
        centres = rng.normal(size=(256, dim)).astype(np.float32)  # clusters, as genres and artists make them
        schema = schema_for(settings)
        t0 = time.perf_counter()
        for start in range(0, n, 10_000):
            m = min(10_000, n - start)
            values = (centres[rng.integers(0, 256, m)] + 0.5 * rng.normal(size=(m, dim))).astype(np.float32)
            offsets = pa.array(np.arange(0, (m + 1) * dim, dim, dtype=np.int32))
            columns = {"path": pa.array([f"/music/track-{start + i:07d}.flac" for i in range(m)]),
                       "status": pa.array(["ok"] * m),
                       "embedding": pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1)))}
            arrays = [columns.get(f.name, pa.nulls(m, f.type)) for f in schema]
            pq.write_table(pa.Table.from_arrays(arrays, schema=schema), store.folder / f"part-{start:019d}-0.parquet")
        print(f"library: similar on {n:,} stored {dim}-d embeddings (written in {time.perf_counter() - t0:.1f} s)")
        probes = rng.normal(size=(queries, dim)).astype(np.float32) + centres[:queries]
        for exact in (True, False):
            t0 = time.perf_counter()
            index = SimilarityIndex.of(store, exact=exact)
            opened = time.perf_counter() - t0
            t0 = time.perf_counter()
            answers = [index.search(q, 10) for q in probes]
            per_query = (time.perf_counter() - t0) / queries
            if exact:
                truth = answers
                print(f"  exact (IndexFlatIP): open {opened:.1f} s (reads the store), "
                      f"{per_query * 1000:.1f} ms a query")
            else:
                recall = np.mean([len({p for p, _ in a} & {p for p, _ in t}) / 10 for a, t in zip(answers, truth)])
                t0 = time.perf_counter()
                SimilarityIndex.of(store, exact=False)
                cached = time.perf_counter() - t0
                print(f"  IVF (cached in _index/): built and opened in {opened:.1f} s, opened again in {cached:.1f} s; "
                      f"{per_query * 1000:.1f} ms a query, recall@10 {recall:.2f} against exact")
