"""Which engines can run on this machine, and why not the others: without importing them (their
packages are looked up, the CPU's flags read), except for a GPU, which only its engine can see."""
from __future__ import annotations

import importlib.util
import logging

from .engine_cache import cpu_flags

__all__ = ["available_engines"]

logger = logging.getLogger("fcn4.inference.engines")


def available_engines(device: str = "cpu") -> dict[str, str | None]:
    """Each ``backend dtype`` this machine could run for ``device``: None, or why it cannot."""
    flags = cpu_flags()
    ort = None if importlib.util.find_spec("onnxruntime") else "onnxruntime is not installed (pip install onnxruntime)"
    ov = None if importlib.util.find_spec("openvino") else "OpenVINO is not installed (pip install openvino)"
    from .quantize import quantisation_available

    int8 = quantisation_available()
    bf16 = None if flags & {"amx_bf16", "avx512_bf16"} else "the CPU has neither AMX nor AVX512-BF16"
    if device == "cuda":
        return {"onnxruntime fp32": ort or _cuda_provider(), "openvino fp32": ov or _openvino_gpu()}
    return {"onnxruntime fp32": ort, "openvino fp32": ov, "openvino bf16": ov or bf16,
            "onnxruntime int8": ort or int8, "openvino int8": ov or int8}


def _cuda_provider() -> str | None:
    from .backend_onnx import onnxruntime_module

    if "CUDAExecutionProvider" in onnxruntime_module().get_available_providers():
        return None
    return ("onnxruntime has no CUDA provider here: pip install 'fcn4-mindspore[gpu]' (onnxruntime-gpu, in place of "
            "onnxruntime) on a machine with an NVIDIA GPU and its driver")


def _openvino_gpu() -> str | None:
    from .backend_openvino import openvino_module

    try:
        if "GPU" in openvino_module().Core().available_devices:
            return None
    except Exception as exc:  # noqa: BLE001 (a GPU plugin that fails to load is a GPU that is not there)
        logger.debug("OpenVINO's GPU plugin: %s", exc)
    return "OpenVINO sees no GPU"
