"""``python -m benchmarks`` (``make bench``): front end, full-size FCN-4, tagging, a library on Ray, fine-tuning,
MagnaTagATune preparation and training, and verified downloads.

Prints one line a measurement. Figures depend on the machine; the README quotes the ones
measured on the project's 2-core CI machine.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import mindspore as ms
import numpy as np

from fcn4 import DEFAULT_FRONT_END, FCN4  # importing fcn4 sets the oneDNN ISA default
from fcn4.audio.synth import synth_track, write_audio

from .app import bench_app
from .download import bench_download
from .engines import bench_engines
from .finetune import bench_finetune
from .labels import bench_labels
from .library import bench_library
from .long_files import bench_long_files
from .mtat import bench_mtat
from .tagging import bench_tagging
from .timing import median_seconds

_CONV2_ONLY = """
import time, numpy as np, mindspore as ms
from mindspore import nn
ms.set_device('CPU')
conv = nn.Conv2d(128, 384, 3)
x = ms.Tensor(np.random.rand(1, 128, 48, 341).astype(np.float32))
conv(x).asnumpy()
t = time.perf_counter(); conv(x).asnumpy(); print(time.perf_counter() - t)
"""


def bench_front_end(repeats: int) -> None:
    """Decode + resample of a 30 s clip in every format, side by side, and the melgram."""
    from fcn4.audio.decoders import read_native

    with tempfile.TemporaryDirectory() as tmp:
        y = synth_track(30.0, 22050)
        for ext in (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus"):
            path = write_audio(os.path.join(tmp, f"clip{ext}"), y, 22050)
            decoder = read_native(path)[2]
            decode = median_seconds(lambda: DEFAULT_FRONT_END.load(path), repeats)
            print(f"front end, 30 s {ext[1:]:4s} ({decoder}): decode+resample {decode * 1000:.1f} ms per clip")
        waveform = DEFAULT_FRONT_END.load(os.path.join(tmp, "clip.wav"))
        mel = median_seconds(lambda: DEFAULT_FRONT_END.melgram(DEFAULT_FRONT_END.fit(waveform)), repeats)
    print(f"front end: melgram {mel * 1000:.1f} ms per clip")


def bench_network(repeats: int) -> None:
    net = FCN4()
    net.set_train(False)
    gflop = 2 * net.macs() / 1e9
    for mode, name in ((ms.PYNATIVE_MODE, "pynative"), (ms.GRAPH_MODE, "graph")):
        ms.set_context(mode=mode)
        for batch in (1, 4):
            x = ms.Tensor(np.random.default_rng(0).normal(-20, 10, (batch, 1, 96, 1366)).astype(np.float32))
            seconds = median_seconds(lambda: net(x).asnumpy(), repeats)
            print(f"FCN-4 forward, {name:8s} batch {batch}: {batch / seconds:5.2f} clips/s, "
                  f"{batch * gflop / seconds:5.1f} GFLOP/s")
    ms.set_context(mode=ms.PYNATIVE_MODE)


def bench_onednn_isa() -> None:
    """conv2 alone (72% of the network's cost) with oneDNN capped at AVX2 and uncapped."""
    for isa in ("AVX2", "ALL"):
        env = dict(os.environ, ONEDNN_MAX_CPU_ISA=isa)
        done = subprocess.run([sys.executable, "-c", _CONV2_ONLY], env=env, capture_output=True,
                              text=True, timeout=600)
        if done.returncode == 0:
            print(f"conv2 alone (7.2 G multiply-adds), ONEDNN_MAX_CPU_ISA={isa:4s}: "
                  f"{float(done.stdout.split()[-1]):.2f} s")
        else:
            print(f"conv2 alone, ONEDNN_MAX_CPU_ISA={isa}: failed: {done.stderr.strip()[-300:]}")


SECTIONS = ("front-end", "network", "engines", "tagging", "long-files", "library", "app", "finetune", "labels", "mtat",
            "isa", "download")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure (median)")
    parser.add_argument("--skip-isa", action="store_true", help="skip the slow uncapped-oneDNN run")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only these sections (repeatable; default: all)")
    parser.add_argument("--clips", type=int, default=64, help="clips of the tagging benchmark")
    parser.add_argument("--library-files", type=int, default=128,
                        help="clips tagged by `fcn4 tag` and by `fcn4 tag --ray` in the library benchmark (default 128)")
    parser.add_argument("--clips-per-genre", type=int, default=100,
                        help="clips per genre of the fine-tuning benchmark's corpus (default 100: GTZAN's size)")
    parser.add_argument("--mtat-clips-per-folder", type=int, default=8,
                        help="clips in each of the 16 audio folders of the MagnaTagATune benchmark (default 8)")
    parser.add_argument("--train-batch", type=int, default=32,
                        help="batch of the MagnaTagATune training benchmark (default 32, the seed's)")
    parser.add_argument("--download-mb", type=int, default=200, help="size of the download benchmark's file")
    parser.add_argument("--hours", type=float, default=3.0, help="length of the long-files benchmark's file")
    parser.add_argument("--compare-with", default=None, metavar="CHECKOUT",
                        help="also run the long-files benchmark with another checkout's code (its root folder)")
    args = parser.parse_args(argv)
    sections = args.only or SECTIONS
    ms.set_device("CPU")
    print(f"mindspore {ms.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}")
    if "front-end" in sections:
        bench_front_end(args.repeats)
    if "network" in sections:
        bench_network(args.repeats)
    if "engines" in sections:
        bench_engines(repeats=3)
    if "tagging" in sections:
        bench_tagging(args.clips, repeats=3)
    if "long-files" in sections:
        bench_long_files(args.hours, args.compare_with)
    if "library" in sections:
        bench_library(args.library_files)
    if "app" in sections:
        bench_app()
    if "finetune" in sections:
        bench_finetune(args.clips_per_genre)
    if "labels" in sections:
        bench_labels()
    if "mtat" in sections:
        bench_mtat(args.mtat_clips_per_folder, args.train_batch, steps=args.repeats)
    if "isa" in sections and not args.skip_isa:
        bench_onednn_isa()
    if "download" in sections:
        bench_download(args.download_mb, repeats=max(args.repeats, 5))
        bench_download(args.download_mb, repeats=3, rate_mb=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
