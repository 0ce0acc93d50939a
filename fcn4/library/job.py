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
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..base.errors import FCN4Error, LibraryJobError, SettingError
from ..base.files import folder_inside
from ..hub.weights import DEFAULT_UID
from ..inference.settings import InferenceSettings
from .extra import require
from .keys import KeySet
from .listing import LISTING, listing_dataset, write_listing
from .ray_session import _LOOPBACK_ONLY, local_ray, loopback_ray_environment, ray_reason  # noqa: F401
from .ray_session import ray_session as _ray_session
from .results import PART_SECONDS, ROWS_PER_PART, LibraryJobOptions, LibraryResult, RunCounts  # noqa: F401
from .stages import ACTOR_CPUS, FILES_PER_BLOCK, Gather, Network, NetworkSpec, decode_batch, plan_batch, rows_of
from .store import Store, StoreSettings, check_folder

__all__ = ["tag_library", "embed_library", "LibraryResult", "LibraryJobError", "LibraryJobOptions", "ROWS_PER_PART",
           "PART_SECONDS", "local_ray", "loopback_ray_environment"]

# The names these had when they lived here (tests and scripts import them from here).
_write_listing, _ray_reason, _Gather = write_listing, ray_reason, Gather
logger = logging.getLogger(__name__)
_SETTINGS = {f.name for f in dataclasses.fields(InferenceSettings)}
_JOB = {f.name for f in dataclasses.fields(LibraryJobOptions)}


def embed_library(paths, store, **options) -> LibraryResult:
    """:func:`tag_library` with the 2048-d embeddings kept (``embedding`` column)."""
    return tag_library(paths, store, embeddings=True, **options)


def tag_library(paths, store, *, weights=DEFAULT_UID, labels=None, embeddings: bool = False, batch_size: int = 4,
                settings: InferenceSettings | None = None, job: LibraryJobOptions | None = None, log=None,
                **options) -> LibraryResult:
    """Tag (and with ``embeddings``, embed) every file of ``paths`` on Ray into the store folder ``store``.

    Parameters
    ----------
    paths : path, URI or list of them
        Files, folders, globs, manifests (see :func:`~fcn4.library.inputs.iter_inputs`).
    store : path
        The output folder (created; a rerun into it goes on where the last run stopped).
    settings : InferenceSettings, optional
        How files are tagged (as :meth:`fcn4.Tagger.predict`'s); default: its defaults.
    job : LibraryJobOptions, optional
        How the job runs on Ray: its address, actors, threads, parts of the store, retries. If Ray is
        already initialised in this process, that Ray is used; Ray is not started when every input
        is in the store already.
    options :
        Fields of ``settings`` and ``job`` one by one (``window='track'``, ``actors=2``), replacing theirs.

    ``weights``, ``labels`` and ``batch_size`` are :class:`fcn4.Tagger`'s.
    Returns a :class:`LibraryResult`; files that failed are rows with their reason.
    """
    unknown = sorted(set(options) - _SETTINGS - _JOB)
    if unknown:
        raise TypeError(f"tag_library() got unexpected keyword argument(s): {', '.join(unknown)}")
    settings = InferenceSettings.of(settings, **{k: v for k, v in options.items() if k in _SETTINGS})
    job = dataclasses.replace(job or LibraryJobOptions(), **{k: v for k, v in options.items() if k in _JOB})
    return _tag_library(paths, store, weights, labels, bool(embeddings), batch_size, settings, job,
                        log or logger.info)  # (the CLI hands its own, which prints the lines)


def _tag_library(paths, store, weights, labels, embeddings: bool, batch_size: int, settings: InferenceSettings,
                 job: LibraryJobOptions, log) -> LibraryResult:
    from ..base.locks import exclusive_folder
    from ..inference.tagger import Tagger

    require("ray", "pyarrow")
    start = time.perf_counter()
    store_dir = check_folder(store)  # before the weights are checked and the folder locked
    if settings.backend == "mindspore":
        raise SettingError("a library job runs an exported engine on its actors; use backend auto, onnxruntime "
                           "or openvino, not mindspore")
    with Tagger(weights, settings=settings, batch_size=batch_size, workers=0, labels=labels) as tagger:
        tagger.prepare(_local_inputs(paths))  # precision 'fast': bf16/int8 checked on the first local files
        stored = StoreSettings.for_run(tagger, settings, embeddings)
        model = tagger.backend.model_bytes()  # the checked model's bytes, checked again as they are read
        network = NetworkSpec(hashlib.sha256(model).hexdigest(), batch_size,
                              (1, tagger.front_end.n_mels, tagger.front_end.n_frames),
                              dataclasses.asdict(tagger.backend.info), job.threads, embeddings, tagger.engine)
        decoding = settings.decode_job("", tagger.front_end, tagger.min_seconds)
    with exclusive_folder(store_dir, "library job"):
        target = Store.open_for(store_dir, stored)
        done = target.done_keys(retry_failed=job.retry_failed)
        listing, listed, work = write_listing(paths, folder_inside(store_dir, LISTING), KeySet.from_sorted(done))
        log(f"{listed} input(s) listed; the store holds {len(done)} file version(s) already")
        try:
            if not work:  # every input is in the store, unchanged: no Ray to start
                log("nothing to do: every input is in the store already")
                seconds = time.perf_counter() - start
                return LibraryResult(store_dir, listed, listed, 0, 0, 0, seconds, 0.0, ray_started=False)
            with _ray_session(job.address) as ray:
                startup = time.perf_counter() - start
                counts = _run(ray, _Inputs(listing, listed, done, stored), target, decoding, network, model, job,
                              log, start)
        finally:
            with contextlib.suppress(OSError):
                listing.unlink()
    return LibraryResult(store_dir, listed, counts.skipped, counts.tagged, counts.failed, counts.parts,
                         time.perf_counter() - start, startup, counts.first_result_seconds,
                         counts.last_result_seconds, counts.first_results)


def _local_inputs(paths) -> list:
    """The inputs that are files or folders on this machine (for the first clips a fast engine is checked on)."""
    listed = paths if isinstance(paths, (list, tuple)) else [paths]
    return [p for p in listed if isinstance(p, (str, os.PathLike)) and os.path.exists(p)
            and not os.fspath(p).endswith((".txt", ".csv", ".parquet"))]


@dataclasses.dataclass(frozen=True)
class _Inputs:
    listing: Path  # the Parquet listing of the inputs
    listed: int  # how many
    done: np.ndarray  # the keys the store holds
    settings: StoreSettings  # this run's


def _run(ray, inputs: _Inputs, target: Store, decoding, network: NetworkSpec, model: bytes, job: LibraryJobOptions,
         log, start: float) -> RunCounts:
    """Build the dataset, run it, and write the store's parts (see :class:`RunCounts`)."""
    import ray.data

    from ..base.progress import progress_bar

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    resources = ray.cluster_resources()
    cpus, nodes = int(resources.get("CPU", 1)), max(1, sum(1 for n in ray.nodes() if n.get("Alive")))
    actors = job.actors or max(1, cpus // 2)
    per_node = math.ceil(actors / nodes)
    network = dataclasses.replace(network, threads=network.threads or max(1, (cpus // nodes) // per_node))
    done_ref, model_ref = ray.put(inputs.done), ray.put(model)
    base = os.getcwd()  # a relative input is the driver's: the workers' own working folder is another
    dataset = (listing_dataset(ray, inputs.listing, on_driver=nodes > 1)
               .repartition(target_num_rows_per_block=FILES_PER_BLOCK)
               .map_batches(plan_batch, fn_args=(decoding, done_ref, base), batch_size=FILES_PER_BLOCK, num_cpus=0.5)
               .map_batches(decode_batch, fn_args=(decoding, base), batch_size=1, num_cpus=1)
               # Ray Data retries tasks and restarts actors without end by default: a lost node's work is redone.
               # An actor holds half a CPU in Ray's books (which also keeps it from being fused with the
               # decoding tasks): its onnxruntime threads share the node's cores with decoding, as the
               # single-process tagger's do, and decoding keeps the rest of the CPUs to schedule on.
               .map_batches(Network, fn_constructor_args=(network, [model_ref]), batch_size=network.batch_size,
                            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=ACTOR_CPUS))
    log(f"Ray: {nodes} node(s), {cpus} CPU(s); {actors} network actor(s) of {network.threads} thread(s)")
    gather = Gather(inputs.settings)
    skipped = parts = 0
    pending: list[dict] = []
    last = time.monotonic()
    counts = {"ok": 0, "error": 0}
    stamps: list = []
    try:
        with progress_bar(inputs.listed, "fcn4 --ray", "file", job.progress) as bar:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                for row in rows_of(batch):
                    if row["skip"]:
                        skipped += 1
                        bar.update()
                        continue
                    for finished in gather.add(row):
                        pending.append(finished)
                        counts[finished["status"]] += 1
                        bar.update()
                    if pending and (len(pending) >= job.rows_per_part or time.monotonic() - last >= job.part_seconds):
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
        raise LibraryJobError(f"the Ray job stopped: {ray_reason(exc)}; the {parts} part(s) written are kept: "
                              "rerun the same command to go on") from exc
    finally:
        if pending:  # written even when the job stops: what was done is kept
            target.write_part(pending)
            parts += 1
    return RunCounts(skipped, counts["ok"], counts["error"], parts, *(stamps or [None, None, 0]))
