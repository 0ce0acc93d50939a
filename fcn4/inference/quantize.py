"""int8 models: the standard ONNX export quantised statically, per channel, calibrated on melgrams of
the user's own first files (never on noise: a model calibrated on noise is far from fp32).

onnxruntime's ``quantize_static`` writes a QDQ model (int8 weights per output channel, uint8
activations with ranges from the calibration clips; the first and last convolution and the head stay
fp32), which onnxruntime and OpenVINO both run. The model is cached under ``<hub dir>/engines/`` by the export and the calibration clips, its sha256
recorded in the engine choice that uses it and checked whenever it is opened.
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from ..base.errors import BackendError
from .engine_cache import ENGINE_FOLDER

__all__ = ["quantize", "int8_model", "quantisation_available"]

logger = logging.getLogger(__name__)
_FORMAT = 2  # in the int8 model's name: bump when the quantisation changes (2: first/last conv and head in fp32)


def quantisation_available() -> str | None:
    """None when int8 models can be made here, else what to install."""
    import importlib.util

    for module, package in (("onnx", "onnx"), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None:
            return f"int8 needs the {package} package (pip install {package})"
    return None


def _folder(hub_dir=None) -> Path:
    if hub_dir is None:
        from ..hub.cache import get_hub_dir

        hub_dir = get_hub_dir()
    return Path(hub_dir) / ENGINE_FOLDER


def quantize(export, calibration: np.ndarray, hub_dir=None) -> tuple[Path, str]:
    """The int8 model of ``export`` calibrated on ``calibration`` (``[N, 1, mels, frames]`` melgrams):
    (path, sha256), made once per export and calibration set."""
    from ..base.files import folder_inside, replace_durably, temporary_beside

    problem = quantisation_available()
    if problem:
        raise BackendError(problem)
    batch, shape = export.shape
    calibration = np.ascontiguousarray(calibration, np.float32)
    if calibration.ndim != 4 or calibration.shape[1:] != shape or not len(calibration):
        raise BackendError(f"int8 calibration takes [N, {', '.join(map(str, shape))}] melgrams, got {list(calibration.shape)}")
    digest = hashlib.sha256(f"int8-{_FORMAT} {export.record['standard_sha256']} {calibration.shape}".encode())
    digest.update(calibration.tobytes())
    folder = folder_inside(_folder(hub_dir).parent, ENGINE_FOLDER)
    path = folder / f"int8-{digest.hexdigest()[:32]}.onnx"
    if path.is_file() and not path.is_symlink():
        return path, _sha256(path)
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Clips(CalibrationDataReader):
        def __init__(self, name):
            padded = [calibration[at:at + batch] for at in range(0, len(calibration), batch)]
            padded = [np.concatenate([p, np.repeat(p[-1:], batch - len(p), 0)]) for p in padded]
            self._batches = iter([{name: p} for p in padded])

        def get_next(self):
            return next(self._batches, None)

    start = time.perf_counter()
    logger.info("int8: quantising the network, calibrated on %d clip(s) of your first files (once)", len(calibration))
    with temporary_beside(path, ".std.onnx") as std, temporary_beside(path, ".pre.onnx") as pre, \
            temporary_beside(path, ".onnx") as tmp:
        std.write_bytes(export.read("std"))
        try:
            quant_pre_process(str(std), str(pre), skip_symbolic_shape=True)
            import onnx

            graph = onnx.load(str(pre), load_external_data=False).graph
            quantize_static(str(pre), str(tmp), Clips(graph.input[0].name), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=_kept_in_fp32(graph))
        except Exception as exc:  # noqa: BLE001 (whatever the quantiser trips on, int8 is refused)
            raise BackendError(f"int8 quantisation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        replace_durably(tmp, path)
    logger.info("int8: quantised in %.1f s", time.perf_counter() - start)
    return path, _sha256(path)


def _kept_in_fp32(graph) -> list[str]:
    """The nodes left in fp32: the first and the last convolution and the dense head. They cost little
    (one input channel; a small map; 2048 x classes) and decide most of the error: on FCN-4 with seeded
    weights, quantising them too moved probabilities by 0.020-0.034 (the self-check allows 0.02),
    keeping them by 0.012."""
    convolutions = [node.name for node in graph.node if node.op_type == "Conv"]
    dense = [node.name for node in graph.node if node.op_type in ("Gemm", "MatMul")]
    return convolutions[:1] + convolutions[1:][-1:] + dense


def int8_model(name: str, sha256: str, hub_dir=None) -> tuple[Path, bytes]:
    """The cached int8 model ``name`` (as a choice records it): its path and its bytes, read once and
    checked against ``sha256``; a BackendError when it is gone or changed."""
    from ..base.files import refuse_link

    path = _folder(hub_dir) / name
    refuse_link(path, "a cached int8 model")
    try:
        data = path.read_bytes() if path.is_file() else b""
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BackendError(f"the int8 model {path} is missing or changed since it was checked")
    return path, data


def _sha256(path: Path) -> str:
    from ..hub.download import sha256_file

    return sha256_file(path)
