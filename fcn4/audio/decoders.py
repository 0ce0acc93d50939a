"""Files -> waveforms at their own rate, by the first decoder that reads the format.

=================  ===================================================================  =============
decoder            formats                                                              why first
=================  ===================================================================  =============
libsndfile         wav, flac, ogg (Vorbis), mp3, aiff, au, caf                           exact, fast, what
(``soundfile``)                                                                         librosa uses
FFmpeg via PyAV    m4a / mp4 (AAC, ALAC), wma, webm, aac, and whatever else FFmpeg       inside its wheel:
(``av``)           reads; opus first (libsndfile keeps Opus's 312-sample pre-skip       no system ffmpeg
                   and takes twice as long)
audioread          what the machine's own ffmpeg or GStreamer reads                     the last resort
=================  ===================================================================  =============

Every decoder gives float32 samples per channel at the file's rate; the front end takes their
mean over channels and resamples (``soxr_hq``), whichever decoder read the file.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

__all__ = ["DECODERS", "read_native"]

#: The decoders, in the order they are tried.
DECODERS = ("libsndfile", "pyav", "audioread")
#: Extensions whose files another order serves better (measured: ``python -m benchmarks --only front-end``).
_FIRST = {".opus": "pyav"}


def read_native(name) -> tuple[np.ndarray, int, str]:
    """``(samples [channels, n] float32, sample rate, decoder)`` of the file at ``name``.

    Raises ``ValueError`` naming what each decoder said when none can read the file.
    """
    failures = []
    readers = {"libsndfile": _libsndfile, "pyav": _pyav, "audioread": _audioread}
    first = _FIRST.get(os.path.splitext(os.fsdecode(name))[1].lower())
    order = sorted(DECODERS, key=lambda decoder: decoder != first)
    for decoder, read in ((decoder, readers[decoder]) for decoder in order):
        try:
            y, rate = read(name)
        except _NotMine as exc:
            failures.append(f"{decoder}: {exc}")
            continue
        return y, rate, decoder
    raise ValueError("; ".join(failures))


class _NotMine(Exception):
    """This decoder cannot read the file (the next one is tried)."""


def _libsndfile(name):
    import soundfile

    try:
        # The path as bytes: a name that is not UTF-8 (surrogate-escaped in str) opens as it is.
        with soundfile.SoundFile(os.fsencode(name)) as handle:
            return np.atleast_2d(handle.read(frames=-1, dtype="float32", always_2d=True).T), handle.samplerate
    except soundfile.SoundFileRuntimeError as exc:
        raise _NotMine(str(exc).splitlines()[0]) from exc


def _pyav(name):
    try:
        import av
    except ImportError:
        raise _NotMine("PyAV is not installed (pip install av)") from None
    try:
        with open(name, "rb") as handle, av.open(handle, mode="r") as container:
            if not container.streams.audio:
                raise _NotMine("no audio stream")
            stream = container.streams.audio[0]
            # Planar float at the file's own rate and layout: FFmpeg converts integer samples the way
            # libsndfile does (full scale = 1.0) and mixes no channels (the front end takes their mean).
            resampler = av.AudioResampler(format="fltp")
            chunks = []
            for frame in container.decode(stream):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
            rate = stream.codec_context.sample_rate or stream.rate
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise _NotMine(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc
    if not chunks:
        return np.zeros((1, 0), np.float32), rate
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False), rate


def _audioread(name):
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa's notice that it falls back to audioread
            y, rate = librosa.load(name, sr=None, mono=False, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001 (audioread raises many types)
        raise _NotMine(f"{type(exc).__name__}: {str(exc).strip()}".rstrip(": ")) from exc
    return np.atleast_2d(y), rate
