"""Inference backends: FCN-4 on batches of melgrams -> (embeddings, tag probabilities).

``mindspore`` runs the network in graph mode (``mindspore.jit``): the reference. ``onnxruntime``
runs the same network exported by MindSpore's own ``mindspore.export(..., file_format="ONNX")``,
about twice as fast on CPU. Each export is checked against the MindSpore outputs before use and
cached under ``<hub dir>/onnx/``, keyed by the weights (the checkpoint's sha256 and the network
arguments, or a digest of the parameter values of a network in memory) and the input shape. A
cached export opens without importing MindSpore or building the network, which makes a cold
``python -m fcn4 tag`` start in about a second.

Both take a fixed batch shape (ONNX export is static, and one shape means one graph compile):
a shorter last batch is zero-padded and the padding's outputs are dropped.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..audio.decoding import cpu_count
from ..base.errors import FCN4Error, SettingError, BackendError

__all__ = ["Backend", "MindSporeBackend", "OnnxBackend", "BackendError", "NetworkInfo", "make_backend",
           "network_digest", "BACKENDS", "TOLERANCE"]

#: Backend names ``make_backend`` takes; ``auto`` is onnxruntime when installed, else mindspore.
BACKENDS = ("auto", "onnxruntime", "mindspore")
#: Largest difference allowed between an ONNX export's outputs and MindSpore's (features are
#: compared relative to their largest magnitude when it exceeds 1).
TOLERANCE = 1e-4
_EXPORT_FORMAT = 2  # bump to invalidate cached exports when the exported graph changes (2: saved optimised)


@dataclass(frozen=True)
class NetworkInfo:
    """What a caller needs to know of the network behind a backend."""
    num_classes: int
    num_features: int
    min_frames: int

    @classmethod
    def of(cls, net) -> "NetworkInfo":
        return cls(net.num_classes, net.num_features, net.min_input_size[1])


class Backend:
    """Runs a network on ``[n, 1, mels, frames]`` float32 batches of at most :attr:`batch_size`."""

    name = "backend"

    def __init__(self, batch_size: int, input_shape: tuple[int, int, int], info: NetworkInfo):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise SettingError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.input_shape = tuple(input_shape)
        self.info = info

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings ``[n, D]`` and probabilities ``[n, C]`` of ``x`` ``[n, 1, mels, frames]``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        n = x.shape[0]
        if x.shape[1:] != self.input_shape or not 0 < n <= self.batch_size:
            raise ValueError(f"{self.name} backend takes [1..{self.batch_size}, {', '.join(map(str, self.input_shape))}] "
                             f"inputs, got {list(x.shape)}")
        if n < self.batch_size:
            x = np.concatenate([x, np.zeros((self.batch_size - n,) + x.shape[1:], np.float32)])
        features, probabilities = self._run(x)
        return features[:n], probabilities[:n]

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_size={self.batch_size}, input_shape={self.input_shape})"


def _outputs_cell(net):
    """A cell returning ``(forward_features(x), sigmoid(logits))``: what tagging and embedding need."""
    from mindspore import nn, ops

    class Outputs(nn.Cell):
        def __init__(self, network):
            super().__init__(auto_prefix=False)  # else MindSpore renames the network's parameters
            self.network = network

        def construct(self, x):
            features = self.network.forward_features(x)
            return features, ops.sigmoid(self.network.forward_head(features))

    cell = Outputs(net)
    cell.set_train(False)
    return cell


class MindSporeBackend(Backend):
    """The network in MindSpore graph mode (compiled on the first batch), the reference path."""

    name = "mindspore"

    def __init__(self, net, batch_size: int, input_shape: tuple[int, int, int]):
        import mindspore as ms

        super().__init__(batch_size, input_shape, NetworkInfo.of(net))
        net.set_train(False)
        self._ms = ms
        self._step = ms.jit(_outputs_cell(net).construct)

    def _run(self, x):
        features, probabilities = self._step(self._ms.Tensor(x))
        return features.asnumpy(), probabilities.asnumpy()


class OnnxBackend(Backend):
    """An ONNX export of the network run by onnxruntime on the CPU."""

    name = "onnxruntime"

    def __init__(self, path, batch_size: int, input_shape: tuple[int, int, int], info: NetworkInfo,
                 threads: int | None = None):
        ort = _onnxruntime()
        super().__init__(batch_size, input_shape, info)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_count()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ``path`` may be the model's bytes: a Ray actor opens the export the driver checked and shipped.
        self.path = None if isinstance(path, bytes) else Path(path)
        model = path if isinstance(path, bytes) else str(path)
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        shape = self._session.get_inputs()[0].shape
        if list(shape) != [batch_size, *input_shape]:
            raise BackendError(f"ONNX model {self.path or '(bytes)'} takes {shape}, not {[batch_size, *input_shape]}")

    def _run(self, x):
        features, probabilities = self._session.run(None, {self._input: x})
        return features, probabilities

    #: The sha256 of the export this backend runs (recorded when it was written, checked when opened).
    sha256: str | None = None

    def model_bytes(self) -> bytes:
        """The export's bytes, read again and checked against the sha256 it was opened with (for
        shipping it to other processes: a file swapped since is refused, never shipped)."""
        data = self.path.read_bytes()
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            raise BackendError(f"the ONNX export {self.path} changed after it was checked (its sha256 differs "
                               "from the one recorded when it was written); it was not used: run again to export it anew")
        return data

    @staticmethod
    def cache_path(key: str, batch_size: int, input_shape, cache_dir=None) -> Path:
        """Where the export of the weights ``key`` for this input shape is cached."""
        if cache_dir is None:
            from ..hub.cache import get_hub_dir
            cache_dir = Path(get_hub_dir()) / _CACHE_FOLDER
        digest = hashlib.sha256(f"fcn4-onnx-{_EXPORT_FORMAT} {key}".encode()).hexdigest()
        shape = "x".join(str(v) for v in (batch_size, *input_shape))
        return Path(cache_dir) / f"fcn4-{digest[:24]}-{shape}.onnx"

    @classmethod
    def cached(cls, key: str, batch_size: int, input_shape, *, threads=None, cache_dir=None):
        """The cached export for ``key``, or None (a damaged entry is removed, never used).

        The export's bytes are read once, their sha256 compared with the one its ``.json`` recorded
        when it was written, and the session is opened from those very bytes: an export swapped for
        another model (or damaged) is removed and exported again, never run. A symbolic link for the
        cache folder, the export or its record is refused (:class:`~fcn4.UnsafePathError`).
        """
        _onnxruntime()  # missing onnxruntime is the caller's error, never a reason to drop the cache
        path = cls.cache_path(key, batch_size, input_shape, cache_dir)
        _refuse_links(path, cache_dir)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.with_suffix(".json").read_text())
            if record["key"] != key:
                raise ValueError("another key")
            model = path.read_bytes()
            if hashlib.sha256(model).hexdigest() != record["sha256"]:
                raise ValueError("another model")
            backend = cls(model, batch_size, input_shape, NetworkInfo(**record["info"]), threads)
        except Exception:
            path.unlink(missing_ok=True)
            return None
        backend.path, backend.sha256 = path, record["sha256"]
        return backend

    @classmethod
    def export(cls, net, key: str, batch_size: int, input_shape, *, threads=None, cache_dir=None) -> "OnnxBackend":
        """Export ``net`` to ONNX, check it against MindSpore graph mode, cache it and open it.

        The export enters the cache only if its outputs on a test batch are within
        :data:`TOLERANCE` of MindSpore's; otherwise :class:`BackendError`.
        """
        import mindspore as ms

        from ..base.files import replace_durably, temporary_beside, write_text_atomic
        from ..hub.download import sha256_file

        _onnxruntime()
        path = cls.cache_path(key, batch_size, input_shape, cache_dir)
        _refuse_links(path, cache_dir, make=True)
        info = NetworkInfo.of(net)
        net.set_train(False)
        x = np.random.default_rng(0).normal(-30.0, 15.0, (batch_size, *input_shape)).astype(np.float32)
        with temporary_beside(path, ".onnx") as tmp, temporary_beside(path, ".raw.onnx") as raw:
            try:
                ms.export(_outputs_cell(net), ms.Tensor(x), file_name=str(raw), file_format="ONNX")
            except Exception as exc:
                raise BackendError(f"mindspore.export to ONNX failed: {str(exc).splitlines()[0]}") from exc
            _optimise(raw, tmp)
            backend = cls(tmp, batch_size, input_shape, info, threads)
            error = _difference(backend(x), MindSporeBackend(net, batch_size, input_shape)(x))
            if error > TOLERANCE:
                raise BackendError(f"the ONNX export differs from the MindSpore network by {error:.2e} "
                                   f"(> {TOLERANCE:g}); use backend='mindspore'")
            digest = sha256_file(tmp)
            write_text_atomic(path.with_suffix(".json"), json.dumps(
                {"key": key, "sha256": digest, "info": asdict(info), "input": [batch_size, *input_shape], "max_difference": error,
                 "mindspore": ms.__version__, "network": net.extend_repr()}, indent=1))
            replace_durably(tmp, path)
        backend.path, backend.sha256 = path, digest
        return backend


#: The folder of the hub where ONNX exports are cached.
_CACHE_FOLDER = "onnx"


def _refuse_links(path: Path, cache_dir, make: bool = False) -> None:
    """Refuse a symbolic link for the hub's export folder (a folder passed as ``cache_dir`` is the
    caller's own choice), the export or its record: nothing is written, deleted or run through one."""
    from ..base.files import folder_inside, refuse_link

    if cache_dir is None:
        if make:
            folder_inside(path.parent.parent, _CACHE_FOLDER)
        else:
            refuse_link(path.parent, "the ONNX export cache inside the hub")
    refuse_link(path, "a cached ONNX export")
    refuse_link(path.with_suffix(".json"), "the record of a cached ONNX export")


def _optimise(source, target) -> None:
    """Save ``source`` with onnxruntime's extended graph optimisations applied (fused convolutions and
    the like): every later session starts from it and skips that work (0.31 -> 0.19 s for FCN-4).
    The layout optimisations of the highest level depend on the CPU, so they still run at load time."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def make_backend(kind: str, build, batch_size: int, input_shape: tuple[int, int, int], *, key: str | None = None,
                 threads: int | None = None, cache_dir=None) -> Backend:
    """The backend ``kind`` (see :data:`BACKENDS`) for the network ``build()`` returns.

    ``build`` is called only when the network is needed: not when a cached ONNX export of the
    weights ``key`` exists (``key=None``: a digest of the built network's parameters).
    ``auto`` takes onnxruntime and falls back to MindSpore, with a ``RuntimeWarning`` saying why,
    when onnxruntime is not installed or the export fails its check; naming ``onnxruntime``
    turns those into a :class:`BackendError`.
    """
    if kind not in BACKENDS:
        raise SettingError(f"backend must be one of {', '.join(BACKENDS)}, got {kind!r}")
    if kind in ("auto", "onnxruntime"):
        try:
            options = {"threads": threads, "cache_dir": cache_dir}
            backend = key and OnnxBackend.cached(key, batch_size, input_shape, **options)
            if backend:
                return backend
            net = build()
            return OnnxBackend.export(net, key or network_digest(net), batch_size, input_shape, **options)
        except BackendError as exc:
            if kind == "onnxruntime":
                raise
            warnings.warn(f"{exc}; falling back to the MindSpore graph backend (about half as fast)",
                          RuntimeWarning, stacklevel=2)
    return MindSporeBackend(build(), batch_size, input_shape)


def network_digest(net, head: bool = True) -> str:
    """sha256 of a network's architecture and every parameter's name, shape and values.

    ``head=False`` leaves the head out: the digest of the backbone alone (what embeddings depend on).
    """
    import mindspore as ms

    from ..model.network import HEAD_PREFIX

    architecture = net.extend_repr() if head else repr(net.in_classes + net.kernel_size + net.padding + net.maxpool)
    digest = hashlib.sha256(f"mindspore-{ms.__version__} {architecture}".encode())
    for name, param in sorted(net.parameters_dict().items()):
        if not head and name.startswith(HEAD_PREFIX):
            continue
        value = np.ascontiguousarray(param.asnumpy())
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _difference(got, want) -> float:
    """Largest difference of two (features, probabilities) pairs; features relative to their scale."""
    scale = max(1.0, float(np.abs(want[0]).max()))
    return max(float(np.abs(got[0] - want[0]).max()) / scale, float(np.abs(got[1] - want[1]).max()))


def _onnxruntime():
    # onnxruntime reads ORT_DISABLE_TELEMETRY when it loads; left on, every process that imports it
    # looks its telemetry collector up on the network. Off unless the user chose otherwise.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError("onnxruntime is not installed (pip install onnxruntime)") from exc
    return onnxruntime
