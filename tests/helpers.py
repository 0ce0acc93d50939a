"""Helpers shared by the tests (MindSpore loads on first use: decoding workers import this too)."""
import os
from dataclasses import dataclass

import numpy as np

from fcn4.audio import FrontEnd

#: Narrow FCN-4 for fast tests; the full-size network is used only where size is the point.
SMALL = {"in_classes": [1, 8, 8, 12, 16]}


def randomise(net, seed=0):
    """Give every parameter (BN statistics too) random values, so equalities mean something."""
    import mindspore as ms

    rng = np.random.default_rng(seed)
    for name, param in net.parameters_dict().items():
        value = rng.standard_normal(param.shape).astype(np.float32) * 0.3
        if name.endswith("moving_variance"):
            value = np.abs(value) + 0.5
        param.set_data(ms.Tensor(value))
    return net


def values(net):
    """Every parameter of ``net`` as a NumPy array, by name."""
    return {name: p.asnumpy().copy() for name, p in net.parameters_dict().items()}


@dataclass(frozen=True)
class CrashingFrontEnd(FrontEnd):
    """Kills the process decoding a path under /crash, as a decoder that segfaults would."""

    def load(self, path):
        if str(path).startswith("/crash"):
            os._exit(70)
        return super().load(path)
