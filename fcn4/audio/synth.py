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

from ..base.errors import SettingError

__all__ = ["synth_track", "write_audio", "write_mp3", "write_mtat_corpus", "AUDIO_SUBTYPES", "MTAT_STYLES"]

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


#: Formats written through FFmpeg (PyAV): extension -> its default codec.
PYAV_CODECS = {".m4a": "aac", ".opus": "libopus"}


def write_audio(path, y: np.ndarray, sample_rate: int, codec: str | None = None) -> str:
    """Write ``y`` (mono ``[n]`` or ``[n, channels]``) to ``path`` in the format its extension names:
    wav, flac, ogg, mp3 through libsndfile; m4a (AAC, or ``codec="alac"``) and opus through PyAV."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in PYAV_CODECS:
        return _write_pyav(path, np.asarray(y, np.float32), sample_rate, codec or PYAV_CODECS[ext])
    if ext not in AUDIO_SUBTYPES:
        raise SettingError(f"cannot write '{path}': extension must be one of "
                           f"{', '.join([*AUDIO_SUBTYPES, *PYAV_CODECS])}")
    import soundfile

    y = np.asarray(y, np.float32)
    channels = 1 if y.ndim == 1 else y.shape[1]
    with soundfile.SoundFile(path, "w", sample_rate, channels, subtype=AUDIO_SUBTYPES[ext]) as handle:
        for start in range(0, len(y), 1 << 16):  # in blocks: one huge Vorbis write crashes libsndfile
            handle.write(y[start:start + (1 << 16)])
    return path


def _write_pyav(path: str, y: np.ndarray, sample_rate: int, codec: str) -> str:
    import av

    planar = np.ascontiguousarray(np.atleast_2d(y.T if y.ndim == 2 else y))  # [channels, n]
    layout = {1: "mono", 2: "stereo"}[planar.shape[0]]
    rate = 48000 if codec == "libopus" else sample_rate  # opus runs at 48 kHz; PyAV resamples
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_mp3(path, y: np.ndarray, sample_rate: int, kbps: int | None = 80, quality: int | None = None,
              xing: bool = True, title: str | None = None, encoder: str = "pyav") -> str:
    """Write ``y`` (mono ``[n]`` or ``[n, 2]``) as an MP3 the way real ones are made: LAME, CBR at
    ``kbps`` or VBR at ``quality`` (``-V``), with or without the Xing/LAME frame that tells a
    decoder its exact length (``lame -t`` omits it), an ID3 title.

    The rate picks the MPEG version: 32-48 kHz MPEG-1 (1,152 samples a frame), 16-24 kHz MPEG-2,
    8-12 kHz MPEG-2.5 (576). ``encoder`` is ``"pyav"`` (the libmp3lame inside PyAV's wheel, which
    also writes an ID3v2 tag) or ``"lame"`` (the ``lame`` program, which must be installed).
    """
    path = os.fspath(path)
    y = np.asarray(y, np.float32)
    if encoder == "lame":
        import subprocess
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            source = write_audio(os.path.join(folder, "source.wav"), y, sample_rate)
            options = ["-V", str(quality)] if quality is not None else ["-b", str(kbps)]
            options += [] if xing else ["-t"]
            options += ["--tt", title] if title else []
            subprocess.run(["lame", "--quiet", *options, source, path], check=True)
        return path
    import av

    planar = np.ascontiguousarray(np.atleast_2d(y.T if y.ndim == 2 else y))
    layout = {1: "mono", 2: "stereo"}[planar.shape[0]]
    with av.open(path, "w", format="mp3", options={"write_xing": "1" if xing else "0"}) as container:
        if title:
            container.metadata["title"] = title
        stream = container.add_stream("libmp3lame", rate=sample_rate, layout=layout)
        if quality is not None:
            stream.codec_context.qscale = True
            stream.codec_context.global_quality = quality * 118  # FF_QP2LAMBDA: lame -V quality
        else:
            stream.bit_rate = kbps * 1000
        for start in range(0, planar.shape[1], 1 << 18):
            frame = av.AudioFrame.from_ndarray(planar[:, start:start + (1 << 18)], format="fltp", layout=layout)
            frame.rate, frame.pts = sample_rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


#: Tag groups of the synthetic MagnaTagATune corpus, each with a sound (tempo, root, brightness),
#: so that the tags can be learnt from the audio.
MTAT_STYLES = (
    (("rock", "guitar", "loud", "drums", "fast"), 150.0, 110.0, 0.95),
    (("classical", "strings", "violin", "slow", "soft"), 60.0, 523.0, 0.25),
    (("techno", "electronic", "beat", "dance", "synth"), 128.0, 330.0, 0.85),
    (("piano", "quiet", "ambient", "solo", "no vocals"), 72.0, 262.0, 0.4),
)


def write_mtat_corpus(root, clips_per_folder: int = 1, seconds: float = 29.1, sample_rate: int = 16000,
                      extra_tags: int = 138, corrupt: int = 1, missing: int = 1) -> str:
    """A MagnaTagATune-shaped tree: ``annotations_final.csv`` and mp3 clips in folders ``0`` ... ``f``.

    The csv has the real layout (tab-separated, quoted; ``clip_id``, the 50 checkpoint tags plus
    ``extra_tags`` others = 188 tag columns, ``mp3_path``). Each clip's tags follow its style in
    :data:`MTAT_STYLES`. ``corrupt`` clips are garbage bytes and ``missing`` rows name no file,
    as a real download has. Returns the path of the csv.
    """
    import csv
    from pathlib import Path

    from ..model.labels import MTAT_TAGS

    root = Path(root)
    columns = list(MTAT_TAGS) + [f"extra tag {i}" for i in range(extra_tags)]
    rows, clip_id = [], 0
    for f, folder in enumerate("0123456789abcdef"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for k in range(clips_per_folder):
            clip_id += 1
            tags, tempo, root_hz, brightness = MTAT_STYLES[clip_id % len(MTAT_STYLES)]
            name = f"{folder}/artist_{clip_id:04d}-album-01-song_{clip_id}-0-29.mp3"
            path = root / name
            if clip_id <= corrupt:
                path.write_bytes(b"ID3\x03\x00 this is not an mp3 stream " * 8)
            elif not path.is_file():
                write_audio(path, synth_track(seconds, sample_rate, seed=clip_id, tempo=tempo, root_hz=root_hz,
                                              brightness=brightness), sample_rate)
            rows.append([str(clip_id)] + [int(c in tags) for c in columns] + [name])
    for k in range(missing):
        clip_id += 1
        rows.append([str(clip_id)] + [int(c in MTAT_STYLES[0][0]) for c in columns]
                    + [f"f/missing_{clip_id}-0-29.mp3"])
    csv_path = root / "annotations_final.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quotechar='"', quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["clip_id"] + columns + ["mp3_path"])
        writer.writerows(rows)
    return str(csv_path)
