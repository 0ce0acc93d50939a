"""What every engine shares: :class:`Backend` (a fixed batch shape, the last batch zero-padded),
:class:`NetworkInfo`, the reference engine :class:`MindSporeBackend` (the network in graph mode), the
agreement test (:func:`difference` within :data:`TOLERANCE`) and :func:`network_digest`."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base.errors import SettingError

__all__ = ["Backend", "MindSporeBackend", "NetworkInfo", "network_digest", "difference", "check_batch",
           "run_network", "BACKENDS", "PRECISIONS", "DEVICES", "TOLERANCE"]

#: Backend names the Tagger takes; ``auto`` chooses by measurement (:mod:`fcn4.inference.engines`).
BACKENDS = ("auto", "onnxruntime", "openvino", "mindspore")
#: Largest difference allowed between an engine's outputs and MindSpore graph mode's (features are
#: compared relative to their largest magnitude when it exceeds 1).
TOLERANCE = 1e-4
#: ``exact``: fp32 engines only, within TOLERANCE of graph mode; ``fast``: bf16 and int8 too, self-checked.
PRECISIONS = ("exact", "fast")
#: Where the network runs: the CPU, or an NVIDIA GPU through onnxruntime's CUDA provider.
DEVICES = ("cpu", "cuda")


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
    precision = "fp32"
    #: What a run records of this engine (``engine``, ``precision``, ``device``, ``threads``, how it was
    #: chosen, a fast engine's self-check): set by :func:`fcn4.inference.engines.open_engine`.
    choice: dict = {}
    #: True while a ``precision='fast'`` engine waits for the first clips to try bf16 and int8 on.
    pending = False
    #: The weights' key the engine was chosen for (set with :attr:`pending`).
    key: str | None = None
    #: The model file this engine runs and its sha256 (checked again when shipped to other processes).
    path = None
    sha256: str | None = None
    #: Removes the cached file :attr:`path` (and what goes with it) once it is found changed: made anew next time.
    forget = None

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

    def model_bytes(self) -> bytes:
        """The model file's bytes, read again and checked against the sha256 it was opened with (for
        shipping it to other processes: a file swapped since is refused, never shipped)."""
        from ..base.errors import BackendError

        if self.path is None:
            raise BackendError(f"the {self.name} engine runs no model file to ship to other processes; "
                               "use --backend auto, onnxruntime or openvino")
        data = Path(self.path).read_bytes()
        if self.sha256 is not None and hashlib.sha256(data).hexdigest() != self.sha256:
            if self.forget is not None:
                self.forget()
            raise BackendError(f"the model {self.path} changed after it was checked (its sha256 differs "
                               "from the one recorded when it was written); it was not used: run again to export it anew")
        return data

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

    def __init__(self, net, batch_size: int, input_shape: tuple[int, int, int], threads: int | None = None):
        import mindspore as ms

        super().__init__(batch_size, input_shape, NetworkInfo.of(net))
        _mindspore_threads(threads)
        net.set_train(False)
        self._ms = ms
        self._step = ms.jit(_outputs_cell(net).construct)

    def _run(self, x):
        features, probabilities = self._step(self._ms.Tensor(x))
        return features.asnumpy(), probabilities.asnumpy()


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


def difference(got, want) -> float:
    """Largest difference of two (features, probabilities) pairs; features relative to their scale.
    ``inf`` unless every output is finite (``max(x, nan)`` is ``x``: a NaN must never pass a check)."""
    if not all(np.isfinite(a).all() for a in (*got[:2], *want[:2])):
        return float("inf")
    scale = max(1.0, float(np.abs(want[0]).max()))
    return max(float(np.abs(got[0] - want[0]).max()) / scale, float(np.abs(got[1] - want[1]).max()))


def run_network(backend, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network over log-mel windows ``[N, mels, frames]`` in the backend's batches: (features
    ``[N, D]``, probabilities ``[N, C]``). The Tagger's engine, each Ray actor's, and the self-check's."""
    features, probabilities = [], []
    for at in range(0, len(windows), backend.batch_size):
        f, p = backend(windows[at:at + backend.batch_size][:, None])
        features.append(f)
        probabilities.append(p)
    info = backend.info
    return (np.concatenate(features) if features else np.zeros((0, info.num_features), np.float32),
            np.concatenate(probabilities) if probabilities else np.zeros((0, info.num_classes), np.float32))


def _mindspore_threads(threads: int | None) -> None:
    """Set MindSpore's CPU kernel threads (its default is 25, whatever the machine): the CPUs this process
    may use, or ``threads``. MindSpore takes it once per process; a later value is left as it is."""
    from ..audio.decoding import cpu_count

    try:
        from mindspore.device_context.cpu import op_tuning

        op_tuning.threads_num(int(threads or cpu_count()))
    except Exception as exc:  # noqa: BLE001 (set already in this process, or an older MindSpore)
        logging.getLogger(__name__).debug("MindSpore's CPU threads left as they are: %s", exc)


def check_batch(batch_size: int, input_shape) -> np.ndarray:
    """The batch every export and engine is checked on (log-mel-like values, seeded: the same everywhere)."""
    return np.random.default_rng(0).normal(-30.0, 15.0, (batch_size, *input_shape)).astype(np.float32)
