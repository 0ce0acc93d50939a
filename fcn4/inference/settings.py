"""How files are tagged: one frozen :class:`InferenceSettings` per job, its defaults written here only.

The CLI fills it once from its flags (whose defaults and help come from these fields); the Tagger,
the Ray library job, the store's settings and the similarity search carry it whole.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..audio.decoding import LONG_FILES, WINDOW_MODES, DecodeJob
from ..base.errors import SettingError
from .backend_base import BACKENDS, DEVICES, PRECISIONS
from ..model.arguments import LAYERS

__all__ = ["InferenceSettings", "AGGREGATES", "MAX_HOURS", "DECODE_TIMEOUT", "check_top"]

#: Files longer than this many hours are refused (or, asked to, tagged over their first hours).
MAX_HOURS = 24.0
#: Seconds a decoding worker may spend on one job (a file, or a range of a long track's windows).
DECODE_TIMEOUT = 300.0
#: How window outputs combine into a track's: the mean (default) or the maximum.
AGGREGATES = ("mean", "max")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class InferenceSettings:
    """How a file becomes tags (and embeddings); every field is checked here, a bad one named
    (:class:`~fcn4.SettingError`). ``metadata['help']`` is the CLI's help for the field's flag."""
    window: str = field(default="clip", metadata=_help(
        "clip: the centre 29.12 s, as in training (default); track: every window"))
    hop_seconds: float | None = field(default=None, metadata=_help(
        "seconds between track windows (default: the window length, no overlap)"))
    aggregate: str = field(default="mean", metadata=_help("how a track's windows combine (default {default})"))
    min_seconds: float | None = field(default=None, metadata=_help(
        "shorter files fail instead of being padded (default: one window of the network's pooling, 3.39 s; "
        "0 pads anything)"))
    max_hours: float | None = field(default=MAX_HOURS, metadata=_help(
        "longer files are refused, or tagged over their first hours with --long-files truncate (default {default:g})"))
    long_files: str = field(default="refuse", metadata=_help(
        "what becomes of a file longer than --max-hours (default {default})"))
    decode_timeout: float | None = field(default=DECODE_TIMEOUT, metadata=_help(
        "a file a decoding worker spends longer on fails (default {default:g})"))
    backend: str = field(default="auto", metadata=_help(
        "the engine: auto (default) measures those that can run here once and keeps the fastest that agrees "
        "with MindSpore graph mode; onnxruntime, openvino or mindspore force one"))
    precision: str = field(default="exact", metadata=_help(
        "exact (default): fp32, every output within 1e-4 of MindSpore graph mode; fast: also bf16 and int8 where "
        "the CPU has them, each kept only if it passes a self-check on your first files"))
    device: str = field(default="cpu", metadata=_help("cpu (default), or cuda: an NVIDIA GPU (the [gpu] extra)"))
    top_k: int = field(default=5, metadata=_help("tags listed per file (default {default}; 0: all)"))
    threshold: float | str | None = field(default=None, metadata=_help(
        "each file's label set, every format: the labels whose probability is at least this number, or at least "
        "their own threshold with 'card' (calibrated into the card by python -m finetune)"))
    layer: str = field(default=LAYERS[-1], metadata=_help(
        "which block's output is the embedding: block1..block4 (global mean and max pooling of its map) or "
        "penultimate (the head's input; default)"))

    def __post_init__(self):
        for name, choices in (("window", WINDOW_MODES), ("aggregate", AGGREGATES), ("long_files", LONG_FILES)):
            if getattr(self, name) not in choices:
                raise SettingError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        number("hop_seconds", self.hop_seconds, 0, low_open=True)
        number("min_seconds", self.min_seconds, 0)
        number("max_hours", self.max_hours, 0, low_open=True)
        number("decode_timeout", self.decode_timeout, 0, low_open=True)
        whole("top_k", self.top_k, 0)
        for name, choices in (("backend", BACKENDS), ("precision", PRECISIONS), ("device", DEVICES)):
            if getattr(self, name) not in choices:
                raise SettingError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.threshold != "card":
            try:
                number("threshold", self.threshold, 0)
                if self.threshold is not None and self.threshold > 1:
                    raise SettingError("above 1")
            except SettingError:
                raise SettingError(f"threshold must be 'card' or a probability from 0 to 1, got "
                                   f"{self.threshold!r}") from None
        if self.layer not in LAYERS:
            raise SettingError(f"layer must be one of {', '.join(LAYERS)}, got {self.layer!r}")

    @classmethod
    def of(cls, settings: "InferenceSettings | None" = None, **options) -> "InferenceSettings":
        """``settings`` (default: the defaults) with ``options`` (old keyword arguments) replacing its fields."""
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
        settings = cls() if settings is None else settings
        return dataclasses.replace(settings, **options) if options else settings

    def minimum(self, default: float) -> float:
        """The shortest audio taken: :attr:`min_seconds`, or ``default`` (the network's) when None."""
        return float(default) if self.min_seconds is None else float(self.min_seconds)

    @property
    def max_seconds(self) -> float | None:
        return None if self.max_hours is None else float(self.max_hours) * 3600

    def decode_job(self, path: str, front_end, default_min_seconds: float) -> DecodeJob:
        """The decoding job of ``path`` under these settings: the one place a DecodeJob is made from them."""
        return DecodeJob(path, front_end, self.window, self.hop_seconds, self.minimum(default_min_seconds),
                         max_seconds=self.max_seconds, long_files=self.long_files, timeout=self.decode_timeout)

    def combine(self, values: np.ndarray) -> np.ndarray:
        """A track's ``[C]`` (or ``[D]``) from its windows' ``[W, C]``, by :attr:`aggregate`."""
        return combine(values, self.aggregate)


def combine(values: np.ndarray, aggregate: str) -> np.ndarray:
    """Windows' outputs ``[W, C]`` combined into the track's ``[C]``: the mean or the maximum."""
    return values.max(axis=0) if aggregate == "max" else values.mean(axis=0)


def check_top(k, threshold=None) -> None:
    """Refuse a ``k`` that is not a whole number >= 0, or a ``threshold`` that is not a number
    (:class:`~fcn4.SettingError`)."""
    whole("k (top_k)", k, 0)
    number("threshold", threshold, None)


def whole(name: str, value, low: int, none: bool = False) -> None:
    if value is None and none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SettingError(f"{name} must be a whole number >= {low}{' or None' if none else ''}, got {value!r}")


def number(name: str, value, low: float | None, low_open: bool = False) -> None:
    """None, or a finite number >= ``low`` (> ``low`` with ``low_open``); else a SettingError."""
    if value is None:
        return
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating)) \
        and math.isfinite(value) and (low is None or (value > low if low_open else value >= low))
    if not ok:
        bound = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
        raise SettingError(f"{name} must be a finite number{bound} or None, got {value!r}")
