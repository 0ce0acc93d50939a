"""The Ray stages of a library job: planning, decoding, the network actors, and (on the driver) the
gathering of each file's results into one store row.

The network actors run the Tagger's engine (:func:`fcn4.inference.tagger.run_network`) and the rows
combine windows as the Tagger does (:func:`fcn4.inference.settings.combine`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np

from ..audio.decoding import DecodeJob, plan
from ..base.errors import LibraryJobError
from ..inference.settings import combine
from ..inference.tagger import run_network
from ..model.labels import top_k
from .inputs import is_remote, local_copy, stat_file
from .keys import KeySet, file_key
from .store import StoreSettings

#: Inputs per planning and decoding task: small enough to spread a few hundred files over a cluster.
FILES_PER_BLOCK = 16
#: An actor holds half a CPU in Ray's books (see the job's pipeline).
ACTOR_CPUS = 0.5


@dataclass(frozen=True)
class NetworkSpec:
    """What a network actor needs besides the export's bytes (shipped once through Ray's object store)."""
    sha256: str
    batch_size: int
    input_shape: tuple[int, int, int]
    info: dict
    threads: int | None
    embeddings: bool
    engine: dict | None = None  # the driver's engine (Backend.choice): the actors open the same one


def rows_of(batch: dict):
    names = list(batch)
    for values in zip(*(batch[n] for n in names)):
        yield dict(zip(names, values))


class Gather:
    """A file's results from its parts (a long track's ranges may come back in any order), once."""

    def __init__(self, settings: StoreSettings):
        self.settings = settings
        self.written = KeySet()
        self.partial: dict[int, dict] = {}

    def add(self, row: dict):
        key = int(row["key"])
        if key in self.written:  # a part Ray ran twice: its file is already in the store
            return
        parts = int(row["parts"])
        if parts > 1:
            held = self.partial.setdefault(key, {})
            held.setdefault(int(row["part"]), row)
            if len(held) < parts:
                return
            rows = [held[i] for i in range(parts)]
            del self.partial[key]
        else:
            rows = [row]
        self.written.add_new([key])
        yield self._record(rows)

    def _record(self, rows: list[dict]) -> dict:
        s = self.settings
        first, last = rows[0], rows[-1]
        error = next((r["error"] for r in rows if r["error"]), None)
        note = next((r["note"] for r in rows if r["note"]), None)
        record = {"path": _text(first["path"]), "status": "error" if error else "ok", "reason": error or None,
                  "note": note or None, "size": int(first["size"]), "mtime_ns": int(first["mtime_ns"]),
                  "key": int(first["key"]), "duration": _seconds(last["seconds"]), "starts": None,
                  "probabilities": None, "top_tags": None}
        if s.window == "track":
            record["window_probabilities"] = None
        if s.embeddings:
            record["embedding"] = None
            if s.window == "track":
                record["window_embeddings"] = None
        if error:
            return record
        probabilities = np.concatenate([np.asarray(r["probabilities"], np.float32).reshape(-1, len(s.labels))
                                        for r in rows])
        track = combine(probabilities, s.aggregate)
        record.update(starts=np.concatenate([np.asarray(r["starts"], np.float64) for r in rows]).tolist(),
                      probabilities=track.tolist(), top_tags=[tag for tag, _ in top_k(track, s.labels, s.top_k)])
        if s.window == "track":
            record["window_probabilities"] = probabilities.tolist()
        if s.embeddings:
            vectors = np.concatenate([np.asarray(r["embeddings"], np.float32).reshape(-1, s.features) for r in rows])
            record["embedding"] = combine(vectors, s.aggregate).tolist()
            if s.window == "track":
                record["window_embeddings"] = vectors.tolist()
        return record


def _text(path) -> str:
    """A path as the store's text: its own characters, bytes that are no UTF-8 as ``\\xNN``."""
    return bytes(path).decode("utf-8", "backslashreplace") if isinstance(path, (bytes, np.bytes_)) else str(path)


def _seconds(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


#: The rows planning hands on: one per decoding job (or per file skipped or failed), and their types.
_PLAN_COLUMNS = {"path": object, "size": np.int64, "mtime_ns": np.int64, "key": np.uint64, "skip": bool,
                 "part": np.int64, "parts": np.int64, "first": np.int64, "count": np.int64, "error": object,
                 "note": object, "seconds": np.float64}


def on_disk(path: str, base: str) -> str:
    """Where a Ray worker finds the input ``path``: a relative path is the driver's, taken from the
    driver's working folder ``base`` (a worker's own is another: a Ray started elsewhere, a node)."""
    return path if is_remote(path) or os.path.isabs(path) else os.path.join(base, path)


def plan_batch(batch: dict, job: DecodeJob, done, base: str) -> dict:
    """Planning: which inputs the store lacks (by path, size and time), and each one's decoding jobs
    (relative paths taken from ``base``, the driver's working folder; the store keeps them as given)."""
    done = KeySet.from_sorted(_value(done))
    out = {name: [] for name in _PLAN_COLUMNS}

    def emit(path, size, mtime, key, skip=False, part=0, parts=1, first=0, count=-1, error=""):
        for name, value in zip(out, (path, size, mtime, key, skip, part, parts, first, count, error, "",
                                     float("nan"))):
            out[name].append(value)

    for raw, error in zip(batch["path"], batch["error"]):
        raw = bytes(raw)
        path = on_disk(os.fsdecode(raw), base)
        size = mtime = -1
        if not error:
            try:
                size, mtime = stat_file(path)
            except (OSError, ValueError) as exc:  # ValueError: a name the OS cannot take (a NUL byte)
                error = f"cannot read it: {getattr(exc, 'strerror', None) or exc}"
        key = file_key(raw, size, mtime)
        if error or key in done:
            emit(raw, size, mtime, key, skip=key in done, error=error or "")
            continue
        jobs = [job] if is_remote(path) else plan(path, dataclasses.replace(job, path=path))
        for part, each in enumerate(jobs):
            emit(raw, size, mtime, key, part=part, parts=len(jobs), first=each.first_window,
                 count=-1 if each.windows is None else each.windows)
    return {name: np.asarray(values, dtype=_PLAN_COLUMNS[name]) for name, values in out.items()}


def _value(reference):
    """What an object reference holds (Ray Data hands constructor arguments over as they are)."""
    import ray

    return ray.get(reference) if isinstance(reference, ray.ObjectRef) else reference


_POOL = None


def _decoder():
    """This Ray worker's decoding process, started on first use and kept for its later tasks.

    A decoder that crashes (a segfault on a damaged file) takes down that process, not the Ray
    worker: the pool finds the file, reports it as a row with its reason, and starts a new process.
    Without it Ray would retry the task, crash again, and never end. The time-out per file is the
    pool's too.
    """
    global _POOL
    if _POOL is None:
        from ..audio.decoding import DecodePool

        _POOL = DecodePool(1)
    return _POOL


def decode_batch(batch: dict, job: DecodeJob, base: str) -> dict:
    """Decoding: each row's windows as log-mel inputs, or the reason it failed (relative paths from ``base``)."""
    fe = job.front_end
    batch = dict(batch)
    for name in ("error", "note", "seconds"):  # Ray's arrays are read-only
        batch[name] = np.array(batch[name], copy=True)
    melgrams, starts = [], []
    for i, raw in enumerate(batch["path"]):
        shape = (0, fe.n_mels, fe.n_frames)
        windows = np.zeros(shape, np.float32), np.zeros(0)
        if not batch["skip"][i] and not batch["error"][i]:
            path = on_disk(os.fsdecode(bytes(raw)), base)
            count = int(batch["count"][i])
            part = dataclasses.replace(job, path=path, first_window=int(batch["first"][i]),
                                       windows=None if count < 0 else count)
            try:
                with local_copy(path) as local:
                    decoded = next(_decoder().stream([dataclasses.replace(part, path=local)], prefetch=1))
            except OSError as exc:
                decoded = None
                batch["error"][i] = f"cannot read it: {exc}"
            if decoded is not None:
                if decoded.error is not None:
                    batch["error"][i] = decoded.error
                else:
                    windows = decoded.windows.melgrams.astype(np.float32), np.asarray(decoded.windows.starts)
                    batch["note"][i] = decoded.note or ""
                    batch["seconds"][i] = float("nan") if decoded.seconds is None else decoded.seconds
        melgrams.append(windows[0])
        starts.append(windows[1])
    batch["melgrams"] = _ragged(melgrams)
    batch["starts"] = _ragged(starts)
    return batch


def _ragged(arrays: list) -> np.ndarray:
    out = np.empty(len(arrays), dtype=object)
    out[:] = arrays
    return out


class Network:
    """The network actor: opens the shipped model once on the driver's engine (the Tagger's own, chosen
    for the machine), runs every batch of windows it is given."""

    def __init__(self, network: NetworkSpec, model):
        from ..inference.backends import NetworkInfo
        from ..inference.engines import open_shipped

        model = _value(model[0])  # a reference inside a list: Ray hands it over unresolved, and small
        if hashlib.sha256(model).hexdigest() != network.sha256:
            raise LibraryJobError("the model reached this actor damaged (its sha256 differs)")
        self.embeddings = network.embeddings
        engine = network.engine or {"backend": "onnxruntime", "dtype": "fp32"}
        self.backend = open_shipped(engine, model, network.batch_size, network.input_shape,
                                    NetworkInfo(**network.info), network.threads)

    def __call__(self, batch: dict) -> dict:
        melgrams = list(batch.pop("melgrams"))
        counts = [len(m) for m in melgrams]
        windows = np.concatenate(melgrams) if sum(counts) else np.zeros((0, *self.backend.input_shape[1:]), np.float32)
        features, probabilities = run_network(self.backend, windows)
        bounds = np.cumsum([0, *counts])
        batch["probabilities"] = _ragged([probabilities[a:b] for a, b in zip(bounds, bounds[1:])])
        if self.embeddings:  # else only the probabilities travel back (50 values a window, not 2048)
            batch["embeddings"] = _ragged([features[a:b] for a, b in zip(bounds, bounds[1:])])
        return batch
