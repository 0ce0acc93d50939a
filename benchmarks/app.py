"""``fcn4 app`` over a synthetic store of 100,000 tracks (parts of 1,000 rows, as a job writes them):
the server's start (the catalog read), the page's first table (<= 1 s), a search, a tag filter, a
track, a neighbour query (<= 100 ms, the cached IVF index) and the server's memory (RSS), measured
on ``python -m fcn4 app`` in a process of its own, over HTTP on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

_FIRST_TABLE_TARGET = 1.0
_NEIGHBOURS_TARGET = 0.100


def write_store(folder: Path, n: int, dim: int, labels: int = 50, rows_per_part: int = 1000, seed: int = 0):
    """A store of ``n`` tagged and embedded tracks (clustered embeddings, skewed tag probabilities)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fcn4.library.store import Store, StoreSettings, schema_for

    rng = np.random.default_rng(seed)
    names = tuple(f"tag{i:02d}" for i in range(labels))
    settings = StoreSettings(weights="bench", sha256=None, labels=names, front_end={"clip_seconds": 29.12},
                             features=dim, embeddings=True, top_k=3)
    store = Store.open_for(folder, settings)
    schema = schema_for(settings)
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    keys = rng.choice(np.iinfo(np.int64).max, n, replace=False).astype(np.uint64)
    for start in range(0, n, rows_per_part):
        m = min(rows_per_part, n - start)
        vectors = (centres[rng.integers(0, 256, m)] + 0.5 * rng.normal(size=(m, dim))).astype(np.float32)
        probabilities = rng.beta(0.5, 3.0, size=(m, labels)).astype(np.float32)
        top = np.argsort(-probabilities, axis=1)[:, :3]

        def lists(values, width):
            return pa.ListArray.from_arrays(pa.array(np.arange(0, (m + 1) * width, width, dtype=np.int32)),
                                            pa.array(values.reshape(-1)))
        columns = {
            "path": pa.array([f"/music/artist-{(start + i) % 997:03d}/track-{start + i:07d}.flac" for i in range(m)]),
            "status": pa.array(["ok"] * m), "size": pa.array(rng.integers(1 << 20, 1 << 25, m)),
            "mtime_ns": pa.array(np.full(m, 1_700_000_000 * 10 ** 9)), "key": pa.array(keys[start:start + m]),
            "duration": pa.array(rng.uniform(60, 480, m)), "starts": lists(rng.uniform(0, 200, m), 1),
            "probabilities": lists(probabilities, labels),
            "top_tags": lists(np.asarray(names, dtype=object)[top].astype(str), 3),
            "embedding": lists(vectors, dim)}
        arrays = [columns.get(f.name, pa.nulls(m, f.type)) for f in schema]
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), store.folder / f"part-{start:019d}-0.parquet",
                       compression="zstd")
    return store


def _get(opener, url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    t0 = time.perf_counter()
    body = json.load(opener.open(request, timeout=600))
    return body, time.perf_counter() - t0


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2 ** 20


def bench_app(n: int = 100_000, dim: int = 2048, queries: int = 20) -> None:
    try:
        import faiss  # noqa: F401
        import psutil  # noqa: F401
        import pyarrow  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        print(f"app: skipped ({exc.name} is not installed: pip install 'fcn4-mindspore[app]' psutil)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        t0 = time.perf_counter()
        write_store(folder, n, dim)
        size = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2 ** 20
        print(f"app: a store of {n:,} tracks, {dim}-d embeddings, 50 tags ({size:,.0f} MiB in parts of 1,000 rows; "
              f"written in {time.perf_counter() - t0:.1f} s)")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for attempt in ("cold", "warm"):  # warm: the IVF index cached in the store's _index/
            _serve_once(folder, opener, queries, attempt)


def _serve_once(folder: Path, opener, queries: int, attempt: str) -> None:
    t0 = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "fcn4", "-q", "app", "--store", str(folder)],
                               stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        while "token=" not in seen and process.poll() is None:
            seen += process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=([\w-]+)", seen)
        if not match:
            print(f"app: the server did not start: {seen.strip()[-500:]}")
            return
        base, token = match.groups()
        started = time.perf_counter() - t0
        rss_open = _rss_mb(process.pid)
        first, first_s = _get(opener, f"{base}/api/tracks?limit=50", token)
        _, sorted_s = _get(opener, f"{base}/api/tracks?limit=50&sort=duration&order=desc", token)
        _, search_s = _get(opener, f"{base}/api/tracks?limit=50&q=track-00123", token)
        _, tag_s = _get(opener, f"{base}/api/tracks?limit=50&tag=tag07&min=0.5", token)
        _, tag_again_s = _get(opener, f"{base}/api/tracks?limit=50&tag=tag07&min=0.6&offset=50", token)
        key = first["tracks"][0]["key"]
        _, track_s = _get(opener, f"{base}/api/tracks/{key}", token)
        rss_table = _rss_mb(process.pid)
        t1 = time.perf_counter()
        while not _get(opener, f"{base}/api/store", token)[0]["neighbours_ready"]:
            time.sleep(0.2)
        index_s = time.perf_counter() - t1
        keys = [t["key"] for t in _get(opener, f"{base}/api/tracks?limit={queries}&offset=1000", token)[0]["tracks"]]
        _get(opener, f"{base}/api/tracks/{keys[0]}/neighbours?k=10", token)
        times = sorted(_get(opener, f"{base}/api/tracks/{k}/neighbours?k=10", token)[1] for k in keys)
        median = times[len(times) // 2]
        rss_index = _rss_mb(process.pid)
        print(f"  {attempt}: server up in {started:.2f} s (catalog read; RSS {rss_open:,.0f} MiB); first table "
              f"{first_s * 1000:.0f} ms (target <= {_FIRST_TABLE_TARGET * 1000:.0f}: "
              f"{'met' if first_s <= _FIRST_TABLE_TARGET else 'MISSED'}); by duration {sorted_s * 1000:.0f} ms; "
              f"search {search_s * 1000:.0f} ms; a tag filter {tag_s * 1000:.0f} ms first, {tag_again_s * 1000:.0f} ms "
              f"after; a track {track_s * 1000:.0f} ms; RSS {rss_table:,.0f} MiB")
        print(f"  {attempt}: similarity index ready after {index_s:.1f} s more; a neighbour query (k=10, over HTTP) "
              f"median {median * 1000:.1f} ms, worst {times[-1] * 1000:.1f} ms (target <= "
              f"{_NEIGHBOURS_TARGET * 1000:.0f}: {'met' if median <= _NEIGHBOURS_TARGET else 'MISSED'}); "
              f"RSS with the index {rss_index:,.0f} MiB")
    finally:
        process.send_signal(2)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    bench_app(int(os.environ.get("FCN4_BENCH_TRACKS", 100_000)), int(os.environ.get("FCN4_BENCH_DIM", 2048)))
