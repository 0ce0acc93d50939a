"""What one decoding job is and does: a file (or a range of a long track's windows), its front end
and rules, planned from the file's header and decoded to log-mel windows.

:mod:`fcn4.audio.decoding` runs such jobs in worker processes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..base.errors import SettingError
from .frontend import AudioError, FrontEnd, Windows, _decoding

__all__ = ["WINDOW_MODES", "LONG_FILES", "WINDOWS_PER_JOB", "DecodeJob", "Decoded", "decode", "plan"]

#: ``clip``: the centre window of a track, as the model was trained; ``track``: all its windows.
WINDOW_MODES = ("clip", "track")


#: What happens to a file longer than ``max_seconds``: refused, or taken as its first ``max_seconds``.
LONG_FILES = ("refuse", "truncate")
#: Windows one job of a long track decodes (about 15 min at the default hop): long tracks are shared
#: out among the workers in such ranges, and no result holds more than this many windows.
WINDOWS_PER_JOB = 32


@dataclass(frozen=True)
class DecodeJob:
    """What to read and how: one file, the front end, the window mode and the shortest audio taken.

    ``first_window`` and ``windows`` pick a range of a track's windows (``windows=None``: to the
    end); ``max_seconds`` and ``long_files`` say what becomes of a file longer than that;
    ``timeout`` bounds the seconds a worker process may spend on the job; ``declared_seconds`` is
    the length the file's header gave :func:`plan` (a file it declares too long is refused before
    any decoding).
    """
    path: str
    front_end: FrontEnd
    window: str = "clip"
    hop_seconds: float | None = None
    min_seconds: float = 0.0
    first_window: int = 0
    windows: int | None = None
    max_seconds: float | None = None
    long_files: str = "refuse"
    timeout: float | None = None
    declared_seconds: float | None = None

    def __post_init__(self):
        if self.window not in WINDOW_MODES:
            raise SettingError(f"window must be one of {', '.join(WINDOW_MODES)}, got {self.window!r}")
        if self.hop_seconds is not None and not self.hop_seconds > 0:
            raise SettingError(f"hop_seconds must be positive, got {self.hop_seconds}")
        if self.long_files not in LONG_FILES:
            raise SettingError(f"long_files must be one of {', '.join(LONG_FILES)}, got {self.long_files!r}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise SettingError(f"max_seconds must be positive, got {self.max_seconds}")

    @property
    def hop(self) -> int:
        """Output samples between window starts."""
        fe = self.front_end
        return fe.clip_samples if self.hop_seconds is None else int(round(self.hop_seconds * fe.sample_rate))


class Decoded(NamedTuple):
    """A job's windows, or ``error`` (the reason) when the file could not be used; ``note`` says
    what else a reader should know (a file taken as its first hours); ``seconds`` is the file's
    length when the job read to its end (a clip, or a track's last range), else None."""
    job: DecodeJob
    windows: Windows | None
    error: str | None
    note: str | None = None
    seconds: float | None = None


def plan(path: str, job: DecodeJob) -> list[DecodeJob]:
    """The jobs that decode ``path``: one for a clip or a short track, ranges of windows for a long
    track (planned from the length its header declares; the last range reads to the real end)."""
    if job.window == "clip":
        return [job]
    from .streaming import probe

    try:
        span = probe(path, job.front_end.sample_rate)
    except Exception:  # noqa: BLE001 (the job itself reports an unreadable file, with the reason)
        return [job]
    if span.frames is None:
        return [job]
    seconds = span.frames / job.front_end.sample_rate
    if span.exact:  # an estimate (MP3) plans ranges, but never refuses a file: its data decides
        job = dataclasses.replace(job, declared_seconds=seconds)
        if job.max_seconds is not None and seconds > job.max_seconds and job.long_files == "refuse":
            return [job]  # refused by the job, with the reason, before it decodes anything
    frames = span.frames if job.max_seconds is None else min(span.frames, int(job.max_seconds * job.front_end.sample_rate))
    count = max(1, -(-frames // job.hop))
    ranges = list(range(0, count, WINDOWS_PER_JOB))
    return [dataclasses.replace(job, first_window=first, windows=None if first == ranges[-1] else WINDOWS_PER_JOB)
            for first in ranges]


def decode(job: DecodeJob) -> tuple[Windows, str | None, float | None]:
    """The log-mel windows of one job, a note, and the file's length in seconds when the job read
    to its end (else None); :class:`~fcn4.AudioError` when the file cannot be used.

    ``clip`` gives the centre :attr:`~fcn4.FrontEnd.clip_seconds` (zero-padded when shorter),
    decoding only the span under it; ``track`` the job's range of windows (see
    :meth:`~fcn4.FrontEnd.windows`), decoded block by block, but a last one holding less than
    ``min_seconds`` of audio. A file shorter than ``min_seconds`` is refused rather than padded
    into a window that is mostly silence; one longer than ``max_seconds`` is refused or taken as
    its first ``max_seconds`` (``long_files``), and the note says so.
    """
    fe, sr = job.front_end, job.front_end.sample_rate
    limit = job.max_seconds if job.long_files == "truncate" else None
    if job.window == "clip":
        y, seconds = fe.centre(job.path, limit)
        _check_length(job, seconds)
        taken = min(seconds, limit) if limit else seconds
        start = max(0, (int(round(taken * sr)) - fe.clip_samples) // 2)
        return Windows(fe.melgram(y)[None], np.array([start / sr])), _note(job, seconds), seconds
    from .streaming import stream_windows

    name = fe._usable(job.path)
    if job.first_window == 0 and job.declared_seconds is not None:  # refused before decoding hours
        _check_length(job, max(job.declared_seconds, job.min_seconds))  # (short files: by what they hold)
    melgrams, starts, total, cut = [], [], None, False
    with _decoding(name):
        for index, window, total, cut in stream_windows(fe, name, job.hop, job.first_window, job.windows,
                                                        job.max_seconds):
            melgrams.append(fe.melgram(window))
            starts.append(index * job.hop)
    if total is not None:  # this job read the end of the track: the whole track's rules apply
        if total == 0:
            raise AudioError(name, "it holds no audio samples")
        seconds = total / sr
        if job.first_window == 0:
            _check_length(job, seconds)
        if cut and job.long_files == "refuse":  # the data went on past max_seconds, whatever the header said
            raise AudioError(job.path, _too_long(job))
        # A last window holding less than min_seconds of audio would be mostly padding: drop it.
        keep = [i for i, start in enumerate(starts)
                if total - start >= job.min_seconds * sr or start == 0]
        melgrams, starts = [melgrams[i] for i in keep], [starts[i] for i in keep]
    shape = (0, fe.n_mels, fe.n_frames)
    windows = Windows(np.stack(melgrams) if melgrams else np.zeros(shape, np.float32), np.asarray(starts) / sr)
    truncated = cut and job.long_files == "truncate"
    note = f"tagged over its first {_hours(job.max_seconds)}; it is longer" if truncated else None
    return windows, note, None if total is None else total / sr


def _check_length(job: DecodeJob, seconds: float) -> None:
    if seconds < job.min_seconds:
        raise AudioError(job.path, (
            f"it holds {seconds:.2f} s of audio, less than the {job.min_seconds:.2f} s that one window "
            "of the network's pooling spans; to zero-pad it anyway, pass min_seconds=0 (--min-seconds 0)"))
    if job.max_seconds is not None and seconds > job.max_seconds and job.long_files == "refuse":
        raise AudioError(job.path, _too_long(job, seconds))


def _too_long(job: DecodeJob, seconds: float | None = None) -> str:
    """Why a file longer than ``max_seconds`` is refused (``seconds`` None: its header said less)."""
    lasts = "goes on past" if seconds is None else f"lasts {_hours(seconds)}, more than"
    return (f"it {lasts} the {_hours(job.max_seconds)} a file may (--max-hours); "
            "raise the limit, or tag its first hours with --long-files truncate")


def _note(job: DecodeJob, seconds: float) -> str | None:
    if job.max_seconds is not None and seconds > job.max_seconds and job.long_files == "truncate":
        return f"tagged over its first {_hours(job.max_seconds)} of {_hours(seconds)}"
    return None


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h"
