"""Tag or embed a music library on Ray Data, locally or on a cluster, into a resumable Parquet store.

The driver checks the weights once (the tagger's verified, cached ONNX export) and lists the inputs
into a Parquet listing (flat memory, any number of paths), looking each one up in the store until
the first that needs work: a rerun with nothing left to do ends there, without starting Ray.
Ray then runs, streaming and with backpressure:

1. planning tasks: each file's size and modification time (a file the store holds is skipped),
   and a long track's ranges of windows;
2. decoding tasks: the front end, on every CPU Ray has, each through a decoding process of its
   own (a decoder that crashes takes down that process, not the task), a bad file becoming its reason;
3. a pool of actors, each opening the export (shipped once through Ray's object store) a single
   time, running the network on batches of windows.

The driver gathers each file's results and writes them in parts that are complete or absent, so
a killed job loses at most its last unwritten part: a rerun goes on from there. Ray retries the
tasks and restarts the actors of a worker or node that dies; each file enters the store once.

A Ray this package starts on this machine (no address given) listens and connects on 127.0.0.1
only, and asks every process that joins it for a token of its own (see :func:`local_ray`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.decoding import DecodeJob, plan
from ..base.errors import FCN4Error, SettingError, LibraryJobError
from ..base.files import folder_inside, refuse_link, writing_into
from ..hub.weights import DEFAULT_UID
from ..inference.tagger import DECODE_TIMEOUT, MAX_HOURS
from ..model.labels import top_k
from .extra import require
from .inputs import is_remote, iter_inputs, local_copy, stat_file
from .keys import KeySet, file_key, path_bytes
from .store import MAX_PART_ROWS, Store, StoreSettings, check_folder

__all__ = ["tag_library", "embed_library", "LibraryResult", "LibraryJobError", "ROWS_PER_PART", "PART_SECONDS",
           "local_ray", "loopback_ray_environment"]

#: Files per part of the store; a part is also written every :data:`PART_SECONDS`.
ROWS_PER_PART = 1000
#: Seconds of work a killed driver may lose at most (a part is written at least this often).
PART_SECONDS = 60.0
#: Inputs per planning and decoding task: small enough to spread a few hundred files over a cluster.
_FILES_PER_BLOCK = 16
_LISTING = "_listing"
_ACTOR_CPUS = 0.5


@dataclass(frozen=True)
class LibraryResult:
    """What a library job did: files listed, skipped as already stored, tagged, failed; parts written;
    seconds in all, until Ray was up (weights checked, inputs listed), and until the first file's
    result (and the last's) came back; whether Ray was started (not when every input was stored)."""
    store: Path
    listed: int
    skipped: int
    tagged: int
    failed: int
    parts: int
    seconds: float
    startup_seconds: float
    first_result_seconds: float | None = None
    last_result_seconds: float | None = None
    first_results: int = 0
    ray_started: bool = True

    @property
    def files_per_second(self) -> float | None:
        """Steady throughput: files done per second after the first results came back (Ray hands
        them over in blocks: the first block's files count as start-up) until the last."""
        done = self.tagged + self.failed
        if self.first_result_seconds is None or self.last_result_seconds <= self.first_result_seconds:
            return None
        return (done - self.first_results) / (self.last_result_seconds - self.first_result_seconds)


def embed_library(paths, store, **options) -> LibraryResult:
    """:func:`tag_library` with the 2048-d embeddings kept (``embedding`` column)."""
    return tag_library(paths, store, embeddings=True, **options)


def tag_library(paths, store, *, weights=DEFAULT_UID, labels=None, embeddings: bool = False, address: str | None = None,
                window: str = "clip", hop_seconds: float | None = None, aggregate: str = "mean",
                min_seconds: float | None = None, max_hours: float | None = MAX_HOURS, long_files: str = "refuse",
                decode_timeout: float | None = DECODE_TIMEOUT, batch_size: int = 4, actors: int | None = None,
                threads: int | None = None, top_k: int = 5, retry_failed: bool = False,
                rows_per_part: int = ROWS_PER_PART, part_seconds: float = PART_SECONDS,
                progress: bool | None = None, log=None) -> LibraryResult:
    """Tag (and with ``embeddings``, embed) every file of ``paths`` on Ray into the store folder ``store``.

    Parameters
    ----------
    paths : path, URI or list of them
        Files, folders, globs, manifests (see :func:`~fcn4.library.inputs.iter_inputs`).
    store : path
        The output folder (created; a rerun into it goes on where the last run stopped).
    address : str, optional
        None: a Ray of this job's own on this machine's CPUs, on 127.0.0.1 only and with a token
        (:func:`local_ray`); ``auto``: the running cluster; else its address. If Ray is already
        initialised in this process, that Ray is used. Ray is not started when every input is in the
        store already.
    actors : int, optional
        Network actors (default: one per two CPUs of the cluster); each holds half a CPU in Ray's books.
    threads : int, optional
        onnxruntime threads per actor (default: its node's CPUs shared among its actors).
    retry_failed : bool
        Try again the files the store holds as failed (by default a failed file is done).
    rows_per_part, part_seconds :
        A part of the store is written every ``rows_per_part`` files or ``part_seconds``.

    Other parameters are :meth:`fcn4.Tagger.predict`'s and :class:`fcn4.Tagger`'s.
    Returns a :class:`LibraryResult`; files that failed are rows with their reason.
    """
    from ..base.locks import exclusive_folder
    from ..inference.tagger import AGGREGATES, Tagger

    if aggregate not in AGGREGATES:
        raise SettingError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    for name, value, low, high in (("rows_per_part", rows_per_part, 1, MAX_PART_ROWS), ("top_k", top_k, 0, None)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
            # (a part over MAX_PART_ROWS is one the store's own readers would refuse)
            raise SettingError(f"{name} must be a whole number from {low}{f' to {high:,}' if high else ' up'}, "
                               f"got {value!r}")
    if actors is not None and (isinstance(actors, bool) or not isinstance(actors, int) or actors < 1):
        raise SettingError(f"actors must be a whole number >= 1, got {actors!r}")
    require("ray", "pyarrow")
    log = log or (lambda line: None)
    start = time.perf_counter()
    store_dir = check_folder(store)  # before the weights are checked and the folder locked
    with Tagger(weights, backend="onnxruntime", batch_size=batch_size, workers=0, labels=labels) as tagger:
        minimum = tagger.min_seconds if min_seconds is None else float(min_seconds)
        settings = StoreSettings(
            weights=tagger.weights, sha256=tagger.spec.sha256 if tagger.spec else None, labels=tuple(tagger.labels),
            front_end=dataclasses.asdict(tagger.front_end), features=tagger.backend.info.num_features, window=window,
            hop_seconds=hop_seconds, aggregate=aggregate, min_seconds=minimum, max_hours=max_hours,
            long_files=long_files, embeddings=bool(embeddings), top_k=top_k)
        model = tagger.backend.model_bytes()  # the checked export's bytes, checked again as they are read
        network = _NetworkSpec(hashlib.sha256(model).hexdigest(), batch_size,
                               (1, tagger.front_end.n_mels, tagger.front_end.n_frames),
                               dataclasses.asdict(tagger.backend.info), threads, bool(embeddings))
        job = DecodeJob("", tagger.front_end, window, hop_seconds, minimum,
                        max_seconds=None if max_hours is None else float(max_hours) * 3600, long_files=long_files,
                        timeout=decode_timeout)
    with exclusive_folder(store_dir, "library job"):
        target = Store.open_for(store_dir, settings)
        done = target.done_keys(retry_failed=retry_failed)
        listing, listed, work = _write_listing(paths, folder_inside(store_dir, _LISTING), KeySet.from_sorted(done))
        log(f"{listed} input(s) listed; the store holds {len(done)} file version(s) already")
        try:
            if not work:  # every input is in the store, unchanged: no Ray to start
                log("nothing to do: every input is in the store already")
                seconds = time.perf_counter() - start
                return LibraryResult(store_dir, listed, listed, 0, 0, 0, seconds, 0.0, ray_started=False)
            with _ray_session(address) as ray:
                startup = time.perf_counter() - start
                result = _run(ray, listing, target, settings, job, network, model, done, actors, rows_per_part,
                              part_seconds, progress, listed, log, start)
        finally:
            with contextlib.suppress(OSError):
                listing.unlink()
    counts, stamps = result[:4], result[4:]
    return LibraryResult(store_dir, listed, *counts, time.perf_counter() - start, startup, *stamps)


@dataclass(frozen=True)
class _NetworkSpec:
    sha256: str
    batch_size: int
    input_shape: tuple[int, int, int]
    info: dict
    threads: int | None
    embeddings: bool


# --------------------------------------------------------------------------- the driver
def _write_listing(paths, folder: Path, done: KeySet) -> tuple[Path, int, bool]:
    """Stream the inputs into a Parquet listing (path bytes, or the reason a path gave nothing) in
    ``folder``; (the listing, inputs listed, whether any needs work). Each input is looked up in the
    store (``done``) as planning would, by path, size and time, until the first one that is not
    there: from then on the inputs are only listed (Ray's planning tasks look at the rest)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..base.files import remove_stray_temporaries

    refuse_link(folder, "the store's listing folder")
    with writing_into(folder):
        remove_stray_temporaries(folder)
        for stale in folder.glob("*.parquet"):  # a killed run's listing: this run lists again (a link: itself)
            stale.unlink()
    schema = pa.schema([("path", pa.binary()), ("error", pa.string())])
    target = refuse_link(folder / f"listing-{os.getpid()}.parquet", "the store's listing")
    count, chunk, work = 0, ([], []), False
    with writing_into(folder), pq.ParquetWriter(target, schema) as writer:
        def flush():
            writer.write_table(pa.table({"path": chunk[0], "error": chunk[1]}, schema=schema))
            chunk[0].clear()
            chunk[1].clear()

        for source in iter_inputs(paths):
            raw = path_bytes(source.path)
            chunk[0].append(raw)
            chunk[1].append(source.error)
            count += 1
            work = work or _needs_work(raw, source.error, done)
            if len(chunk[0]) >= 65536:
                flush()
        if chunk[0] or not count:
            flush()
    return target, count, work


def _needs_work(raw: bytes, error: str | None, done: KeySet) -> bool:
    """Whether the input ``raw`` is missing from the store ``done`` (its key as :func:`_plan_batch` makes it)."""
    size = mtime = -1
    if not error:
        try:
            size, mtime = stat_file(os.fsdecode(raw))
        except (OSError, ValueError):
            pass  # planning makes it a row with its reason
    return file_key(raw, size, mtime) not in done


@contextlib.contextmanager
def _ray_session(address: str | None):
    """Ray, initialised for this job (and shut down after) unless the caller already did."""
    import logging

    import ray

    from ..audio.decoding import cpu_count

    with _quiet():
        if ray.is_initialized():
            yield ray
            return
        options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        with contextlib.ExitStack() as stack:
            try:
                if address is None:  # this machine only: 127.0.0.1 and a token, nothing reachable from outside
                    stack.enter_context(local_ray(num_cpus=cpu_count(), **options))
                else:
                    ray.init(address=address, **options)
                    stack.callback(ray.shutdown)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = "a local Ray" if address is None else f"the Ray cluster at {address!r}"
                hint = ("start one with `ray start --head` (then --ray auto), or pass its address"
                        if address is not None else "see the lines above")
                raise LibraryJobError(f"could not start or join {where}: {str(exc).splitlines()[0]}; {hint}") from None
            yield ray


#: What :func:`loopback_ray_environment` sets for the Ray processes this package starts on this machine.
#: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is Ray's own switch for a single-machine Ray: with it the
#: node's address stays 127.0.0.1 (else Ray swaps a loopback address for the machine's outward one,
#: and its servers listen there, reachable from the network) for the driver, the GCS, the raylets,
#: and every worker they start (they inherit it). ``RAY_AUTH_MODE=token`` with a token made for the
#: session: a process that joins must present it (none is written to ``~/.ray``).
#: Ray's dashboard process asks cloud metadata servers which cloud it runs on (169.254.169.254 and a
#: DNS look-up of metadata.google.internal) even with usage statistics off: plain-HTTP requests are
#: sent to a closed port of 127.0.0.1 instead (HTTPS, and loopback addresses, are left alone).
#: onnxruntime's telemetry looks its collector up from every process that imports it: off.
_LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": None,
                  "RAY_USAGE_STATS_ENABLED": "0", "http_proxy": "http://127.0.0.1:9",
                  "HTTP_PROXY": "http://127.0.0.1:9", "no_proxy": "127.0.0.1,localhost,::1",
                  "NO_PROXY": "127.0.0.1,localhost,::1", "ORT_DISABLE_TELEMETRY": "1"}
_SESSION_TOKEN: list[str] = []


@contextlib.contextmanager
def loopback_ray_environment():
    """Within: a Ray started in this process (``ray.init()`` without an address, or
    :class:`ray.cluster_utils.Cluster`) and everything it starts stays on 127.0.0.1 and wants a token.

    The variables are set only for the duration (the processes Ray starts meanwhile keep them) and
    restored after, with Ray's view of them in this process; a Ray cluster joined by its address
    later is not affected. Ray must not be running in this process when this is entered or left.
    """
    import secrets

    import ray._private.ray_constants as constants

    if not _SESSION_TOKEN:  # one per process: Ray's token loader in this process keeps what it read
        _SESSION_TOKEN.append(secrets.token_hex(32))
    wanted = {**_LOOPBACK_ONLY, "RAY_AUTH_TOKEN": _SESSION_TOKEN[0]}
    saved = {name: os.environ.get(name) for name in wanted}
    cluster = constants.ENABLE_RAY_CLUSTER  # read when Ray was imported: set for this process too
    try:
        _set_environment(wanted)
        constants.ENABLE_RAY_CLUSTER = False
        _reload_ray_auth()
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = cluster
        _set_environment(saved)
        _reload_ray_auth()


def _set_environment(values: dict) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _reload_ray_auth() -> None:
    """Ray's settings in this process read again from the environment (the authentication mode and
    token are read once and kept)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication (before 2.52): nothing kept to read again
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def local_ray(**options):
    """``ray.init(**options)`` of a Ray on this machine alone, within :func:`loopback_ray_environment`;
    shut down on leaving. Every Ray this package, its tests and its benchmarks start comes from here."""
    import ray

    with loopback_ray_environment():
        try:
            # address="local": a new Ray of its own, always. Without it ray.init() joins the last Ray
            # `ray start` began on this machine (/tmp/ray/ray_current_cluster), token or not.
            ray.init(address="local", _node_ip_address="127.0.0.1", **options)
            yield ray
        finally:  # also what a failed start left running
            ray.shutdown()


@contextlib.contextmanager
def _quiet():
    """Ray's own INFO and WARNING lines (execution plans, deprecations) off the user's stderr; errors stay."""
    import logging
    import warnings

    import ray.data  # noqa: F401 (Ray Data sets its loggers up on import: quieten them after)

    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"ray\..*")
            warnings.filterwarnings("ignore", message=r".*(deprecated|Progress bars).*")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _run(ray, listing: Path, target: Store, settings: StoreSettings, job: DecodeJob, network: _NetworkSpec,
         model: bytes, done: np.ndarray, actors, rows_per_part, part_seconds, progress, listed, log, start):
    """Build the dataset, run it, and write the store's parts; (skipped, tagged, failed, parts, seconds
    from ``start`` to the first result and to the last)."""
    import ray.data

    from ..base.progress import progress_bar

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    resources = ray.cluster_resources()
    cpus, nodes = int(resources.get("CPU", 1)), max(1, sum(1 for n in ray.nodes() if n.get("Alive")))
    actors = actors or max(1, cpus // 2)
    per_node = math.ceil(actors / nodes)
    network = dataclasses.replace(network, threads=network.threads or max(1, (cpus // nodes) // per_node))
    done_ref, model_ref = ray.put(done), ray.put(model)
    source = f"local://{listing}" if ray.util.client.ray.is_connected() or len(ray.nodes()) > 1 else str(listing)
    dataset = (ray.data.read_parquet(source)
               .repartition(target_num_rows_per_block=_FILES_PER_BLOCK)
               .map_batches(_plan_batch, fn_args=(job, done_ref), batch_size=_FILES_PER_BLOCK, num_cpus=0.5)
               .map_batches(_decode_batch, fn_args=(job,), batch_size=1, num_cpus=1)
               # Ray Data retries tasks and restarts actors without end by default: a lost node's work is redone.
               # An actor holds half a CPU in Ray's books (which also keeps it from being fused with the
               # decoding tasks): its onnxruntime threads share the node's cores with decoding, as the
               # single-process tagger's do, and decoding keeps the rest of the CPUs to schedule on.
               .map_batches(_Network, fn_constructor_args=(network, [model_ref]), batch_size=network.batch_size,
                            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=_ACTOR_CPUS))
    log(f"Ray: {nodes} node(s), {cpus} CPU(s); {actors} network actor(s) of {network.threads} thread(s)")
    gather = _Gather(settings)
    skipped = parts = 0
    pending: list[dict] = []
    last = time.monotonic()
    counts = {"ok": 0, "error": 0}
    stamps: list = []
    try:
        with progress_bar(listed, "fcn4 --ray", "file", progress) as bar:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for row in _rows(batch):
                    if row["skip"]:
                        skipped += 1
                        bar.update()
                        continue
                    for finished in gather.add(row):
                        pending.append(finished)
                        counts[finished["status"]] += 1
                        bar.update()
                    if pending and (len(pending) >= rows_per_part or time.monotonic() - last >= part_seconds):
                        target.write_part(pending)
                        parts, pending, last = parts + 1, [], time.monotonic()
                done_now = counts["ok"] + counts["error"]
                if done_now:  # (seconds, files done) when the first batch of results came, and the last
                    stamps = (stamps or [time.perf_counter() - start, None, done_now])
                    stamps[1] = time.perf_counter() - start
        if gather.partial:  # parts Ray never handed back: left out of the store, so a rerun does them
            log(f"{len(gather.partial)} long file(s) came back incomplete and are not stored; rerun to tag them")
        if os.environ.get("FCN4_RAY_STATS"):  # Ray Data's per-operator figures, to tune a cluster's job
            log(dataset.stats())
    except FCN4Error:
        raise
    except Exception as exc:  # noqa: BLE001 (Ray's errors: the job could not finish)
        raise LibraryJobError(f"the Ray job stopped: {_ray_reason(exc)}; the {parts} part(s) written are kept: "
                              "rerun the same command to go on") from exc
    finally:
        if pending:  # written even when the job stops: what was done is kept
            target.write_part(pending)
            parts += 1
    return (skipped, counts["ok"], counts["error"], parts, *(stamps or [None, None, 0]))


def _ray_reason(exc: Exception) -> str:
    """The line of a Ray error that says what went wrong (the cause's ``Kind: message``), without
    Ray's colour codes and task headers."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    causes = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b.*: ", line)
              and not line.startswith(("ray.exceptions.", "ray.data"))]
    return causes[-1] if causes else f"{type(exc).__name__}: {lines[0] if lines else 'no detail'}"


def _rows(batch: dict):
    names = list(batch)
    for values in zip(*(batch[n] for n in names)):
        yield dict(zip(names, values))


class _Gather:
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
        combine = (lambda v: v.max(axis=0)) if s.aggregate == "max" else (lambda v: v.mean(axis=0))
        track = combine(probabilities)
        record.update(starts=np.concatenate([np.asarray(r["starts"], np.float64) for r in rows]).tolist(),
                      probabilities=track.tolist(), top_tags=[tag for tag, _ in top_k(track, s.labels, s.top_k)])
        if s.window == "track":
            record["window_probabilities"] = probabilities.tolist()
        if s.embeddings:
            vectors = np.concatenate([np.asarray(r["embeddings"], np.float32).reshape(-1, s.features) for r in rows])
            record["embedding"] = combine(vectors).tolist()
            if s.window == "track":
                record["window_embeddings"] = vectors.tolist()
        return record


def _text(path) -> str:
    """A path as the store's text: its own characters, bytes that are no UTF-8 as ``\\xNN``."""
    return bytes(path).decode("utf-8", "backslashreplace") if isinstance(path, (bytes, np.bytes_)) else str(path)


def _seconds(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


# --------------------------------------------------------------------------- the Ray stages
_EMPTY = {"part": 0, "parts": 1, "error": "", "note": "", "seconds": float("nan")}


#: The rows planning hands on: one per decoding job (or per file skipped or failed), and their types.
_PLAN_COLUMNS = {"path": object, "size": np.int64, "mtime_ns": np.int64, "key": np.uint64, "skip": bool,
                 "part": np.int64, "parts": np.int64, "first": np.int64, "count": np.int64, "error": object,
                 "note": object, "seconds": np.float64}


def _plan_batch(batch: dict, job: DecodeJob, done) -> dict:
    """Planning: which inputs the store lacks (by path, size and time), and each one's decoding jobs."""
    done = KeySet.from_sorted(_value(done))
    out = {name: [] for name in _PLAN_COLUMNS}

    def emit(path, size, mtime, key, skip=False, part=0, parts=1, first=0, count=-1, error=""):
        for name, value in zip(out, (path, size, mtime, key, skip, part, parts, first, count, error, "",
                                     float("nan"))):
            out[name].append(value)

    for raw, error in zip(batch["path"], batch["error"]):
        raw = bytes(raw)
        path = os.fsdecode(raw)
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


def _decode_batch(batch: dict, job: DecodeJob) -> dict:
    """Decoding: each row's windows as log-mel inputs, or the reason it failed."""
    fe = job.front_end
    batch = dict(batch)
    for name in ("error", "note", "seconds"):  # Ray's arrays are read-only
        batch[name] = np.array(batch[name], copy=True)
    melgrams, starts = [], []
    for i, raw in enumerate(batch["path"]):
        shape = (0, fe.n_mels, fe.n_frames)
        windows = np.zeros(shape, np.float32), np.zeros(0)
        if not batch["skip"][i] and not batch["error"][i]:
            path = os.fsdecode(bytes(raw))
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


class _Network:
    """The network actor: opens the shipped ONNX export once, runs every batch of windows it is given."""

    def __init__(self, network: _NetworkSpec, model):
        from ..inference.backends import NetworkInfo, OnnxBackend

        model = _value(model[0])  # a reference inside a list: Ray hands it over unresolved, and small
        if hashlib.sha256(model).hexdigest() != network.sha256:
            raise LibraryJobError("the ONNX export reached this actor damaged (its sha256 differs)")
        self.embeddings = network.embeddings
        self.backend = OnnxBackend(model, network.batch_size, network.input_shape, NetworkInfo(**network.info),
                                   network.threads)

    def __call__(self, batch: dict) -> dict:
        melgrams = list(batch.pop("melgrams"))
        counts = [len(m) for m in melgrams]
        features, probabilities = [], []
        windows = np.concatenate(melgrams) if sum(counts) else np.zeros((0, *self.backend.input_shape[1:]), np.float32)
        size = self.backend.batch_size
        for at in range(0, len(windows), size):
            f, p = self.backend(windows[at:at + size][:, None])
            features.append(f)
            probabilities.append(p)
        info = self.backend.info
        features = np.concatenate(features) if features else np.zeros((0, info.num_features), np.float32)
        probabilities = np.concatenate(probabilities) if probabilities else np.zeros((0, info.num_classes), np.float32)
        bounds = np.cumsum([0, *counts])
        batch["probabilities"] = _ragged([probabilities[a:b] for a, b in zip(bounds, bounds[1:])])
        if self.embeddings:  # else only the probabilities travel back (50 values a window, not 2048)
            batch["embeddings"] = _ragged([features[a:b] for a, b in zip(bounds, bounds[1:])])
        return batch
