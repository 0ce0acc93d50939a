"""Tagging throughput of the full-size FCN-4 as a user runs it, as ratios to the network alone.

The yardstick is the network only on onnxruntime fp32 with every core, measured in the same sitting;
``python -m fcn4 tag FOLDER --format json`` end to end (start-up included, the engine chosen by
measurement and cached by a first run, whose figure is printed too) is given as a ratio to it, in
``--precision exact`` and ``fast``. Everything runs on synthesised 30 s clips at 22.05 kHz written to
disk as wav, with a full-size checkpoint of seeded random weights (the real one cannot be downloaded
here; speed does not depend on the values). The CPU is named; compare figures only within one run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .timing import median_seconds

_TARGET_EXACT, _TARGET_FAST, _TARGET_START, _TOLERANCE = 0.85, 1.5, 1.0, 1e-4


def _clips(folder: Path, n: int) -> list[Path]:
    from fcn4.audio.synth import synth_track, write_audio

    folder.mkdir(parents=True, exist_ok=True)
    return [Path(write_audio(folder / f"clip_{i:03d}.wav",
                             synth_track(30.0, 22050, seed=i, tempo=80 + 2 * i, root_hz=110 + 5 * i), 22050))
            for i in range(n)]


def seeded_checkpoint(path: Path):
    """A full-size FCN-4 of seeded random weights (realistic batch-norm statistics), saved at ``path``."""
    import mindspore as ms

    from fcn4 import FCN4, save_checkpoint

    ms.set_seed(0)
    net = FCN4()
    rng = np.random.default_rng(0)
    for name, param in net.parameters_dict().items():  # realistic batch-norm statistics
        if name.endswith("moving_variance"):
            param.set_data(ms.Tensor(rng.uniform(0.5, 2.0, param.shape).astype(np.float32)))
        elif name.endswith("moving_mean"):
            param.set_data(ms.Tensor(rng.normal(0, 0.5, param.shape).astype(np.float32)))
    net.set_train(False)
    save_checkpoint(net, path)
    return net


# A small parent process runs the command: a child forked from this benchmark (MindSpore loaded)
# would report this process's memory as its own peak.
_MEASURE = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")


def _run(command, env, cwd=None) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one command (raises CalledProcessError on failure)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True,
                          timeout=900, cwd=cwd)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, command, stderr=done.stderr)
    return seconds, int(done.stdout.split()[-1]) / 1024


def _rate(n: int, seconds: float, gflop: float) -> str:
    return f"{n / seconds:5.2f} clips/s ({n * gflop / seconds:5.1f} GFLOP/s)"


def _rates(command, env, n: int, repeats: int) -> tuple[float, float, float]:
    """(first run's clips/s, the warm runs' median clips/s, their peak MB) of a ``fcn4 tag`` command."""
    runs = [_run(command, env) for _ in range(1 + repeats)]
    warm = float(np.median([seconds for seconds, _ in runs[1:]]))
    return n / runs[0][0], n / warm, max(mb for _, mb in runs[1:])


# Start-up as a user's script sees it: import, the weights checked, the cached engine opened (a fresh process).
_START = """
import sys, time
t = time.perf_counter()
from fcn4 import Tagger
from fcn4.inference.settings import InferenceSettings
tagger = Tagger(sys.argv[1], workers=0, settings=InferenceSettings(precision=sys.argv[2]))
print(time.perf_counter() - t, tagger.engine['engine'], 'mindspore' in sys.modules)
"""


def _yardstick(model: bytes, threads: int):
    """The export in a plain onnxruntime session at onnxruntime's own defaults (threads spinning between
    operators: the fastest for the network alone), ``threads`` threads: never this package's settings."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: tuple(session.run(None, {name: x}))


def bench_tagging(n_clips: int = 64, repeats: int = 3, batch_size: int = 4) -> None:
    """Network-only onnxruntime fp32 (all cores), then ``fcn4 tag`` end to end in exact and fast precision
    as ratios to it, start-up with everything cached, and peak memory; the CPU named."""
    from fcn4 import DEFAULT_FRONT_END
    from fcn4.audio.decoding import cpu_count
    from fcn4.inference.backends import MindSporeBackend, OnnxBackend
    from fcn4.inference.engine_cache import cpu_flags, cpu_model

    amx = bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})
    print(f"tagging: {cpu_model()}, {cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, FCN4_HUB_DIR=str(tmp / "hub"))
        t0 = time.perf_counter()
        files = _clips(tmp / "clips", n_clips)
        print(f"  {n_clips} synthesised 30 s clips at 22.05 kHz (wav) written in {time.perf_counter() - t0:.1f} s")
        ckpt = tmp / "fcn4_random.ckpt"
        net = seeded_checkpoint(ckpt)
        gflop = 2 * net.macs() / 1e9
        shape = (1, DEFAULT_FRONT_END.n_mels, DEFAULT_FRONT_END.n_frames)
        x = np.stack([DEFAULT_FRONT_END.clip(f) for f in files[:batch_size]])[:, None]

        # ---- network only: the yardstick of the targets
        want = MindSporeBackend(net, batch_size, shape)(x)
        onnx = _yardstick(OnnxBackend.export(net, "bench", batch_size, shape, cache_dir=tmp / "onnx").model_bytes(),
                          cpu_count())
        seconds = median_seconds(lambda: onnx(x), repeats)
        base = batch_size / seconds
        got = onnx(x)
        difference = max(float(np.abs(got[1] - want[1]).max()),
                         float(np.abs(got[0] - want[0]).max() / max(1.0, np.abs(want[0]).max())))
        print(f"  network only, onnxruntime fp32 (its defaults), batch {batch_size}, {cpu_count()} threads: "
              f"{_rate(batch_size, seconds, gflop)}; "
              f"max difference from graph mode {difference:.1e} ({'within' if difference <= _TOLERANCE else 'OUTSIDE'} "
              f"{_TOLERANCE:g}) -- the yardstick below")

        # ---- end to end: the command a user runs, engine chosen by measurement (cached after the first run)
        command = [sys.executable, "-m", "fcn4", "tag", str(tmp / "clips"), "--weights", str(ckpt),
                   "--format", "json", "--output", str(tmp / "tags.json"), "--batch-size", str(batch_size)]
        for precision, target in (("exact", _TARGET_EXACT), ("fast", _TARGET_FAST if amx else None)):
            try:
                first, warm, mb = _rates(command + ["--precision", precision], env, n_clips, repeats)
            except subprocess.CalledProcessError as exc:
                print(f"  end to end, --precision {precision}: `python -m fcn4 tag` failed ({exc.returncode}): "
                      f"{exc.stderr[-500:]}")
                continue
            engine = json.loads((tmp / "tags.json").read_text())["engine"]
            verdict = (f"target >= {target}x: {'met' if warm / base >= target else 'MISSED'}" if target
                       else "no target: the CPU has neither AMX nor AVX512-BF16")
            check = engine.get("check") or {}
            print(f"  end to end, `fcn4 tag --precision {precision}` on {n_clips} files, cached: {warm:5.2f} clips/s = "
                  f"{warm / base:.2f}x the yardstick ({verdict}); engine {engine['engine']}"
                  + (f" (self-check: max |dp| {check.get('max_dp')}, min cosine {check.get('min_cosine')})"
                     if check.get("passed") else (f"; {engine['note']}" if engine.get("note") else ""))
                  + f"; first run (export, measurement{', int8 calibration' if precision == 'fast' else ''}) "
                  f"{first:.2f} clips/s; peak {mb:.0f} MB")

        # ---- start-up with everything cached: a Tagger ready, and `fcn4 tag` on a few files
        for precision in ("exact", "fast"):
            done = subprocess.run([sys.executable, "-c", _START, str(ckpt), precision], env=env, capture_output=True,
                                  text=True, timeout=300)
            if done.returncode == 0:
                seconds, engine, mindspore = done.stdout.split()[0], " ".join(done.stdout.split()[1:3]), \
                    done.stdout.split()[-1]
                print(f"  start-up, cached ({precision}): import fcn4 + Tagger ready in {float(seconds):.2f} s "
                      f"(target <= {_TARGET_START} s: {'met' if float(seconds) <= _TARGET_START else 'MISSED'}); "
                      f"engine {engine}; MindSpore imported: {mindspore}")
        few = tmp / "few"
        few.mkdir()
        for f in files[:batch_size]:
            os.link(f, few / f.name)
        small = [_run(command[:4] + [str(few)] + command[5:], env) for _ in range(repeats)]
        print(f"  `python -m fcn4 tag` on {batch_size} files, whole process: "
              f"{float(np.median([s for s, _ in small])):.2f} s; peak {max(mb for _, mb in small):.0f} MB")
