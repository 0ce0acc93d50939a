"""The GPU check a machine with an NVIDIA GPU runs as it is: ``python -m benchmarks.device_check``.

It needs this checkout's environment with ``onnxruntime-gpu`` in place of ``onnxruntime`` (the
``[gpu]`` extra) and MindSpore for the export. It exports the full-size FCN-4 (seeded random weights),
opens it on the CPU and on ``--device cuda`` through the engine choice a user's run makes, checks the
GPU's outputs against MindSpore graph mode (within 1e-4), times batches of 1, 4 and 16 on both, and
prints one line a figure, the GPU and the CPU named. Without a GPU it prints the one-line error a user
would get and exits 1. Nothing is downloaded; everything is written under a temporary folder.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _gpu_name() -> str:
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
        return done.stdout.strip().replace("\n", "; ") or "nvidia-smi printed nothing"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no nvidia-smi ({exc})"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FCN4_HUB_DIR"] = str(Path(tmp) / "hub")
        from fcn4 import DEFAULT_FRONT_END as FE
        from fcn4.base.errors import BackendError
        from fcn4.inference.backend_base import difference
        from fcn4.inference.engine_cache import cpu_model
        from fcn4.inference.engines import EngineRequest, open_engine

        from .tagging import seeded_checkpoint

        print(f"device check: GPU {_gpu_name()}; CPU {cpu_model()}")
        net = seeded_checkpoint(Path(tmp) / "fcn4_random.ckpt")
        shape = (1, FE.n_mels, FE.n_frames)
        for batch in (1, 4, 16):
            x = np.random.default_rng(batch).normal(-30, 15, (batch, *shape)).astype(np.float32)
            rates = {}
            for device in ("cpu", "cuda"):
                request = EngineRequest("onnxruntime", "exact", device, None, batch, shape)
                try:
                    backend = open_engine(request, lambda: net, f"device-check-{batch}")
                except BackendError as exc:
                    print(f"  batch {batch}, {device}: {exc}")
                    if device == "cuda":
                        return 1
                    continue
                backend(x)
                runs, start = 0, time.perf_counter()
                while runs < 3 or time.perf_counter() - start < 2.0:
                    out = backend(x)
                    runs += 1
                rates[device] = runs * batch / (time.perf_counter() - start)
                from fcn4.inference.backend_base import MindSporeBackend

                error = difference(out, MindSporeBackend(net, batch, shape)(x))
                print(f"  batch {batch:>2}, {device:<4} {backend.choice['engine']}: {rates[device]:8.2f} clips/s; "
                      f"max difference from graph mode {error:.1e} ({'within' if error <= 1e-4 else 'OUTSIDE'} 1e-4)")
            if len(rates) == 2:
                print(f"  batch {batch:>2}: GPU {rates['cuda'] / rates['cpu']:.1f}x the CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
