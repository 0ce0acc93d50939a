"""The OpenVINO engine: the checked ONNX export's standard-operator copy, compiled for the CPU (or an
Intel GPU) in fp32, or in bf16 where the CPU computes it natively (AMX, AVX512-BF16).

OpenVINO reads the *standard* copy of the export (``.std.onnx``: opset 13, MaxPool's padding written
out), not the onnxruntime-optimised one, whose fused operators are onnxruntime's own. The compiled
model is cached by OpenVINO itself (``CACHE_DIR``) in a folder beside the exports, one per export,
so a second start skips the compile.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base.errors import BackendError
from ..base.onednn import uncapped
from .backend_base import Backend, NetworkInfo

__all__ = ["OpenVinoBackend", "openvino_module", "compiled_cache", "OV_PRECISIONS"]

#: Our precision names -> OpenVINO's INFERENCE_PRECISION_HINT (fp32 is asked for explicitly: on a CPU
#: with AMX, OpenVINO's default is bf16).
OV_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: the model's own QDQ ops decide
#: Our device names -> OpenVINO's.
_DEVICES = {"cpu": "CPU", "cuda": "GPU"}


def openvino_module():
    """``openvino``, or a :class:`BackendError` saying what to install.

    ``import openvino`` imports its model converter, which, unless the user has declined in a file in
    their home folder, writes ``~/intel/openvino_ga_cid`` and sends an "import" event to Google
    Analytics from a process it forks (seen from every Ray actor that opened OpenVINO). Imported here,
    the converter gets OpenVINO's own stand-in for its telemetry (what it uses when the
    ``openvino-telemetry`` package is absent): nothing is written or sent. An OpenVINO the program
    imported before is left as it is.
    """
    import sys

    if sys.modules.get("openvino") is not None:
        return sys.modules["openvino"]
    held = sys.modules.get("openvino_telemetry", _ABSENT)
    sys.modules["openvino_telemetry"] = None  # `import openvino_telemetry` raises ImportError meanwhile
    try:
        import openvino
    except ImportError as exc:
        raise BackendError("OpenVINO is not installed (pip install openvino); use --backend onnxruntime, "
                           "or leave --backend at auto") from exc
    finally:
        if held is _ABSENT:
            sys.modules.pop("openvino_telemetry", None)
        else:
            sys.modules["openvino_telemetry"] = held
    return openvino


_ABSENT = object()


class OpenVinoBackend(Backend):
    """The standard ONNX export (``model``: its bytes or path) compiled by OpenVINO.

    ``precision`` is ``fp32``, ``bf16`` or ``int8`` (an int8 QDQ model); ``threads`` is set on the
    compiled model (INFERENCE_NUM_THREADS; default: the CPUs this process may use).
    """

    name = "openvino"

    def __init__(self, model, batch_size: int, input_shape: tuple[int, int, int], info: NetworkInfo, *,
                 threads: int | None = None, precision: str = "fp32", device: str = "cpu", cache_dir=None):
        from ..audio.decoding import cpu_count

        ov = openvino_module()
        super().__init__(batch_size, input_shape, info)
        if precision not in OV_PRECISIONS:
            raise BackendError(f"OpenVINO runs fp32, bf16 or int8, not {precision!r}")
        core = ov.Core()
        target = _DEVICES.get(device, device)
        if target not in core.available_devices:
            raise BackendError(f"OpenVINO has no {target} device here (it sees {', '.join(core.available_devices)}); "
                               "use --device cpu")
        config = {"INFERENCE_PRECISION_HINT": OV_PRECISIONS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if target == "CPU":
            config["INFERENCE_NUM_THREADS"] = int(threads or cpu_count())
            # Threads left free to move: the cores are shared with decoding (`fcn4 tag --precision fast` on
            # 64 files, 2 cores, OpenVINO int8: 4.73 s against 5.12, median of 4 each).
            config["ENABLE_CPU_PINNING"] = False
        if cache_dir is not None:
            config["CACHE_DIR"] = str(cache_dir)
        self.precision, self.threads = precision, config.get("INFERENCE_NUM_THREADS")
        try:
            # A path (its bytes checked by the caller) lets OpenVINO take the compiled model from CACHE_DIR
            # without parsing the ONNX file again (0.37 s of a 0.9 s start for the full network).
            network = core.read_model(model) if isinstance(model, bytes) else str(model)
            with uncapped():  # OpenVINO's oneDNN reads the ISA cap as it compiles: MindSpore's cap is not for it
                self._compiled = core.compile_model(network, target, config)
        except Exception as exc:  # OpenVINO raises RuntimeError for anything it cannot compile
            raise BackendError(f"OpenVINO cannot compile the export in {precision} on {target}: "
                               f"{_first_line(exc)}") from exc
        shape = list(self._compiled.inputs[0].get_shape())
        if shape != [batch_size, *input_shape]:
            raise BackendError(f"the ONNX model takes {shape}, not {[batch_size, *input_shape]}")
        self._request = self._compiled.create_infer_request()
        self._features, self._probabilities = self._compiled.outputs[:2]

    def _run(self, x):
        results = self._request.infer({0: x})
        # copies: the request's buffers are overwritten by the next batch
        return np.array(results[self._features]), np.array(results[self._probabilities])


def compiled_cache(export_path: Path) -> Path:
    """OpenVINO's CACHE_DIR for one export: a folder beside it, named after it (keyed like the export)."""
    return Path(export_path).with_name(Path(export_path).name.split(".")[0] + ".openvino")


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__
