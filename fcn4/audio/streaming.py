"""Long files in flat memory: the centre clip read as a span, a track's windows as they fill.

The numbers are the zoo recipe's (the whole file decoded, averaged over channels, resampled with
``soxr_hq`` to librosa's length, then cut), computed without holding the file:

- **Centre clip.** Only the native span under the centre 29.12 s is decoded, with a margin on each
  side for the decoder's warm-up (MP3 needs about 4,600 samples) and the resampler's filter. The
  span starts on a native sample that maps to a whole output sample, so the resampled span is the
  whole-file resampling's samples (measured: within 1e-7 at 22.05, 44.1 and 48 kHz).
- **Track windows.** The file is decoded block by block through a streaming resampler (the same
  output as the one-shot one, bit for bit), and each window goes on as soon as its samples exist;
  only about one window of samples is held. A range of windows starts its reading at a margin
  before its first window, so long files are cut into ranges that worker processes share.

The centre is placed by the length a decode gives (:meth:`~fcn4.audio.decoders.NativeAudio.count_frames`:
the header's count only where it is exact, as in wav and flac; MP3 and FFmpeg's formats are counted
by decoding, in flat memory), and the windows end where the data ends. A header's length is used
only to plan ranges of windows (:func:`probe`); a span that comes back short (a cut wav whose header
promises more) is taken the slow, exact way.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..base.errors import AudioError
from .decoders import NativeAudio, open_native

__all__ = ["Span", "centre_clip", "stream_windows", "whole_file", "probe"]


@dataclass(frozen=True)
class Span:
    """What a track holds, as far as the file says: native rate and samples, and output samples.

    ``exact`` is False where the count is a header's estimate (MP3: measured 589.6 s declared for
    324.4 s of VBR audio without a Xing frame; FFmpeg's container durations): fine to plan ranges
    of windows by, not to refuse a file by.
    """
    rate: int
    native_frames: int | None
    frames: int | None  # at the front end's rate (librosa's length)
    exact: bool = True


def _margin(rate: int) -> int:
    """Native samples read before a span: decoder warm-up plus resampler filter, with room to spare."""
    return max(16384, rate // 2)


def _out_length(native_frames: int, rate: int, sample_rate: int) -> int:
    return native_frames if rate == sample_rate else int(math.ceil(native_frames * (float(sample_rate) / rate)))


def _mono(block: np.ndarray) -> np.ndarray:
    return np.mean(block, axis=0) if block.shape[0] > 1 else block[0]


def probe(path, sample_rate: int) -> Span:
    """The length the file declares (cheap: no samples decoded, so an estimate for MP3 without a Xing
    frame count); ``frames`` None when it declares none. For planning only."""
    with open_native(path) as audio:
        frames = audio.frames
        return Span(audio.rate, frames, None if frames is None else _out_length(frames, audio.rate, sample_rate),
                    audio.exact_header)


def centre_clip(front_end, path, limit_seconds: float | None = None) -> tuple[np.ndarray, float]:
    """``(the centre clip_samples at sample_rate, zero-padded if short; seconds of audio in the file)``.

    ``limit_seconds`` treats the file as its first that many seconds (for over-long files); the
    seconds returned are the whole file's all the same.
    """
    sr, clip = front_end.sample_rate, front_end.clip_samples
    with open_native(path) as audio:
        rate = audio.rate
        native = whole = audio.count_frames()
        if limit_seconds is not None:
            native = min(native, int(limit_seconds * rate))
        n_out = _out_length(native, rate, sr)
        margin = _margin(rate)
        if n_out > clip + 2 * _out_length(margin, rate, sr) and audio.decoder != "audioread":
            start = (n_out - clip) // 2
            step = rate // math.gcd(rate, sr)  # native samples that map to whole output samples
            first = max(0, (start * rate // sr - margin) // step * step)
            last = min(native, math.ceil((start + clip) * rate / sr) + margin)
            span = audio.read(first, last - first)
            if span.shape[1] == last - first:
                piece = _resample(_mono(span), rate, sr)[start - first * sr // rate:][:clip]
                if piece.size == clip:
                    return _checked(piece, path), whole / rate
        # Short files, a last-resort decoder, or a header that promised more than the data holds.
        y = _whole(audio, native)
    seconds = max(y.size, whole if limit_seconds is not None else 0) / rate
    return front_end.fit(_checked(_resample(y, rate, sr, _out_length(y.size, rate, sr)), path)), seconds


def whole_file(front_end, path) -> np.ndarray:
    """The whole file at the front end's rate (channel mean, ``soxr_hq``, librosa's length): ``librosa.load``."""
    with open_native(path) as audio:
        rate = audio.rate
        y = _whole(audio)
    return _resample(y, rate, front_end.sample_rate, _out_length(y.size, rate, front_end.sample_rate))


def stream_windows(front_end, path, hop: int, first: int = 0, count: int | None = None,
                   limit_seconds: float | None = None) -> Iterator[tuple[int, np.ndarray, int | None, bool]]:
    """Yield ``(window index, clip_samples waveform, samples in the track or None, cut)`` from window ``first``.

    Windows start at ``index * hop`` output samples; a window past the end of the audio is
    zero-padded; windows go on until one reaches the end of the track (as
    :meth:`~fcn4.FrontEnd.windows`), or ``count`` windows were given. The track's length is known
    (and given with the windows) only once its end was read; ``cut`` says that ``limit_seconds``
    ended it before the file did.
    """
    import soxr

    sr, clip = front_end.sample_rate, front_end.clip_samples
    with open_native(path) as audio:
        rate = audio.rate
        step = rate // math.gcd(rate, sr)
        first_native = max(0, (first * hop * rate // sr - _margin(rate)) // step * step) if first else 0
        stop_native = None if limit_seconds is None else int(limit_seconds * rate)
        stream = None if rate == sr else soxr.ResampleStream(rate, sr, 1, dtype="float32", quality="soxr_hq")
        buffer, buffer_start = np.zeros(0, np.float32), first_native * sr // rate
        consumed, index, given, cut = first_native, first, 0, False
        blocks = audio.blocks_from(first_native)
        while count is None or given < count:
            block = next(blocks, None)
            if block is not None and stop_native is not None:
                cut = block.shape[1] > stop_native - consumed
                block = block[:, :max(0, stop_native - consumed)]
                if block.shape[1] == 0:
                    block = None
            last = block is None
            if block is not None:
                consumed += block.shape[1]
                samples = _checked(_mono(block), path)
            else:
                samples = np.zeros(0, np.float32)
            out = samples if stream is None else stream.resample_chunk(samples, last=last)
            buffer = np.concatenate([buffer, out])
            total = _out_length(consumed, rate, sr) if last else None
            if last:  # librosa's length exactly
                end = total - buffer_start
                buffer = buffer[:end] if buffer.size >= end else np.pad(buffer, (0, end - buffer.size))
            while count is None or given < count:
                start = index * hop - buffer_start
                if start + clip <= buffer.size:
                    window = buffer[start:start + clip]
                elif last and (index == 0 or ((index - 1) * hop + clip < total and index * hop < total)):
                    window = np.pad(buffer[start:], (0, start + clip - buffer.size))
                else:
                    break
                yield index, window, total, cut
                index, given = index + 1, given + 1
            drop = max(0, min(index * hop - buffer_start, buffer.size))
            buffer, buffer_start = buffer[drop:], buffer_start + drop
            if last:
                return


def _whole(audio: NativeAudio, limit: int | None = None) -> np.ndarray:
    """The file's first ``limit`` samples (all of them: None) averaged over channels."""
    parts, size = [], 0
    for block in audio.blocks():
        parts.append(_mono(block) if limit is None else _mono(block)[:max(0, limit - size)])
        size += parts[-1].size
        if limit is not None and size >= limit:
            break
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _resample(y: np.ndarray, rate: int, sample_rate: int, size: int | None = None) -> np.ndarray:
    import soxr

    if rate != sample_rate and y.size:
        y = soxr.resample(y, rate, sample_rate, quality="soxr_hq")
    if size is not None:
        y = y[:size] if y.size >= size else np.pad(y, (0, size - y.size))
    return np.asarray(y, dtype=np.float32)


def _checked(y: np.ndarray, path) -> np.ndarray:
    if not np.isfinite(y).all():
        raise AudioError(path, "it holds non-finite samples (NaN or infinity)")
    return y
