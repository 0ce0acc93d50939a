"""The public surface stays: ``fcn4.X`` and the wings (the 0.1 names: tests/test_compat.py)."""
import importlib
import subprocess
import sys

import pytest

import fcn4


def test_fcn4_names_and_wings_resolve_on_first_use():
    for name in fcn4.__all__:
        assert getattr(fcn4, name) is not None, name
    for wing in fcn4.WINGS:
        assert importlib.import_module(f"fcn4.{wing}") is getattr(fcn4, wing)


@pytest.mark.slow
def test_a_submodule_is_an_attribute_without_importing_it_first():
    """``import fcn4; fcn4.hub.weights.resolve`` used to raise AttributeError unless hubconf had run."""
    code = "import fcn4; print(fcn4.hub.weights.resolve('none').kind, fcn4.hub.weights.DEFAULT_UID)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["none", "mindspore/ascend/1.1/fcn4_v1.1"]


def test_every_domain_error_is_an_fcn4_error():
    from fcn4.hub.download import DownloadError
    from fcn4.inference.backends import BackendError
    from fcn4.training.datasets import DatasetError
    from fcn4.training.trainer import TrainingError
    from finetune import ConfigError

    for error in (fcn4.AudioError, fcn4.CardError, fcn4.CheckpointError, fcn4.WeightsUnavailable, DownloadError,
                  BackendError, DatasetError, TrainingError, fcn4.SettingError, ConfigError):
        assert issubclass(error, fcn4.FCN4Error), error
