"""The public surface stays: ``fcn4.X``, the wings, and the 0.1 module paths as aliases."""
import importlib
import subprocess
import sys

import pytest

import fcn4
from fcn4._aliases import OLD_MODULES


def test_fcn4_names_and_wings_resolve_on_first_use():
    for name in fcn4.__all__:
        assert getattr(fcn4, name) is not None, name
    for wing in fcn4.WINGS:
        assert importlib.import_module(f"fcn4.{wing}") is getattr(fcn4, wing)


@pytest.mark.parametrize("old", sorted(OLD_MODULES))
def test_every_old_module_path_is_the_module_of_its_new_home(old):
    new = importlib.import_module(f"fcn4.{OLD_MODULES[old]}")
    aliased = importlib.import_module(f"fcn4.{old}")
    if old in ("audio", "hub", "training"):  # now wings: they still export the old module's names
        public = [n for n in getattr(new, "__all__", ()) if n in ("FrontEnd", "load", "Trainer")]
        assert all(getattr(aliased, n) is getattr(new, n) for n in public)
    else:
        assert aliased is new and aliased.__spec__.name == new.__name__


def test_old_names_users_hold_still_import():
    from fcn4.cards import CardError, validate_card  # noqa: F401
    from fcn4.hub import load  # noqa: F401
    from fcn4.network import FCN4  # noqa: F401
    from fcn4.tagger import Tagger  # noqa: F401
    from fcn4.training import ArrayBatches, Trainer  # noqa: F401
    from fcn4.weights import WeightsUnavailable, resolve  # noqa: F401


def test_a_submodule_is_an_attribute_without_importing_it_first():
    """``import fcn4; fcn4.weights.resolve`` used to raise AttributeError unless hubconf had run."""
    code = "import fcn4; print(fcn4.weights.resolve('none').kind, fcn4.hub.weights.DEFAULT_UID)"
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
