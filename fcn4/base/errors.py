"""The root of every error this package raises on purpose.

Each domain error (:class:`~fcn4.AudioError`, :class:`~fcn4.CardError`,
:class:`~fcn4.CheckpointError`, :class:`~fcn4.WeightsUnavailable`, ...) derives from
:class:`FCN4Error`, so a caller tells "the input is at fault, and the message says how" from a
bug with one ``except FCN4Error``; the command lines exit 2 on it and treat anything else as an
internal error. Errors that were ``ValueError`` or ``RuntimeError`` stay so too, for callers that
catch those.

>>> issubclass(SettingError, FCN4Error) and issubclass(SettingError, ValueError)
True
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FCN4Error", "SettingError", "UnsafePathError", "StorageError", "FolderBusy",
           "CheckpointError", "AudioError", "CardError", "DownloadError", "IntegrityError",
           "WeightsUnavailable", "BackendError", "MissingExtra", "LibraryJobError", "StoreError",
           "DatasetError", "ManifestError", "TrainingError", "ConfigError", "RunExistsError",
           "FCN4DeprecationWarning"]


class FCN4Error(Exception):
    """An input, a setting or the environment is at fault; the message names it and a way out."""


class SettingError(FCN4Error, ValueError):
    """An argument or setting has a value that cannot be used; the message names it and what it takes."""


class UnsafePathError(FCN4Error, OSError):
    """A path where this package writes, deletes or reads what it trusts is a symbolic link (or
    otherwise leads out of its folder); nothing was written or deleted through it."""


class StorageError(FCN4Error, OSError):
    """Writing into a folder failed for the environment's reason (a full disk, a quota, a
    permission); the message names the folder and a way out. ``errno`` is the OS's."""


class FolderBusy(FCN4Error):
    """Another process is writing into the folder; the message names the folder and that process."""


class FCN4DeprecationWarning(DeprecationWarning):
    """A name of an older release was used; the message names the one to use now."""


class CheckpointError(FCN4Error, ValueError):
    """A checkpoint is missing, unreadable, or does not fit the network; the message says how."""

    def __init__(self, source: str, problem: str):
        self.source = source
        super().__init__(f"checkpoint '{source}': {problem}")


class AudioError(FCN4Error):
    """An audio file could not be used: missing, empty, unreadable or not audio.

    ``path`` is the file at fault and ``reason`` says why.
    """

    def __init__(self, path, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(
            f"cannot use audio file '{self.path}': {reason}. Pass a readable audio file "
            "(wav, flac, ogg, mp3, m4a, opus, wma, or anything else libsndfile or FFmpeg decodes); "
            "if it plays elsewhere, re-encode it, e.g. `ffmpeg -i IN OUT.wav`")


class CardError(FCN4Error, ValueError):
    """A card cannot be used; ``problems`` lists every reason, each naming file and field."""

    def __init__(self, path, problems):
        self.path = str(path)
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p.field}: {p.message}" for p in self.problems)
        super().__init__(f"card '{self.path}' has {len(self.problems)} problem(s):\n{lines}")


class DownloadError(FCN4Error, RuntimeError):
    """A download failed; the message names the URL and the reason, and no file was kept."""

    def __init__(self, url: str, reason: str):
        self.url = url
        super().__init__(f"download of {url} failed: {reason}")


class IntegrityError(DownloadError):
    """The downloaded bytes do not have the expected sha256."""

    def __init__(self, url: str, expected: str, actual: str, size: int):
        self.expected, self.actual = expected, actual
        super().__init__(url, (
            f"INTEGRITY ERROR: {size:,} bytes arrived with sha256 {actual}, expected {expected}; "
            "the file was not kept. The server may hold another version of the file: check the "
            "card's asset-link and asset-sha256"))


class WeightsUnavailable(FCN4Error, RuntimeError):
    """No verified checkpoint on disk and none could be downloaded; says where to put one."""

    def __init__(self, spec: "WeightsSpec", target: Path, reason: str, rejected=()):
        self.spec, self.target, self.rejected = spec, Path(target), tuple(rejected)
        lines = [f"the checkpoint of {spec.uid} is not available: {reason}",
                 f"  url:    {spec.url}",
                 f"  sha256: {spec.sha256}",
                 f"  download it by hand and place it at: {target}",
                 "  (it is verified against the sha256 before use)"]
        lines += [f"  {path} is on disk but its sha256 differs, so it was not loaded" for path in self.rejected]
        super().__init__("\n".join(lines))


class BackendError(FCN4Error, RuntimeError):
    """A backend cannot run here: not installed, or an export failed its check."""


class MissingExtra(FCN4Error, ImportError):
    """A library job needs a package of the ``[ray]`` extra that is not installed."""


class LibraryJobError(FCN4Error, RuntimeError):
    """The Ray job could not run or finish; what it wrote is kept (a rerun goes on from there)."""


class StoreError(FCN4Error, ValueError):
    """A store that cannot be used: settings that differ from this run's, or a damaged part; named."""


class DatasetError(FCN4Error, ValueError):
    """A data folder that cannot be read as the dataset asked for; says what was expected."""


class ManifestError(DatasetError):
    """A labels manifest (CSV, TSV or Parquet) that cannot be read: names the ``file``, the data
    ``row`` (1 = the first row after the header; None for the whole file) and the ``column``."""

    def __init__(self, file, message: str, *, row: int | None = None, column: str | None = None):
        self.file, self.row, self.column = str(file), row, column
        where = ", ".join(part for part in (f"row {row}" if row is not None else "",
                                            f"column {column!r}" if column is not None else "") if part)
        super().__init__(f"{file}{': ' + where if where else ''}: {message}")


class TrainingError(FCN4Error, RuntimeError):
    """A run that cannot start or resume as asked; the message names the file or setting at fault."""


class ConfigError(SettingError):
    """A setting that cannot be used; the message names it and the values it takes."""


class RunExistsError(TrainingError, ConfigError):
    """The run folder already holds a run and ``resume`` was not asked for.

    Both a :class:`TrainingError` (as ``fcn4 train`` raised it) and a :class:`ConfigError` (as
    the kit raised it), so whoever caught either still does.
    """
