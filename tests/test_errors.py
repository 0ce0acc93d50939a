"""One errors module: every error class of the package lives in ``fcn4.base.errors`` and is named by
``fcn4.errors.__all__``; a new one defined anywhere else, or left out of the list, fails here."""
import importlib
import inspect
import pkgutil

import pytest

import fcn4
import fcn4.errors
from fcn4.base.errors import FCN4Error


def every_module():
    """Import every module of fcn4 and finetune; those needing an extra not installed are skipped."""
    modules = []
    for package in (fcn4, importlib.import_module("finetune")):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            try:
                modules.append(importlib.import_module(info.name))
            except ImportError:  # an optional extra (ray, faiss, ...) that is not installed here
                continue
    return modules


def test_every_error_of_the_package_is_in_fcn4_errors():
    found = {}
    for module in every_module():
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, FCN4Error) and value.__module__.startswith("fcn4"):
                found[value.__name__] = value
    assert sorted(found) == sorted(n for n in fcn4.errors.__all__ if n != "FCN4DeprecationWarning")
    assert all(cls.__module__ == "fcn4.base.errors" for cls in found.values())
    assert all(getattr(fcn4.errors, name) is cls for name, cls in found.items())


def test_the_kit_s_config_error_is_a_setting_error():
    from finetune.config import ConfigError

    assert issubclass(ConfigError, fcn4.errors.SettingError)


@pytest.mark.parametrize("module, name", [
    ("fcn4.audio.frontend", "AudioError"), ("fcn4.model.checkpoint", "CheckpointError"),
    ("fcn4.hub.cards", "CardError"), ("fcn4.hub.cache", "WeightsUnavailable"),
    ("fcn4.hub.download", "DownloadError"), ("fcn4.hub.download", "IntegrityError"),
    ("fcn4.base.locks", "FolderBusy"), ("fcn4.inference.backends", "BackendError"),
    ("fcn4.library.store", "StoreError"), ("fcn4.library.extra", "MissingExtra"),
    ("fcn4.training.datasets", "DatasetError"), ("fcn4.training.run_folder", "TrainingError"),
])
def test_each_error_stays_importable_where_it_was(module, name):
    assert getattr(importlib.import_module(module), name) is getattr(fcn4.errors, name)


def test_bases_and_constructors_are_kept():
    e = fcn4.errors
    assert issubclass(e.CheckpointError, ValueError) and issubclass(e.IntegrityError, e.DownloadError)
    assert issubclass(e.MissingExtra, ImportError) and issubclass(e.WeightsUnavailable, RuntimeError)
    assert e.AudioError("x.wav", "empty").reason == "empty"
    assert e.DownloadError("http://127.0.0.1/x", "cut").url == "http://127.0.0.1/x"
    assert e.IntegrityError("u", "a" * 64, "b" * 64, 3).expected == "a" * 64
    assert fcn4.AudioError is e.AudioError and fcn4.FCN4Error is e.FCN4Error
