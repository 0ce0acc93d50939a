"""Shared fixtures: MindSpore on CPU in PyNative mode, small widths, synthesised audio."""
import mindspore as ms
import numpy as np
import pytest

import fcn4  # noqa: F401  (sets the oneDNN default before the first convolution)
from helpers import SMALL

ms.set_device("CPU")


@pytest.fixture(autouse=True)
def _pynative_and_seeded():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    yield
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture
def small_args():
    return dict(SMALL)


@pytest.fixture
def melgrams():
    """A batch of two random log-mel-like inputs, 96 mels x 200 frames."""
    return ms.Tensor(np.random.default_rng(1).normal(-20, 10, (2, 1, 96, 200)).astype(np.float32))
