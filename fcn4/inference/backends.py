"""Inference engines: FCN-4 on batches of melgrams -> (embeddings, tag probabilities).

``mindspore`` runs the network in graph mode (``mindspore.jit``): the reference. ``onnxruntime`` and
``openvino`` run the same network exported by MindSpore's own ONNX export, checked against graph mode
before use and cached under ``<hub dir>/onnx/`` (:mod:`fcn4.inference.backend_onnx`). ``auto`` picks
the fastest of them on this machine by measurement and remembers it (:mod:`fcn4.inference.engines`).

This module keeps the names of the first version in one place: :class:`Backend`, the engines,
:func:`make_backend`, :func:`network_digest`, :data:`BACKENDS` and :data:`TOLERANCE`.
"""
from __future__ import annotations

from ..audio.decoding import cpu_count
from ..base.errors import BackendError
from .backend_base import (BACKENDS, TOLERANCE, Backend, MindSporeBackend, NetworkInfo, check_batch, difference,
                           network_digest, run_network)
from .backend_onnx import Export, OnnxBackend, find_export, onnxruntime_module
from .backend_openvino import OpenVinoBackend
from .engines import DEVICES, PRECISIONS, EngineRequest, open_engine

__all__ = ["Backend", "MindSporeBackend", "OnnxBackend", "OpenVinoBackend", "BackendError", "NetworkInfo",
           "make_backend", "network_digest", "BACKENDS", "PRECISIONS", "DEVICES", "TOLERANCE", "Export",
           "find_export", "check_batch", "difference", "run_network", "cpu_count"]

_onnxruntime = onnxruntime_module  # the first version's name


def make_backend(kind: str, build, batch_size: int, input_shape: tuple[int, int, int], *, key: str | None = None,
                 threads: int | None = None, cache_dir=None, precision: str = "exact", device: str = "cpu") -> Backend:
    """The engine ``kind`` (see :data:`BACKENDS`) for the network ``build()`` returns.

    ``build`` is called only when the network is needed: not when a cached export and choice of the
    weights ``key`` exist (``key=None``: a digest of the built network's parameters). ``auto`` measures
    the engines that can run here once and keeps the fastest that agrees with graph mode; it falls
    back to MindSpore, with a ``RuntimeWarning`` saying why, when none can run; naming an engine
    turns that into a :class:`BackendError`.
    """
    request = EngineRequest(kind, precision, device, threads, batch_size, tuple(input_shape))
    return open_engine(request, build, key, cache_dir=cache_dir)
