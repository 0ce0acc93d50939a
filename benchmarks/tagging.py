"""Tagging throughput of the full-size FCN-4: network only, end to end, and the plain loop.

Everything runs on synthesised 30 s clips at 22.05 kHz written to disk as wav, with a full-size
checkpoint of seeded random weights (the real one cannot be downloaded here; speed does not
depend on the values). The end-to-end figure is the wall time of the command a user runs,
``python -m fcn4 tag FOLDER --format json``, start-up included, with the ONNX export cached by an
earlier run (the first run's time, export included, is printed too).
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

_TARGET_E2E, _TARGET_NETWORK, _TOLERANCE = 7.0, 8.5, 1e-4


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


def _verdict(value: float, target: float) -> str:
    return f"target >= {target}: {'met' if value >= target else 'MISSED'}"


def bench_tagging(n_clips: int = 64, repeats: int = 3, batch_size: int = 4) -> None:
    import mindspore as ms

    from fcn4 import DEFAULT_FRONT_END
    from fcn4.inference.backends import MindSporeBackend, OnnxBackend

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, FCN4_HUB_DIR=str(tmp / "hub"))
        t0 = time.perf_counter()
        files = _clips(tmp / "clips", n_clips)
        print(f"tagging: {n_clips} synthesised 30 s clips at 22.05 kHz (wav) written in {time.perf_counter() - t0:.1f} s")
        ckpt = tmp / "fcn4_random.ckpt"
        net = seeded_checkpoint(ckpt)
        gflop = 2 * net.macs() / 1e9
        shape = (1, DEFAULT_FRONT_END.n_mels, DEFAULT_FRONT_END.n_frames)
        x = np.stack([DEFAULT_FRONT_END.clip(f) for f in files[:batch_size]])[:, None]

        # ---- network only, on real melgrams
        reference = MindSporeBackend(net, batch_size, shape)
        want = reference(x)
        seconds = median_seconds(lambda: reference(x), repeats)
        print(f"  network only, mindspore graph, batch {batch_size}: {_rate(batch_size, seconds, gflop)}")
        single = MindSporeBackend(net, 1, shape)
        seconds = median_seconds(lambda: single(x[:1]), repeats)
        print(f"  network only, mindspore graph, batch 1: {_rate(1, seconds, gflop)}")
        t0 = time.perf_counter()
        onnx = OnnxBackend.export(net, "bench", batch_size, shape, cache_dir=tmp / "hub" / "onnx")
        export = time.perf_counter() - t0
        got = onnx(x)
        seconds = median_seconds(lambda: onnx(x), repeats)
        difference = max(float(np.abs(got[1] - want[1]).max()),
                         float(np.abs(got[0] - want[0]).max() / max(1.0, np.abs(want[0]).max())))
        print(f"  network only, onnxruntime, batch {batch_size}: {_rate(batch_size, seconds, gflop)}; "
              f"{_verdict(batch_size / seconds, _TARGET_NETWORK)}; max difference from graph mode "
              f"{difference:.1e} ({'within' if difference <= _TOLERANCE else 'OUTSIDE'} {_TOLERANCE:g}); "
              f"export + check {export:.1f} s, once per checkpoint")

        # ---- the plain loop a user writes first
        ms.set_context(mode=ms.GRAPH_MODE)
        baseline = []
        t0 = time.perf_counter()
        for f in files:
            melgram = DEFAULT_FRONT_END.clip(f)
            baseline.append(net(ms.Tensor(melgram[None, None])).asnumpy()[0])
        loop = time.perf_counter() - t0
        ms.set_context(mode=ms.PYNATIVE_MODE)
        print(f"  plain loop (decode, melgram, graph-mode network at batch 1, next file): {_rate(n_clips, loop, gflop)}")

        # ---- end to end: the command line, cold export then warm cache
        command = [sys.executable, "-m", "fcn4", "tag", str(tmp / "clips"), "--weights", str(ckpt),
                   "--format", "json", "--output", str(tmp / "tags.json"), "--batch-size", str(batch_size)]
        try:
            runs = [_run(command, env) for _ in range(1 + repeats)]  # the first exports the ONNX model
        except subprocess.CalledProcessError as exc:
            print(f"  end to end: `python -m fcn4 tag` failed ({exc.returncode}): {exc.stderr[-500:]}")
            return
        result = json.loads((tmp / "tags.json").read_text())
        few = tmp / "few"
        few.mkdir()
        for f in files[:batch_size]:
            os.link(f, few / f.name)
        small = [_run(command[:4] + [str(few)] + command[5:], env) for _ in range(repeats)]
        got = np.array([list(entry["probabilities"].values()) for entry in result["files"]])
        difference = float(np.abs(got - np.array(baseline)).max())
        warm = float(np.median([seconds for seconds, _ in runs[1:]]))
        start_up = float(np.median([seconds for seconds, _ in small]))
        print(f"  end to end, `python -m fcn4 tag` on {n_clips} files (start-up included, ONNX export cached): "
              f"{_rate(n_clips, warm, gflop)}; {_verdict(n_clips / warm, _TARGET_E2E)}; "
              f"first run with the export {n_clips / runs[0][0]:.2f} clips/s; backend {result['backend']}")
        print(f"  of which start-up: `python -m fcn4 tag` on {batch_size} files takes {start_up:.1f} s; beyond it, "
              f"{(n_clips - batch_size) / (warm - start_up):.2f} clips/s")
        print(f"  peak memory of `python -m fcn4 tag`: {max(mb for _, mb in runs[1:]):.0f} MB on {n_clips} files, "
              f"{max(mb for _, mb in small):.0f} MB on {batch_size} (it does not grow with the files); "
              f"{runs[0][1]:.0f} MB on the run that exports (MindSpore checks the export)")
        print(f"  end to end vs plain loop: {loop / warm:.2f}x; max probability difference from the plain "
              f"graph-mode loop {difference:.1e} ({'within' if difference <= _TOLERANCE else 'OUTSIDE'} {_TOLERANCE:g})")
