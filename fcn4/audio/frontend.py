"""The audio front end FCN-4 was trained with: file -> 12 kHz mono waveform -> log-mel ``[96, 1366]``.

It follows the MindSpore zoo's preprocessing exactly (``librosa.load(path, sr=12000)``, centre
crop or end pad to 29.12 s, a power mel spectrogram passed to ``amplitude_to_db`` with
librosa's defaults), because that is what the published weights expect.

The computation is librosa's, written with the libraries librosa itself calls (soundfile to
decode, soxr to resample, NumPy's FFT): importing librosa costs a process about 2 s (scipy,
numba), which every decoding worker would pay before its first file. The tests hold it to
librosa's own output. librosa still decodes what libsndfile cannot (through audioread).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..base.errors import FCN4Error, SettingError, AudioError
from ..base.limits import check_range

__all__ = ["FrontEnd", "Windows", "AudioError", "DEFAULT_FRONT_END"]


class Windows(NamedTuple):
    """Log-mel windows of one track: ``melgrams[i]`` starts ``starts[i]`` seconds in."""
    melgrams: np.ndarray
    starts: np.ndarray


@dataclass(frozen=True)
class FrontEnd:
    """Audio settings of a checkpoint, and the functions that turn audio into its input.

    The defaults are those of the MindSpore zoo FCN-4 (and its published MTAT weights).

    Examples
    --------
    >>> import numpy as np
    >>> fe = FrontEnd()
    >>> fe.clip_samples, fe.n_frames
    (349440, 1366)
    >>> y = np.zeros(12000 * 40, np.float32)     # 40 s of silence at 12 kHz
    >>> fe.melgram(fe.fit(y)).shape
    (96, 1366)
    """

    sample_rate: int = 12000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    clip_seconds: float = 29.12

    def __post_init__(self):
        # Checked here, before any filter bank or frame is allocated: cards written by strangers set these.
        for name, low, bound in (("sample_rate", 1000, "sample_rate"), ("n_fft", 16, "n_fft"),
                                 ("n_mels", 1, "n_mels")):
            _whole(name, getattr(self, name))
            check_range(name, getattr(self, name), low, bound)
        _whole("hop_length", self.hop_length)
        if not 1 <= self.hop_length <= self.n_fft:
            raise SettingError(f"hop_length = {self.hop_length!r} must be between 1 and n_fft ({self.n_fft})")
        if self.n_mels > self.n_fft // 2 + 1:
            raise SettingError(f"n_mels = {self.n_mels} is more than the {self.n_fft // 2 + 1} frequency bins of "
                               f"n_fft = {self.n_fft}")
        if isinstance(self.clip_seconds, bool) or not isinstance(self.clip_seconds, (int, float)):
            raise SettingError(f"clip_seconds must be a number of seconds, got {self.clip_seconds!r}")
        check_range("clip_seconds", self.clip_seconds, 0.01, "clip_seconds")
        if self.clip_samples < self.n_fft:
            raise SettingError(f"clip_seconds = {self.clip_seconds} gives {self.clip_samples} samples, fewer than "
                               f"n_fft = {self.n_fft}")

    @property
    def clip_samples(self) -> int:
        """Samples in one model input (``int(29.12 * 12000)`` = 349,440)."""
        return int(self.clip_seconds * self.sample_rate)

    @property
    def n_frames(self) -> int:
        """Frames of one model input's melgram (1366)."""
        return 1 + self.clip_samples // self.hop_length

    def seconds_for(self, frames: int) -> float:
        """The shortest audio, in seconds, whose melgram has ``frames`` frames (``1 + samples // hop``).

        >>> round(FrontEnd().seconds_for(160), 2)      # FCN-4's shortest input
        3.39
        """
        return (frames - 1) * self.hop_length / self.sample_rate

    def warm_up(self) -> "FrontEnd":
        """Import the decoders and build the mel filter bank now, so the first file is not slower."""
        self.melgram(np.zeros(4 * self.n_fft, np.float32))
        return self

    def load(self, path) -> np.ndarray:
        """Decode ``path`` to a mono float32 waveform at :attr:`sample_rate`, as ``librosa.load`` does.

        The whole file is held: :meth:`clip` and :meth:`windows` read long files in flat memory.
        Raises :class:`AudioError` naming the file if it is missing, empty, undecodable,
        holds no samples or holds non-finite samples.
        """
        name = self._usable(path)
        with _decoding(name):
            y = self._decode(name)
        if y.size == 0:
            raise AudioError(name, "it holds no audio samples")
        if not np.isfinite(y).all():
            raise AudioError(name, "it holds non-finite samples (NaN or infinity)")
        return y

    def _usable(self, path) -> str:
        """The path as text, or an :class:`AudioError` for what is no audio file at all."""
        name = os.fspath(path)
        if not os.path.exists(name):
            raise AudioError(name, "no such file")
        if os.path.isdir(name):
            raise AudioError(name, "it is a folder, not a file")
        if os.path.getsize(name) == 0:
            raise AudioError(name, "the file is empty (0 bytes)")
        return name

    def _decode(self, name: str) -> np.ndarray:
        """librosa.load(name, sr=sample_rate, mono=True): decode, channel mean, soxr_hq, fixed length."""
        from .streaming import whole_file

        return whole_file(self, name)

    def centre(self, path, limit_seconds: float | None = None) -> tuple[np.ndarray, float]:
        """``(the centre clip_samples waveform, the file's seconds)``: decoding only the span it needs.

        Equal to ``fit(load(path))`` (see :mod:`fcn4.audio.streaming`); ``limit_seconds`` takes the
        file as its first that many seconds.
        """
        from .streaming import centre_clip

        name = self._usable(path)
        with _decoding(name):
            y, seconds = centre_clip(self, name, limit_seconds)
        if seconds == 0:
            raise AudioError(name, "it holds no audio samples")
        return y, seconds

    def fit(self, y: np.ndarray) -> np.ndarray:
        """Centre-crop ``y`` to :attr:`clip_samples`, or zero-pad it at the end (the zoo's rule)."""
        n, fit = y.shape[-1], self.clip_samples
        if n > fit:
            start = (n - fit) // 2
            return y[..., start:start + fit]
        if n < fit:
            return np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, fit - n)])
        return y

    def melgram(self, y: np.ndarray) -> np.ndarray:
        """Log-power mel spectrogram ``[..., n_mels, frames]`` (float32) of waveform(s) ``y``.

        librosa's ``amplitude_to_db(melspectrogram(y, sr, n_fft, hop_length, n_mels))``: a
        centred STFT (zero-padded, periodic Hann window), power, Slaney mel filters, then
        ``amplitude_to_db`` (``ref=1.0``, ``top_db=80``) applied to the *power* mel, a quirk of
        the zoo code the weights expect; its ``top_db`` floor is taken per waveform.
        """
        y = np.asarray(y, dtype=np.float32)
        pad = [(0, 0)] * (y.ndim - 1) + [(self.n_fft // 2, self.n_fft // 2)]
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, pad), self.n_fft, axis=-1)[..., ::self.hop_length, :]
        spectrum = np.fft.rfft(frames * _hann(self.n_fft), axis=-1).astype(np.complex64)
        power = np.abs(spectrum) ** 2  # [..., frames, bins]
        mel = np.einsum("...tf,mf->...mt", power, _mel_filters(self.sample_rate, self.n_fft, self.n_mels),
                        optimize=True)
        db = 10.0 * np.log10(np.maximum(np.float32(1e-10), np.square(mel)))  # amplitude_to_db of the power
        floor = db.max(axis=(-2, -1), keepdims=True) - np.float32(80.0)
        return np.maximum(db, floor).astype(np.float32, copy=False)

    def clip(self, path) -> np.ndarray:
        """The ``[n_mels, n_frames]`` melgram of the centre 29.12 s of a file, as in training.

        Only the span under the centre is decoded, so a file of hours costs what a song does.
        """
        return self.melgram(self.centre(path)[0])

    def windows(self, source, hop_seconds: float | None = None) -> Windows:
        """Melgrams of a whole track cut into consecutive model-sized windows.

        Parameters
        ----------
        source : path or np.ndarray
            An audio file, or a mono waveform already at :attr:`sample_rate`.
        hop_seconds : float, optional
            Seconds between window starts; default :attr:`clip_seconds` (no overlap).

        Returns
        -------
        Windows
            ``melgrams`` ``[n_windows, n_mels, n_frames]`` and ``starts`` in seconds. Windows
            start at 0, hop, 2 hop, ... until one reaches the end of the track (none starts
            past it); the last one is zero-padded at its end. A track shorter than one window gives one padded window,
            equal to :meth:`clip` of it. Each window is computed exactly as :meth:`clip` would
            compute a file holding just that excerpt.
        """
        if not isinstance(source, np.ndarray):
            windows = list(self.stream(source, hop_seconds))
            return Windows(self.melgram(np.stack([w for _, w in windows])), np.asarray([s for s, _ in windows]))
        y = source
        if y.ndim != 1 or y.size == 0:
            raise ValueError(f"expected a non-empty mono waveform, got shape {y.shape}")
        hop = self.clip_samples if hop_seconds is None else int(round(hop_seconds * self.sample_rate))
        if hop <= 0:
            raise SettingError(f"hop_seconds must be positive, got {hop_seconds}")
        starts = [0]
        while starts[-1] + self.clip_samples < y.size and starts[-1] + hop < y.size:
            starts.append(starts[-1] + hop)
        padded = np.pad(y, (0, max(0, starts[-1] + self.clip_samples - y.size)))
        frames = np.stack([padded[s:s + self.clip_samples] for s in starts])
        return Windows(self.melgram(frames), np.asarray(starts) / self.sample_rate)


    def stream(self, path, hop_seconds: float | None = None, first: int = 0, count: int | None = None,
               limit_seconds: float | None = None):
        """Yield ``(start seconds, clip_samples waveform)`` of a file's windows as they fill (see
        :meth:`windows`), decoding block by block in flat memory; from window ``first``, ``count`` of them."""
        from .streaming import stream_windows

        name = self._usable(path)
        hop = self.clip_samples if hop_seconds is None else int(round(hop_seconds * self.sample_rate))
        if hop <= 0:
            raise SettingError(f"hop_seconds must be positive, got {hop_seconds}")
        with _decoding(name):
            for index, window, total, _ in stream_windows(self, name, hop, first, count, limit_seconds):
                if total == 0:
                    raise AudioError(name, "it holds no audio samples")
                yield index * hop / self.sample_rate, window


@contextlib.contextmanager
def _decoding(name: str):
    """Any decoder's failure as an :class:`AudioError` naming the file (decoders raise many types)."""
    try:
        yield
    except AudioError:
        raise
    except (AttributeError, TypeError, LookupError, ArithmeticError, AssertionError) as exc:
        # A decoder tripped over data it did not expect: its words ("'NoneType' object has no
        # attribute ...", "float division by zero") say nothing about the file (the cause stays chained).
        raise AudioError(name, "its data could not be decoded (the file is damaged or not audio)") from exc
    except Exception as exc:  # noqa: BLE001
        detail = str(exc).strip() or type(exc).__name__
        raise AudioError(name, f"no decoder could read it ({detail})") from exc


def _whole(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(f"{name} must be a whole number, got {value!r}")


@lru_cache(maxsize=None)
def _hann(n: int) -> np.ndarray:
    """scipy.signal.get_window("hann", n) (periodic), computed as scipy computes it."""
    return (0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1)))[:-1]


@lru_cache(maxsize=None)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels): Slaney mel scale and area normalisation, float32."""
    def hz_to_mel(hz):
        log = hz >= 1000.0
        return np.where(log, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), hz * 3.0 / 200.0)

    def mel_to_hz(mel):
        log = mel >= 15.0
        return np.where(log, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel - 15.0)), mel * 200.0 / 3.0)

    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_hz = mel_to_hz(np.linspace(hz_to_mel(np.float64(0.0)), hz_to_mel(np.float64(sample_rate / 2)), n_mels + 2))
    ramps = np.subtract.outer(mel_hz, fft_hz)
    widths = np.diff(mel_hz)
    weights = np.zeros((n_mels, 1 + n_fft // 2), np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (mel_hz[2:n_mels + 2] - mel_hz[:n_mels]))[:, None]
    return weights


#: The front end of the MindSpore zoo FCN-4 and its published MagnaTagATune weights.
DEFAULT_FRONT_END = FrontEnd()
