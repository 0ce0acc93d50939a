"""Synthetic music-like audio for demos, benchmarks and tests (no dataset can be downloaded).

Examples
--------
>>> y = synth_track(seconds=2.0, sample_rate=8000, seed=1)
>>> y.shape, y.dtype
((16000,), dtype('float32'))
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["synth_track", "write_audio", "AUDIO_SUBTYPES"]

#: libsndfile subtype used for each extension :func:`write_audio` writes.
AUDIO_SUBTYPES = {".wav": "PCM_16", ".flac": "PCM_16", ".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}


def synth_track(seconds: float = 30.0, sample_rate: int = 22050, seed: int = 0,
                tempo: float = 120.0, root_hz: float = 220.0, brightness: float = 1.0) -> np.ndarray:
    """A mono float32 track: a chord progression of harmonic tones over a noisy drum pulse.

    ``seed`` picks the chords; ``tempo``, ``root_hz`` and ``brightness`` (weight of the upper
    harmonics) shape the sound, so tracks made with different values are easy to tell apart.
    """
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    beat = 60.0 / tempo
    y = np.zeros(n, np.float64)
    chord_len = 4 * beat
    for start in np.arange(0.0, seconds, chord_len):
        span = (t >= start) & (t < start + chord_len)
        degrees = rng.choice([0, 2, 3, 4, 5, 7, 9], size=3, replace=False)
        for semitones in degrees:
            f0 = root_hz * 2 ** (semitones / 12)
            for h in range(1, 6):
                y[span] += brightness ** (h - 1) / h * np.sin(2 * np.pi * f0 * h * t[span])
    hits = np.arange(0.0, seconds, beat)
    decay = np.exp(-np.arange(int(0.08 * sample_rate)) / (0.015 * sample_rate))
    for start in hits:
        i = int(start * sample_rate)
        burst = rng.standard_normal(decay.size) * decay
        y[i:i + burst.size] += 2.0 * burst[:max(0, n - i)]
    peak = np.abs(y).max()
    return (0.5 * y / peak if peak > 0 else y).astype(np.float32)


def write_audio(path, y: np.ndarray, sample_rate: int) -> str:
    """Write ``y`` to ``path`` in the format its extension names (wav, flac, ogg, mp3)."""
    import soundfile

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in AUDIO_SUBTYPES:
        raise ValueError(f"cannot write '{path}': extension must be one of {', '.join(AUDIO_SUBTYPES)}")
    soundfile.write(path, np.asarray(y, np.float32), sample_rate, subtype=AUDIO_SUBTYPES[ext])
    return path
