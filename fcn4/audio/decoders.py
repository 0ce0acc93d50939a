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

from ..base.errors import AudioError

__all__ = ["DECODERS", "NativeAudio", "open_native", "read_native"]

#: The decoders, in the order they are tried.
DECODERS = ("libsndfile", "pyav", "audioread")
#: Extensions whose files another order serves better (measured: ``python -m benchmarks --only front-end``).
_FIRST = {".opus": "pyav"}
#: Samples a block of :meth:`NativeAudio.blocks` holds (per channel).
BLOCK = 1 << 16
#: Samples libsndfile's MP3 decoder needs after a seek before its output is exact (measured: 4,608).
MPEG_PREROLL = 8192
#: Sample rates a file may declare: below 1 kHz nothing is music (and resampling 1 Hz to 12 kHz
#: multiplies the data 12,000 times); the top is fcn4.base.limits' "sample_rate".
MIN_RATE = 1000
#: Channels a file may declare (3rd-order ambisonics has 16, 7th-order 64; a block of 64 channels
#: holds 16 MB). Damaged headers declare 255 or 65,535.
MAX_CHANNELS = 64
#: Seconds a header may declare (a week): 2^40 samples is 290 days at 44.1 kHz; planning windows
#: for it would fill the memory before a sample is read.
MAX_DECLARED_SECONDS = 7 * 24 * 3600


class NativeAudio:
    """An open audio file at its own rate: its declared length, reads of a span, blocks from the start.

    ``frames`` is what the header declares (None where it declares nothing); a file may hold
    fewer or more, which :meth:`read` and :meth:`blocks` show by what they return.
    Use as a context manager.
    """
    decoder = "?"
    rate: int
    channels: int
    frames: int | None = None
    #: Whether ``frames`` is what a decode gives (False: the header's estimate, or None).
    exact_header = False

    def blocks(self, size: int = BLOCK):
        """``[channels, n]`` float32 blocks from the first sample to the last."""
        raise NotImplementedError

    def blocks_from(self, start: int, size: int = BLOCK):
        """Blocks from native sample ``start`` on: decoded from the first sample, the rest skipped
        (a decoder that can seek exactly does better)."""
        position = 0
        for block in self.blocks(size):
            if position + block.shape[1] > start:
                yield block[:, max(0, start - position):]
            position += block.shape[1]

    def read(self, start: int, count: int) -> np.ndarray:
        """``[channels, <= count]`` float32 samples from ``start`` (fewer at the end of the data)."""
        parts, held = [], 0
        for block in self.blocks_from(start, max(count, 1)):
            parts.append(block[:, :count - held])
            held += parts[-1].shape[1]
            if held >= count:
                break
        return np.concatenate(parts, axis=1) if parts else np.zeros((self.channels, 0), np.float32)

    def count_frames(self) -> int:
        """Samples the data holds, counted by decoding them."""
        return sum(block.shape[1] for block in self.blocks())

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_native(name) -> NativeAudio:
    """The file at ``name`` opened by the first decoder that reads it.

    Raises ``ValueError`` naming what each decoder said when none can read it.
    A file whose header declares an impossible rate, channel count or length is refused here, by
    an ``AudioError`` saying what it declares, before anything sized by it is allocated.
    """
    failures = []
    kinds = {"libsndfile": _SoundfileAudio, "pyav": _PyAVAudio, "audioread": _AudioreadAudio}
    first = _FIRST.get(os.path.splitext(os.fsdecode(name))[1].lower())
    for decoder in sorted(DECODERS, key=lambda d: d != first):
        try:
            audio = kinds[decoder](name)
        except _NotMine as exc:
            failures.append(f"{decoder}: {exc}")
            continue
        problem = header_problem(audio.rate, audio.channels, audio.frames)
        if problem:
            audio.close()
            raise AudioError(name, problem)
        return audio
    raise ValueError("; ".join(failures))


def header_problem(rate, channels, frames) -> str | None:
    """Why a header's rate, channel count or declared length cannot be a real file's (None: they can)."""
    from ..base.limits import limit

    top = limit("sample_rate")
    if not isinstance(rate, (int, np.integer)) or not MIN_RATE <= rate <= top:
        return (f"its header declares a sample rate of {_number(rate)} Hz; audio is {MIN_RATE:,}–{top:,} Hz: "
                "the file is damaged or not audio")
    if not isinstance(channels, (int, np.integer)) or not 1 <= channels <= MAX_CHANNELS:
        return (f"its header declares {_number(channels)} channels; audio has 1–{MAX_CHANNELS}: "
                "the file is damaged or not audio")
    if frames is not None and (frames < 0 or frames > MAX_DECLARED_SECONDS * rate):
        return (f"its header declares {frames:,} samples ({frames / rate / 3600:,.0f} h at {rate:,} Hz), "
                f"more than the {MAX_DECLARED_SECONDS // 3600} h any recording lasts: the file is damaged")
    return None


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, (int, np.integer)) else repr(value)


def read_native(name) -> tuple[np.ndarray, int, str]:
    """``(samples [channels, n] float32, sample rate, decoder)`` of the whole file at ``name``."""
    with open_native(name) as audio:
        parts = list(audio.blocks())
        rate, channels, decoder = audio.rate, audio.channels, audio.decoder
    samples = np.concatenate(parts, axis=1) if parts else np.zeros((channels, 0), np.float32)
    return samples, rate, decoder


#: libsndfile's frame count for a file whose header gives no length.
_SF_COUNT_MAX = 2 ** 63 - 1


class _NotMine(Exception):
    """This decoder cannot read the file (the next one is tried)."""


class _SoundfileAudio(NativeAudio):
    decoder = "libsndfile"

    def __init__(self, name):
        import soundfile

        try:
            # The path as bytes: a name that is not UTF-8 (surrogate-escaped in str) opens as it is.
            self._file = soundfile.SoundFile(os.fsencode(name))
        except soundfile.SoundFileRuntimeError as exc:
            raise _NotMine(str(exc).splitlines()[0]) from exc
        if self._file.frames >= _SF_COUNT_MAX:
            # No length in the header (a FLAC written to a pipe has 0 there): soundfile's reads fail
            # at the end of such a file (its seek past the last sample), FFmpeg's do not.
            self._file.close()
            raise _NotMine("the header gives no length")
        self.rate, self.channels, self.frames = self._file.samplerate, self._file.channels, self._file.frames
        self._counted = None  # MP3: the samples a decode gives (count_frames)

    def blocks(self, size=BLOCK):
        return self.blocks_from(0, size)

    @property
    def _mpeg(self) -> bool:
        return self._file.format in ("MP3", "MPEG")

    @property
    def exact_header(self) -> bool:
        return not self._mpeg

    def count_frames(self) -> int:
        """The samples a read gives: the header's count where it is exact (wav, flac, ogg, aiff ...);
        counted by decoding for MP3, whose header's count is an estimate without a Xing frame count
        (measured: 9,727,207 declared, 9,718,848 decoded) and can be anything with one.

        soundfile never reads past the declared count (neither does ``librosa.load``, which reads
        ``frames`` in one call): an MP3 that holds more gives its first ``frames`` samples.
        """
        if not self._mpeg:
            return self.frames
        if self._counted is None:
            # A decode into one reused buffer: flat memory, about 0.2 s for 5 min at 44.1 kHz stereo.
            # The count of consecutive reads is a single read's (their samples are not: see _mpeg_blocks).
            self._file.seek(0)
            buffer, counted = np.empty((BLOCK, self.channels), np.float32), 0
            while True:
                got = self._file.read(BLOCK, dtype="float32", always_2d=True, out=buffer).shape[0]
                if got == 0:
                    break
                counted += got
            self._counted = counted
            self._file.seek(0)
        return self._counted

    def blocks_from(self, start: int, size: int = BLOCK):
        """Blocks from native sample ``start`` (a seek: exact after the front end's warm-up margin)."""
        end = self.frames if self._counted is None else self._counted
        if start and start >= end:
            return  # past the end it declares (and reads): seeking there fails
        if self._mpeg:
            yield from self._mpeg_blocks(start, size)
            return
        if self._file.tell() != start:
            self._file.seek(start)
        while True:
            block = self._file.read(size, dtype="float32", always_2d=True).T
            if block.shape[1] == 0:
                return
            yield block

    def _mpeg_blocks(self, start: int, size: int):
        # libsndfile's MP3 decoder is exact within one read call (and, after a seek, from about
        # 4,600 samples on), but a second call goes wrong from its first sample (libsndfile 1.2).
        # So each block is one call that starts MPEG_PREROLL samples early, and those are dropped.
        size = max(size, 4 * MPEG_PREROLL)
        position = start
        while True:
            preroll = min(position, MPEG_PREROLL) if position else 0
            if position == 0 and self._file.tell() == 0:
                block = self._file.read(size, dtype="float32", always_2d=True).T  # the first call: exact
            else:
                self._file.seek(position - preroll)
                block = self._file.read(size + preroll, dtype="float32", always_2d=True).T[:, preroll:]
            if block.shape[1] == 0:
                return
            yield block
            position += block.shape[1]

    def close(self):
        self._file.close()


class _PyAVAudio(NativeAudio):
    decoder = "pyav"

    def __init__(self, name):
        try:
            import av
        except ImportError:
            raise _NotMine("PyAV is not installed (pip install av)") from None
        self._av = av
        try:
            self._handle = open(name, "rb")
            self._container = av.open(self._handle, mode="r")
            self._fresh = True  # nothing decoded yet (see _rewind)
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self.close()
            raise _NotMine(_said(exc)) from exc
        if not self._container.streams.audio:
            self.close()
            raise _NotMine("no audio stream")
        self._stream = stream = self._container.streams.audio[0]
        if stream.codec_context is None:  # FFmpeg has no decoder for it (a WAV of format 0, say)
            self.close()
            raise _NotMine("FFmpeg has no decoder for its audio codec")
        self.rate = stream.codec_context.sample_rate or stream.rate
        self.channels = stream.codec_context.channels  # 0 (none declared) is refused by open_native
        if stream.duration and stream.time_base:
            self.frames = int(round(stream.duration * stream.time_base * self.rate))

    def _frames(self):
        """``[channels, n]`` float32 samples of each decoded frame, in order."""
        # Planar float at the file's own rate and layout: FFmpeg converts integer samples the way
        # libsndfile does (full scale = 1.0) and mixes no channels (the front end takes their mean).
        resampler = self._av.AudioResampler(format="fltp")
        try:
            for frame in self._container.decode(self._stream):
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
            for out in resampler.resample(None):
                yield out.to_ndarray()
        except self._av.error.FFmpegError as exc:
            raise ValueError(f"FFmpeg: {_said(exc)}") from exc

    # Spans and ranges are decoded from the start, the samples before them skipped (the base
    # class's blocks_from): FFmpeg's seeking lands on frames whose decoded samples differ from a
    # decode from the start (measured on AAC), and these formats decode far faster than real time.
    def _rewind(self):
        """Decode from the first packet again. Not by seeking to 0: after a seek FFmpeg drops no
        Opus pre-skip (312 samples more, measured) nor AAC priming, which a first decode drops."""
        if self._fresh:
            self._fresh = False
            return
        self._container.close()
        self._handle.seek(0)
        self._container = self._av.open(self._handle, mode="r")
        self._stream = self._container.streams.audio[0]

    def blocks(self, size=BLOCK):
        self._rewind()
        for samples in self._frames():
            yield samples.astype(np.float32, copy=False)

    def count_frames(self) -> int:
        """Samples the stream decodes to (the container's duration is an estimate, and leaves out
        neither AAC's priming samples nor Opus's pre-skip, which FFmpeg drops): frames are decoded
        and counted, their samples never converted."""
        self._rewind()
        try:
            return sum(frame.samples for frame in self._container.decode(self._stream))
        except self._av.error.FFmpegError as exc:
            raise ValueError(f"FFmpeg: {_said(exc)}") from exc

    def close(self):
        for thing in (getattr(self, "_container", None), getattr(self, "_handle", None)):
            if thing is not None:
                thing.close()


class _AudioreadAudio(NativeAudio):
    """The last resort: the whole file is decoded at once (audioread cannot seek)."""
    decoder = "audioread"

    def __init__(self, name):
        import librosa

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # librosa's notice that it falls back to audioread
                y, rate = librosa.load(name, sr=None, mono=False, dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 (audioread raises many types)
            raise _NotMine(f"{type(exc).__name__}: {str(exc).strip()}".rstrip(": ")) from exc
        self._samples = np.atleast_2d(y)
        self.rate, self.channels, self.frames = rate, self._samples.shape[0], self._samples.shape[1]
        self.exact_header = True  # counted: it is all decoded

    def blocks(self, size=BLOCK):
        for start in range(0, self._samples.shape[1], size):
            yield self._samples[:, start:start + size]


def _said(exc: Exception) -> str:
    strerror = getattr(exc, "strerror", None)  # FFmpeg's words, without its errno and function name
    text = (strerror if isinstance(strerror, str) and strerror.strip() else str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
