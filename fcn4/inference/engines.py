"""The fastest engine on this machine, chosen by measurement, checked, and remembered.

The first run for a (weights, CPU model, batch shape, precision, device, threads) opens each engine
that can run here, checks its outputs against MindSpore graph mode's on the check batch (within
:data:`TOLERANCE`), times it on a few batches, and keeps the fastest that passed; the choice and its
figures are cached (:mod:`fcn4.inference.engine_cache`). Later runs open the chosen engine alone:
neither MindSpore nor an engine that was not chosen is imported.

``precision='fast'`` also tries bf16 (OpenVINO, where the CPU has AMX or AVX512-BF16) and int8
(static, per channel, calibrated on melgrams of half the user's first clips); each is accepted only
if, on clips beside fp32 (for int8: the other half, at least :data:`MIN_CHECK_CLIPS`), every clip keeps its top-5 tags, no probability moves more than
:data:`MAX_DP` and every embedding keeps a cosine of at least :data:`MIN_COSINE`. Otherwise fp32 is
used and the choice says why.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from ..base.errors import BackendError, FCN4Error, SettingError
from .backend_base import DEVICES, PRECISIONS, TOLERANCE, MindSporeBackend, difference, run_network
from .backend_onnx import OnnxBackend, export_network, find_export
from .candidates import available_engines
from .engine_cache import CHOICE_FORMAT, choice_path, cpu_model, read_choice, write_choice
from .selfcheck import MAX_DP, MIN_COSINE, TOP, self_check

__all__ = ["PRECISIONS", "DEVICES", "EngineRequest", "open_engine", "choose_fast", "open_shipped", "open_named",
           "self_check", "available_engines", "MAX_DP", "MIN_COSINE", "TOP"]

logger = logging.getLogger("fcn4.inference.engines")

#: Timing: at least this many batches and this many seconds per engine (a few seconds in all).
_RUNS, _SECONDS, _MAX_RUNS = 3, 0.5, 30
#: int8 is checked only on clips it was not calibrated on, at least this many (a model checked on its
#: own calibration clips passes too easily).
MIN_CHECK_CLIPS = 8


@dataclass(frozen=True)
class EngineRequest:
    """What the caller asks for: a backend (or ``auto``), a precision and a device, with its batch shape."""
    backend: str = "auto"
    precision: str = "exact"
    device: str = "cpu"
    threads: int | None = None
    batch_size: int = 4
    input_shape: tuple = (1, 96, 1366)

    def key(self, weights: str) -> dict:
        from ..audio.decoding import cpu_count

        return {"weights": weights, "cpu": cpu_model(), "batch": self.batch_size, "input": list(self.input_shape),
                "precision": self.precision, "device": self.device, "threads": int(self.threads or cpu_count()),
                "backend": self.backend}


def _candidates(request: EngineRequest) -> list[tuple[str, str | None]]:
    """(engine, reason it cannot run or None) for the request, fp32 ones first."""
    found = available_engines(request.device)
    names = [n for n in found if request.precision == "fast" or n.endswith("fp32")]
    if request.backend != "auto":
        names = [n for n in names if n.split()[0] == request.backend]
    return [(n, found[n]) for n in names]


def open_engine(request: EngineRequest, build, key: str | None, *, cache_dir=None, hub_dir=None):
    """The engine for ``request`` on the network ``build()`` returns (built only when needed).

    A cached choice opens at once. Otherwise the export is made (or found), the engines are measured
    and the choice cached. ``auto`` falls back to MindSpore graph mode, with a ``RuntimeWarning``
    saying why, when no ONNX engine can run; a named backend that cannot run raises
    :class:`BackendError` saying what to install. ``precision='fast'`` opens the exact choice until
    :func:`choose_fast` is given the first clips (unless a fast choice is cached).
    """
    import warnings

    _check(request)
    if key is None and request.backend != "mindspore":  # a network in memory: its parameters are its key
        from .backend_base import network_digest

        key = network_digest(build())
    if request.backend == "mindspore":
        backend = MindSporeBackend(build(), request.batch_size, request.input_shape, request.threads)
        backend.choice = _describe("mindspore fp32", "forced", request)
        return backend
    try:
        if request.device == "cuda" or request.backend in ("onnxruntime", "openvino"):
            problems = [why for _, why in _candidates(request) if why]
            if problems and len(problems) == len(_candidates(request)):
                raise BackendError(f"{problems[0]}; or leave --backend at auto" if request.device == "cpu"
                                   else _no_gpu(problems))
        if request.precision == "fast":
            fast = _cached(request, key, hub_dir, cache_dir)
            if fast is not None:
                return fast
        exact = EngineRequest(request.backend, "exact", request.device, request.threads, request.batch_size,
                              request.input_shape)
        backend = _cached(exact, key, hub_dir, cache_dir) or _measure(exact, build, key, hub_dir, cache_dir)
        backend.pending, backend.key = request.precision == "fast", key
        return backend
    except BackendError as exc:
        if request.backend != "auto" or request.device != "cpu":
            raise
        warnings.warn(f"{exc}; falling back to the MindSpore graph backend (about half as fast)", RuntimeWarning,
                      stacklevel=3)
    backend = MindSporeBackend(build(), request.batch_size, request.input_shape, request.threads)
    backend.choice = _describe("mindspore fp32", "fallback", request, note="no ONNX engine could run")
    return backend


def _check(request: EngineRequest) -> None:
    from .backend_base import BACKENDS

    for name, value, choices in (("backend", request.backend, BACKENDS), ("precision", request.precision, PRECISIONS),
                                 ("device", request.device, DEVICES)):
        if value not in choices:
            raise SettingError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def _no_gpu(problems) -> str:
    return "--device cuda: " + "; ".join(sorted(set(problems))) + "; or use --device cpu"


def _export(build, key, request, cache_dir):
    from .backend_base import network_digest

    export = key and find_export(key, request.batch_size, request.input_shape, cache_dir)
    if export:
        return export
    net = build()
    return export_network(net, key or network_digest(net), request.batch_size, request.input_shape, cache_dir)


def _cached(request, key, hub_dir, cache_dir):
    """The engine of a cached choice for ``request``, opened; None when there is none (or it cannot open)."""
    if key is None:
        return None
    record = read_choice(choice_path(request.key(key), hub_dir), request.key(key))
    if record is None:
        return None
    export = find_export(key, request.batch_size, request.input_shape, cache_dir)
    if export is None:
        return None
    choice = record["choice"]
    name = f"{choice['backend']} {choice['dtype']}"
    try:
        backend = open_named(name, export, request, choice.get("int8"), hub_dir)
    except (BackendError, OSError) as exc:  # a file changed (its export is then removed), an engine uninstalled
        logger.warning("the engine chosen before (%s) cannot open now (%s); measuring again", name, exc)
        return None
    backend.choice = _describe(name, "cached", request, record)
    logger.debug("engine: %s (cached choice)", name)
    return backend


def open_named(name: str, export, request: EngineRequest, int8: dict | None = None, hub_dir=None):
    """Open the engine ``name`` (``backend dtype``) on ``export``."""
    batch, shape = export.shape
    kind, dtype = name.split()
    if kind not in ("onnxruntime", "openvino") or dtype not in ("fp32", "bf16", "int8"):
        raise BackendError(f"{name!r} is not an engine this version can open; use --backend auto, onnxruntime or "
                           "openvino")
    if request.precision != "fast" and dtype != "fp32":
        raise BackendError(f"{name} is not exact; precision {request.precision} runs fp32 only")
    if kind == "onnxruntime" and dtype == "fp32":
        return export.onnxruntime(request.threads, request.device)
    if kind == "onnxruntime":
        path, model = _int8(int8, hub_dir)
        backend = OnnxBackend(model, batch, shape, export.info, request.threads, device=request.device,
                              precision=dtype)
        backend.path, backend.sha256 = path, int8["sha256"]
        return backend
    from .backend_openvino import OpenVinoBackend, compiled_cache, openvino_module

    openvino_module()
    if dtype == "int8":
        (path, model), sha256 = _int8(int8, hub_dir), int8["sha256"]
    else:
        export.read("std")  # its sha256 checked (a file that changed removes the export); OpenVINO opens the path
        path, sha256 = export.standard, export.record.get("standard_sha256")
        model = path
    backend = OpenVinoBackend(model, batch, shape, export.info, threads=request.threads, precision=dtype,
                              device=request.device, cache_dir=_compile_cache(compiled_cache(path)))
    backend.path, backend.sha256 = path, sha256
    return backend


def _compile_cache(folder):
    """OpenVINO's CACHE_DIR, made inside the export's folder (never through a link); None if it cannot be."""
    from ..base.files import folder_inside

    try:
        return folder_inside(folder.parent, folder.name)
    except OSError as exc:  # a link in its place, a read-only hub: compile every time
        logger.debug("OpenVINO's compiled-model cache is off: %s", exc)
        return None


def _int8(int8, hub_dir):
    """(path, bytes) of the cached int8 model a choice names, read once and checked."""
    from .quantize import int8_model

    if not int8:
        raise BackendError("int8 needs the first clips to calibrate on")
    return int8_model(int8["file"], int8["sha256"], hub_dir)


def _race(backends: dict, x) -> dict[str, float]:
    """Clips per second of each engine on ``x``, timed in turns (A, B, A, B, ...: a load that comes and
    goes while they run falls on all of them alike), the median batch of each."""
    times = {name: [] for name in backends}
    for backend in backends.values():
        backend(x)  # warm-up
    start = time.perf_counter()
    while min(map(len, times.values())) < _MAX_RUNS and (
            min(map(len, times.values())) < _RUNS or time.perf_counter() - start < _SECONDS * len(backends)):
        for name, backend in backends.items():
            t = time.perf_counter()
            backend(x)
            times[name].append(time.perf_counter() - t)
    return {name: len(x) / float(np.median(spent)) for name, spent in times.items()}


def _measure(request, build, key, hub_dir, cache_dir):
    """Measure the fp32 engines for ``request``, cache the choice, return the fastest that agrees."""
    try:
        export = _export(build, key, request, cache_dir)
        x, *want = export.reference()
    except OSError as exc:  # a file of the export removed meanwhile (a link refused stays what it is)
        if isinstance(exc, FCN4Error):
            raise
        raise BackendError(f"the ONNX export could not be read: {exc}; run again to export it anew") from exc
    candidates = _candidates(request)
    logger.info("choosing the fastest engine for this machine (%s; once, a few seconds): %s", cpu_model(),
                ", ".join(n for n, _ in candidates))
    figures, opened = {}, {}
    for name, why in candidates:
        if why:
            figures[name] = {"engine": name, "clips_per_second": None, "status": f"unavailable: {why}"}
            continue
        try:
            backend = open_named(name, export, request, hub_dir=hub_dir)
            error = difference(backend(x), want)
            if not error <= TOLERANCE:
                raise BackendError(f"its outputs differ from MindSpore graph mode by {error:.2e} (> {TOLERANCE:g})")
        except (BackendError, OSError) as exc:  # OSError: a file of the export gone meanwhile
            figures[name] = {"engine": name, "clips_per_second": None, "status": f"refused: {exc}"}
            logger.warning("engine %s refused: %s", name, exc)
            continue
        figures[name] = {"engine": name, "clips_per_second": None, "status": "ok", "difference": float(f"{error:.3g}")}
        opened[name] = backend
    if not opened:
        raise BackendError("no engine agreed with MindSpore graph mode: "
                           + "; ".join(f"{f['engine']} {f['status']}" for f in figures.values()))
    rates = _race(opened, x) if len(opened) > 1 else {name: None for name in opened}
    for name, rate in rates.items():
        figures[name]["clips_per_second"] = None if rate is None else round(rate, 3)
    best = max(opened, key=lambda n: rates[n] or 0.0)
    record = _record(request, key, best, list(figures.values()))
    _save(request, key, record, hub_dir)
    _say(best, list(figures.values()))
    backend = opened[best]
    backend.choice = _describe(best, "measured", request, record)
    return backend


def choose_fast(backend, clips: np.ndarray, build, key, request: EngineRequest, *, hub_dir=None, cache_dir=None):
    """The fastest engine that passes the self-check on ``clips`` (``[N, 1, mels, frames]``, the user's
    first clips) beside the fp32 ``backend``: bf16 and int8 candidates are opened, checked and timed;
    the choice (fp32 when none passes, saying why) is cached. Returns the engine to use."""
    from .quantize import quantize

    if not len(clips):
        backend.choice = {**backend.choice, "note": "fast precision: no clip could be read to check bf16 or int8 on; fp32"}
        return backend
    export = _export(build, key, request, cache_dir)
    x = check_batch_like(export)
    fp32_name = backend.choice["engine"]
    want = _outputs(backend, clips)
    figures = {fp32_name: {"engine": fp32_name, "clips_per_second": None, "status": "ok (the reference)"}}
    passed, checks, int8, short = {fp32_name: backend}, {}, None, ""
    calibration, held_out = clips[: len(clips) // 2], clips[len(clips) // 2:]
    for name, why in _candidates(request):
        if name.endswith("fp32"):
            continue
        if why:
            figures[name] = {"engine": name, "clips_per_second": None, "status": f"unavailable: {why}"}
            continue
        try:
            on, reference = clips, want
            if name.endswith("int8"):
                if len(held_out) < MIN_CHECK_CLIPS or not len(calibration):
                    short = (f"int8 needs {2 * MIN_CHECK_CLIPS} readable files (half to calibrate on, half to check "
                             f"on), got {len(clips)}; not cached: measured again on the next run")
                    raise BackendError(short)
                if int8 is None:
                    path, sha256 = quantize(export, calibration, hub_dir)
                    int8 = {"file": path.name, "sha256": sha256, "calibration_clips": len(calibration)}
                on = held_out
                reference = tuple(a[len(calibration):] for a in want)
            candidate = open_named(name, export, request, int8, hub_dir)
            check = checks[name] = {**self_check(_outputs(candidate, on), reference), "clips": int(len(on))}
            if not check["passed"]:
                raise BackendError(check["why"])
        except Exception as exc:  # noqa: BLE001 (a fast candidate that fails in any way is refused; fp32 is kept)
            exc = exc if isinstance(exc, (BackendError, OSError)) else f"{type(exc).__name__}: {exc}"
            figures[name] = {"engine": name, "clips_per_second": None, "status": f"refused: {str(exc)[:500]}"}
            logger.warning("fast precision: %s refused: %s", name, exc)
            continue
        figures[name] = {"engine": name, "clips_per_second": None, "status": "ok"}
        passed[name] = candidate
    rates = _race(passed, x)  # the fp32 engine beside those that passed, in turns
    for name, rate in rates.items():
        figures[name]["clips_per_second"] = round(rate, 3)
    best = max(passed, key=lambda n: rates[n])
    best_backend, figures = passed[best], list(figures.values())
    note = "" if best != fp32_name else "fast precision: no bf16 or int8 engine passed its self-check and ran faster; fp32"
    if short:
        note = "; ".join(filter(None, (note, short)))
    record = _record(request, key, best, figures, check={"clips": int(len(clips)), "against": fp32_name, **(
        checks.get(best) or {})}, note=note, int8=int8 if best.endswith("int8") else None)
    if not short:
        _save(request, key, record, hub_dir)
    _say(best, figures, note)
    best_backend.choice = _describe(best, "measured", request, record)
    return best_backend


def open_shipped(engine: dict, model: bytes, batch_size: int, input_shape, info, threads: int | None = None):
    """The engine ``engine`` (a :attr:`Backend.choice`) on ``model``, the bytes another process checked and
    shipped (a Ray actor's), with ``threads`` threads."""
    backend, dtype, device = engine.get("backend"), engine.get("dtype"), engine.get("device", "cpu")
    if backend == "onnxruntime":
        opened = OnnxBackend(model, batch_size, input_shape, info, threads, device=device, precision=dtype)
    elif backend == "openvino":
        from .backend_openvino import OpenVinoBackend

        opened = OpenVinoBackend(model, batch_size, input_shape, info, threads=threads, precision=dtype, device=device)
    else:
        raise BackendError(f"the {backend} engine cannot run from a shipped model; use --backend auto, onnxruntime "
                           "or openvino")
    opened.choice = dict(engine)
    return opened


def check_batch_like(export) -> np.ndarray:
    batch, shape = export.shape
    from .backend_base import check_batch

    return check_batch(batch, shape)


def _outputs(backend, clips) -> tuple[np.ndarray, np.ndarray]:
    return run_network(backend, clips[:, 0])


def _record(request, key, best, figures, *, check=None, note="", int8=None) -> dict:
    backend, dtype = best.split()
    return {"format": CHOICE_FORMAT, "key": request.key(key),
            "choice": {"backend": backend, "dtype": dtype, **({"int8": int8} if int8 else {})},
            "figures": figures, "check": check, "note": note,
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _save(request, key, record, hub_dir) -> None:
    try:
        write_choice(choice_path(request.key(key), hub_dir), record)
    except OSError as exc:  # a read-only hub: measured again next time
        logger.warning("the engine choice could not be cached (%s); it will be measured again next time", exc)


def _say(best, figures, note="") -> None:
    rates = ", ".join(f"{f['engine']} {f['clips_per_second']:.2f}" for f in figures if f["clips_per_second"])
    logger.info("engine: %s (clips/s: %s)%s", best, rates or "-", f"; {note}" if note else "")


def _describe(name, how, request, record=None, note="") -> dict:
    """What a run records of its engine (output header, store settings)."""
    from ..audio.decoding import cpu_count

    backend, dtype = name.split()
    described = {"engine": name, "backend": backend, "dtype": dtype, "precision": request.precision,
                 "device": request.device, "threads": int(request.threads or cpu_count()), "chosen": how}
    if record:
        described["check"] = record.get("check")
        note = note or record.get("note", "")
    if note:
        described["note"] = note
    return described
