"""What a store's rows depend on (:class:`StoreSettings`): written to its ``_store.json`` and to every
part's Parquet metadata, and checked field by field (type and range) whenever they are read."""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from ..base.errors import StoreError
from ..inference.settings import InferenceSettings
from ..model.arguments import LAYERS

__all__ = ["StoreSettings", "STORE_FORMAT", "MAX_FEATURES", "MAX_LABELS", "MAX_TEXT"]

STORE_FORMAT = 1
#: Bounds of the settings: embedding width, labels, a label's or a name's length, the settings file's size.
MAX_FEATURES = 1 << 16
MAX_LABELS = 100_000
MAX_TEXT = 4096
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DEFAULT = InferenceSettings()


@dataclass(frozen=True)
class StoreSettings:
    """What a store's rows depend on: rows written under other settings are not comparable."""
    weights: str
    sha256: str | None
    labels: tuple[str, ...]
    front_end: dict
    features: int
    # The InferenceSettings a store's rows depend on, as its settings file records them (decode_timeout is
    # left out: it decides whether a slow file fails, not its row; min_seconds is resolved): see for_run.
    window: str = _DEFAULT.window
    hop_seconds: float | None = _DEFAULT.hop_seconds
    aggregate: str = _DEFAULT.aggregate
    min_seconds: float = 0.0
    max_hours: float | None = None
    long_files: str = _DEFAULT.long_files
    embeddings: bool = False
    top_k: int = _DEFAULT.top_k
    precision: str = _DEFAULT.precision
    # Which block's output the embeddings are (fcn4 embed --layer): stores of other layers are not comparable.
    layer: str = _DEFAULT.layer
    # The engine the rows were computed on (InferenceSettings.backend chose it; Tagger.engine describes it, a
    # fast engine's self-check included). A record, not a condition: runs on other engines of the same
    # precision write comparable rows (exact ones agree within 1e-4), so differences() leaves it out.
    engine: dict | None = None

    @classmethod
    def for_run(cls, tagger, settings: InferenceSettings, embeddings: bool) -> "StoreSettings":
        """The settings of a store that ``tagger`` fills under ``settings``."""
        recorded = {f.name: getattr(settings, f.name) for f in dataclasses.fields(cls) if hasattr(settings, f.name)}
        return cls(weights=tagger.weights, sha256=tagger.spec.sha256 if tagger.spec else None,
                   labels=tuple(tagger.labels), front_end=dataclasses.asdict(tagger.front_end),
                   features=tagger.backend.info.num_features, embeddings=bool(embeddings),
                   engine=getattr(tagger, "engine", None) or None,
                   **{**recorded, "min_seconds": settings.minimum(tagger.min_seconds)})

    @property
    def inference(self) -> InferenceSettings:
        """The InferenceSettings the store's rows were made with (a query embedded as they were)."""
        return InferenceSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(InferenceSettings)
                                    if hasattr(self, f.name)})

    def to_json(self) -> dict:
        return {"format": STORE_FORMAT, **dataclasses.asdict(self), "labels": list(self.labels)}

    @classmethod
    def from_json(cls, data: dict, where: str, way_out: str = "write to a new folder") -> "StoreSettings":
        """The settings ``data`` (parsed JSON) describe, each field checked (type and range) before
        anything is sized by it; else a :class:`StoreError` naming ``where``, the field and ``way_out``."""
        if not isinstance(data, dict) or data.get("format") != STORE_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise StoreError(f"{where}: not a store of this version of fcn4 (format {_short(found)}, expected "
                             f"{STORE_FORMAT}); {way_out}")
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                if f.default is dataclasses.MISSING:
                    raise StoreError(f"{where}: damaged store settings (the field {f.name!r} is missing); {way_out}")
                continue
            value, (check, wants) = data[f.name], _FIELDS[f.name]
            try:
                ok = check(value)
            except (TypeError, ValueError, OverflowError, RecursionError):
                ok = False
            if not ok:
                raise StoreError(f"{where}: damaged store settings (the field {f.name!r} is {_short(value)}; it must "
                                 f"be {wants}); {way_out}")
            values[f.name] = tuple(value) if f.name == "labels" else value
        return cls(**values)

    def differences(self, other: "StoreSettings", ours: str = "the store's", others: str = "this run's") -> list[str]:
        """What differs from ``other``: ``field: the store's X, this run's Y`` (labels summarised)."""
        found = []
        for f in dataclasses.fields(self):
            if f.name == "engine":
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "weights" and self.sha256 is not None and self.sha256 == other.sha256:
                continue  # the same checkpoint by another name (a relative path, a copy): its sha256 says so
            if mine != theirs:
                if f.name == "labels":
                    mine, theirs = (f"{len(v)} ({', '.join(v[:3])}, ...)" for v in (mine, theirs))
                else:
                    mine, theirs = repr(mine), repr(theirs)
                found.append(f"{f.name}: {ours} {mine}, {others} {theirs}")
        return found


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({type(value).__name__})"


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _real(value, low: float, high: float, *, above: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return (value > low if above else value >= low) and value <= high


def _text(value, limit: int = MAX_TEXT) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and "\0" not in value


def _plain_json(value, depth: int = 0) -> bool:
    if isinstance(value, dict):
        return depth < 4 and len(value) <= 256 and all(
            isinstance(k, str) and len(k) <= 256 and _plain_json(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return depth < 4 and len(value) <= 4096 and all(_plain_json(v, depth + 1) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int)) or (isinstance(value, str) and len(value) <= MAX_TEXT)


#: Each setting's check and what it takes (said in the refusal).
_FIELDS = {
    "weights": (_text, f"a name or path of 1 to {MAX_TEXT} characters"),
    "sha256": (lambda v: v is None or (isinstance(v, str) and _SHA256.match(v) is not None),
               "null or 64 lowercase hexadecimal digits"),
    "labels": (lambda v: isinstance(v, list) and 0 < len(v) <= MAX_LABELS and all(_text(x, 1024) for x in v),
               f"a list of 1 to {MAX_LABELS:,} names"),
    "front_end": (lambda v: isinstance(v, dict) and _plain_json(v), "an object of plain settings"),
    "features": (lambda v: _whole(v, 1, MAX_FEATURES), f"a whole number from 1 to {MAX_FEATURES}"),
    "window": (lambda v: v in ("clip", "track") and isinstance(v, str), "'clip' or 'track'"),
    "hop_seconds": (lambda v: v is None or _real(v, 0, 86400, above=True), "null or seconds > 0, at most 86400"),
    "aggregate": (lambda v: _text(v, 64), "a name"),
    "min_seconds": (lambda v: _real(v, 0, 86400), "seconds from 0 to 86400"),
    "max_hours": (lambda v: v is None or _real(v, 0, 1e6, above=True), "null or hours > 0"),
    "long_files": (lambda v: _text(v, 64), "a name"),
    "embeddings": (lambda v: isinstance(v, bool), "true or false"),
    "top_k": (lambda v: _whole(v, 0, MAX_LABELS), f"a whole number from 0 to {MAX_LABELS:,}"),
    "precision": (lambda v: v in ("exact", "fast") and isinstance(v, str), "'exact' or 'fast'"),
    "layer": (lambda v: isinstance(v, str) and v in LAYERS, f"one of {', '.join(LAYERS)}"),
    "engine": (lambda v: v is None or (isinstance(v, dict) and _plain_json(v)), "null or an object of plain values"),
}
