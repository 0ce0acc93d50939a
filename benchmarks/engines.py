"""Network only, every engine x number format x batch x threads, side by side in one sitting.

The full-size FCN-4 (seeded random weights with realistic batch-norm statistics: speed does not
depend on the values) on log-mel clips of synthesised 30 s tracks. Each figure is the median of
``repeats`` passes over the clips. Every engine's agreement is printed beside its speed: fp32 engines
against MindSpore graph mode (the export's reference outputs), bf16 and int8 by the self-check a user's
run applies (beside onnxruntime fp32 on the same clips). int8 is calibrated on half the clips.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .timing import median_seconds


def bench_engines(n_clips: int = 16, repeats: int = 3, batches=(1, 4)) -> dict:
    """Print the table; return {(engine, batch, threads): clips/s} for the tagging benchmark's ratios."""
    from fcn4 import DEFAULT_FRONT_END as FE
    from fcn4.audio.decoding import cpu_count
    from fcn4.base.errors import BackendError
    from fcn4.inference.backend_base import difference, run_network
    from fcn4.inference.backend_onnx import export_network
    from fcn4.inference.engine_cache import cpu_model
    from fcn4.inference.engines import EngineRequest, available_engines, open_named, self_check
    from fcn4.inference.quantize import quantize

    from .tagging import _clips, seeded_checkpoint

    rates = {}
    cores = cpu_count()
    threads = sorted({1, cores})
    print(f"engines, network only: {cpu_model()}; {cores} CPUs; {n_clips} clips of 30 s; median of {repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        net = seeded_checkpoint(tmp / "fcn4_random.ckpt")
        shape = (1, FE.n_mels, FE.n_frames)
        clips = np.stack([FE.clip(f) for f in _clips(tmp / "clips", n_clips)]).astype(np.float32)
        names = [n for n, why in available_engines("cpu").items() if why is None]
        skipped = {n: why for n, why in available_engines("cpu").items() if why}
        for name, why in skipped.items():
            print(f"  {name:<17} not measured: {why}")
        print(f"  {'engine':<17} {'batch':>5} {'threads':>7} {'clips/s':>8}  agreement")
        for batch in batches:
            export = export_network(net, f"bench-{batch}", batch, shape, cache_dir=tmp / "onnx")
            x, *want = export.reference()
            int8 = None
            reference = None
            for name in names:
                for t in threads:
                    request = EngineRequest("auto", "fast", "cpu", t, batch, shape)
                    try:
                        if name.endswith("int8") and int8 is None:
                            path, sha256 = quantize(export, clips[: n_clips // 2, None], hub_dir=tmp / "hub")
                            int8 = {"file": path.name, "sha256": sha256}
                        backend = open_named(name, export, request, int8, hub_dir=tmp / "hub")
                    except BackendError as exc:
                        print(f"  {name:<17} {batch:>5} {t:>7}   failed: {exc}")
                        continue
                    seconds = median_seconds(lambda: run_network(backend, clips), repeats)
                    rate = rates[(name, batch, t)] = n_clips / seconds
                    outputs = run_network(backend, clips)
                    if name == "onnxruntime fp32" and reference is None:
                        reference = outputs
                    if name.endswith("fp32"):
                        agreement = f"max difference from graph mode {difference(backend(x), want):.1e}"
                    else:
                        check = self_check(outputs, reference)
                        agreement = (f"self-check {'passed' if check['passed'] else 'FAILED: ' + check['why']} "
                                     f"(max |dp| {check['max_dp']}, min cosine {check['min_cosine']})")
                    print(f"  {name:<17} {batch:>5} {t:>7} {rate:8.2f}  {agreement}")
        base = rates.get(("onnxruntime fp32", max(batches), cores))
        if base:
            best = max(rates.items(), key=lambda item: item[1])
            print(f"  fastest: {best[0][0]} at batch {best[0][1]}, {best[0][2]} thread(s): {best[1]:.2f} clips/s, "
                  f"{best[1] / base:.2f}x onnxruntime fp32 at batch {max(batches)} on {cores} threads")
    return rates
