"""Every error this package raises on purpose, in one place.

All derive from :class:`FCN4Error`, so ``except fcn4.errors.FCN4Error`` tells "the input, a setting
or the environment is at fault, and the message says how" from a bug. Each is also importable from
the module that raises it, as before.

>>> from fcn4.errors import FCN4Error, AudioError
>>> issubclass(AudioError, FCN4Error)
True
"""
from .base.errors import (AudioError, BackendError, CardError, CheckpointError, ConfigError, DatasetError,
                          DownloadError, FCN4DeprecationWarning, FCN4Error, FolderBusy, IntegrityError,
                          LibraryJobError, ManifestError, MissingExtra, RunExistsError, SettingError, StorageError,
                          StoreError, TrainingError, UnsafePathError, WeightsUnavailable)

__all__ = ["FCN4Error", "SettingError", "UnsafePathError", "StorageError", "FolderBusy", "CheckpointError",
           "AudioError", "CardError", "DownloadError", "IntegrityError", "WeightsUnavailable", "BackendError",
           "MissingExtra", "LibraryJobError", "StoreError", "DatasetError", "ManifestError", "TrainingError", "ConfigError",
           "RunExistsError", "FCN4DeprecationWarning"]
