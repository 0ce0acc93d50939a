"""A 3-hour FLAC through ``python -m fcn4 tag``: wall time and peak memory, clip and track, beside a
40 s file; ``--compare-with DIR`` runs another checkout's code (e.g. the previous commit) side by side."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .tagging import _run, seeded_checkpoint


def _write_long(path: Path, seconds: float, rate: int = 22050) -> Path:
    """A long FLAC written in blocks: a 60 s synthesised excerpt again and again, its loudness drifting."""
    import soundfile

    from fcn4.audio.synth import synth_track

    excerpt = synth_track(60.0, rate, seed=5).astype(np.float32)
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16") as handle:
        for k in range(int(np.ceil(seconds / 60.0))):
            handle.write(excerpt[:int(min(60.0, seconds - 60 * k) * rate)] * (0.4 + 0.1 * (k % 6)))
    return path


def bench_long_files(hours: float = 3.0, compare_with: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        long = _write_long(tmp / "set.flac", hours * 3600)
        short = _write_long(tmp / "song.flac", 40.0)
        print(f"long files: a {hours:g} h FLAC (22.05 kHz mono, {long.stat().st_size / 1e6:.0f} MB) and a 40 s one, "
              f"written in {time.perf_counter() - t0:.1f} s")
        ckpt = tmp / "fcn4_random.ckpt"
        seeded_checkpoint(ckpt)
        here = str(Path(__file__).resolve().parents[1])
        codes = [("this checkout", here)] + ([("compared", os.path.abspath(compare_with))] if compare_with else [])
        for name, root in codes:
            # `python -m fcn4` run in the checkout's root imports that checkout's code.
            env = dict(os.environ, FCN4_HUB_DIR=str(tmp / "hub"), PYTHONPATH=root)
            base = [sys.executable, "-m", "fcn4", "tag", "--weights", str(ckpt), "--format", "json",
                    "--output", str(tmp / "out.json")]
            _run(base + [str(short)], env, root)  # exports and caches the ONNX model
            for window in ("clip", "track"):
                figures = {label: _run(base + [str(path), "--window", window], env, root)
                           for label, path in (("40 s", short), (f"{hours:g} h", long))}
                (short_s, short_mb), (long_s, long_mb) = figures["40 s"], figures[f"{hours:g} h"]
                print(f"  {name}, --window {window}: {hours:g} h file {long_s:.1f} s wall, peak {long_mb:.0f} MB; "
                      f"40 s file {short_s:.1f} s, {short_mb:.0f} MB; the long file's extra memory "
                      f"{long_mb - short_mb:+.0f} MB")
