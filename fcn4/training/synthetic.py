"""The synthetic corpora (no real dataset can be downloaded here), for the demos, the benchmarks and
the tests: a GTZAN-layout corpus of ten clearly different synthetic "genres" (here), and the
MagnaTagATune-shaped tree (:func:`fcn4.audio.synth.write_mtat_corpus`, re-exported here).

Each genre has its own tempo, pitch register and timbre; clips of a genre vary around them
with their seed. Clips are named after GTZAN's fault-filtered split, so the default split
applies: per genre, the first train, valid and test names of that split are used in turn.

Examples
--------
>>> [style.tempo for style in GENRE_STYLES.values()][:3]
[72.0, 60.0, 100.0]
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..audio.synth import MTAT_STYLES, synth_track, write_audio, write_mtat_corpus
from ..model.labels import load_labels
from .datasets import SPLITS, gtzan_filtered_split

__all__ = ["GENRE_STYLES", "write_gtzan_corpus", "MTAT_STYLES", "write_mtat_corpus", "INSTRUMENTS",
           "synth_instrument", "write_multilabel_corpus"]


class Style(NamedTuple):
    tempo: float
    root_hz: float
    brightness: float


#: One style per GTZAN genre: far apart in tempo, register and brightness.
GENRE_STYLES = dict(zip(load_labels("gtzan_genres"), (
    Style(72.0, 98.0, 0.55),     # blues
    Style(60.0, 523.0, 0.25),    # classical
    Style(100.0, 196.0, 0.45),   # country
    Style(124.0, 330.0, 0.9),    # disco
    Style(92.0, 55.0, 0.8),      # hiphop
    Style(138.0, 262.0, 0.35),   # jazz
    Style(176.0, 82.0, 1.0),     # metal
    Style(116.0, 440.0, 0.6),    # pop
    Style(80.0, 147.0, 0.7),     # reggae
    Style(150.0, 110.0, 0.95),   # rock
)))


def _names(per_genre: int, shares=(0.5, 0.2, 0.3)) -> dict[str, list[str]]:
    """``genre -> [relative path]``: per genre, names from the filtered split's train, valid, test;
    with 100 or more per genre, every GTZAN name ``<genre>.00000`` on (as the real dataset has)."""
    if per_genre >= 100:
        return {g: [f"{g}/{g}.{i:05d}.wav" for i in range(per_genre)] for g in GENRE_STYLES}
    split = gtzan_filtered_split()
    wanted = [max(1, round(per_genre * s)) for s in shares]
    wanted[0] = per_genre - wanted[1] - wanted[2]
    names = {}
    for genre in GENRE_STYLES:
        chosen = []
        for part, n in zip(SPLITS, wanted):
            chosen += [entry for entry in split[part] if entry.startswith(f"{genre}/")][:n]
        names[genre] = chosen
    return names


def _write(job) -> str:
    path, genre, index, seconds, sample_rate, extension = job
    style = GENRE_STYLES[genre]
    wobble = 1.0 + 0.04 * ((index * 7919) % 11 - 5) / 5  # +-4%, different for each clip
    y = synth_track(seconds, sample_rate, seed=index * 31 + 7, tempo=style.tempo * wobble,
                    root_hz=style.root_hz * wobble, brightness=style.brightness)
    return write_audio(Path(path).with_suffix(extension), y, sample_rate)


def write_gtzan_corpus(root, per_genre: int = 20, seconds: float = 30.0, sample_rate: int = 22050,
                       extension: str = ".wav", workers: int = 1) -> Path:
    """Write ``root/genres_original/<genre>/<genre>.000NN.wav`` clips; returns ``root``.

    Files already there are kept (the corpus is deterministic), so a second call is cheap.
    """
    root = Path(root)
    jobs = []
    for genre, names in _names(per_genre).items():
        (root / "genres_original" / genre).mkdir(parents=True, exist_ok=True)
        for name in names:
            path = (root / "genres_original" / name).with_suffix(extension)
            if not path.is_file():
                jobs.append((str(path), genre, int(name.split(".")[1]), seconds, sample_rate, extension))
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write, jobs, chunksize=8))
    else:
        for job in jobs:
            _write(job)
    return root


#: The synthetic instruments of the multi-label corpus: each owns a register and a texture.
INSTRUMENTS = ("bass", "pad", "lead", "drums", "bells")


def synth_instrument(name: str, seconds: float, sample_rate: int, rng) -> np.ndarray:
    """One synthetic instrument's part (float64, peak about 1): notes, chords or noise in its own band."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    y = np.zeros(n)
    if name in ("bass", "pad", "lead"):
        low, high, harmonics, note = {"bass": (60.0, 120.0, 3, 0.5), "pad": (300.0, 500.0, 4, 1.0),
                                      "lead": (1200.0, 2000.0, 2, 0.25)}[name]
        for start in np.arange(0.0, seconds, note):
            span = (t >= start) & (t < start + note)
            f0 = rng.uniform(low, high)
            for h in range(1, harmonics + 1):
                y[span] += np.sin(2 * np.pi * f0 * h * t[span]) / h
    else:  # drums: low noise thuds; bells: short high pings
        period, length = {"drums": (0.25, 0.2), "bells": (0.375, 0.15)}[name]
        k = np.arange(int(length * sample_rate))
        decay = np.exp(-k / (0.3 * length * sample_rate))
        for start in np.arange(rng.uniform(0, period), seconds, period):
            i = int(start * sample_rate)
            if name == "drums":
                hit = rng.standard_normal(k.size)
            else:
                hit = np.sin(2 * np.pi * rng.uniform(3000.0, 4500.0) * k / sample_rate)
            y[i:i + k.size] += (hit * decay)[:max(0, n - i)]
    return y / max(np.abs(y).max(), 1e-9)


def write_multilabel_corpus(root, clips: int = 60, seconds: float = 5.0, sample_rate: int = 12000,
                            seed: int = 0) -> Path:
    """Clips mixing two or three :data:`INSTRUMENTS` at random levels, and ``root/labels.csv`` naming each
    clip's instruments (``path,labels`` with ``;`` between labels); returns the manifest's path.

    Files already there are kept (the corpus is deterministic), so a second call is cheap.
    """
    root = Path(root)
    (root / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = ["path,labels"]
    for i in range(clips):
        chosen = sorted(rng.choice(len(INSTRUMENTS), size=int(rng.integers(2, 4)), replace=False))
        levels = rng.uniform(0.5, 1.0, size=len(chosen))
        name = f"clips/clip{i:04d}.wav"
        parts = np.random.default_rng([seed, i])
        if not (root / name).is_file():
            y = sum(level * synth_instrument(INSTRUMENTS[k], seconds, sample_rate, parts)
                    for k, level in zip(chosen, levels))
            write_audio(root / name, (0.5 * y / max(np.abs(y).max(), 1e-9)).astype(np.float32), sample_rate)
        rows.append(f"{name},{';'.join(INSTRUMENTS[k] for k in chosen)}")
    manifest = root / "labels.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return manifest
