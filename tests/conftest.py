"""Shared fixtures: MindSpore on CPU in PyNative mode, small widths, synthesised audio, a private
hub cache, a loopback file server, and no network beyond 127.0.0.1."""
import socket

import mindspore as ms
import numpy as np
import pytest

import fcn4  # noqa: F401  (sets the oneDNN default before the first convolution)
from fcn4.hub import cache as weights
from helpers import SMALL
from loopback import LoopbackServer

ms.set_device("CPU")

_LOCAL = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def _pynative_and_seeded():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(0)
    yield
    ms.set_context(mode=ms.PYNATIVE_MODE)


@pytest.fixture(autouse=True)
def hub_dir(tmp_path, monkeypatch):
    """Every test gets its own empty hub cache, never the user's ~/.mscache."""
    root = tmp_path / "mscache"
    monkeypatch.setenv(weights.HUB_DIR_ENV, str(root))
    monkeypatch.delenv(weights.OFFLINE_ENV, raising=False)
    weights.set_hub_dir(None)
    yield root
    weights.set_hub_dir(None)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """A test that tries to reach any address but this machine's fails at once."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL:
            raise socket.gaierror(f"tests may not resolve {host!r}: loopback only")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOCAL:
            raise ConnectionRefusedError(f"tests may not connect to {address!r}: loopback only")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def server():
    """A file server on 127.0.0.1 (see tests/loopback.py); stopped after the test."""
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def small_args():
    return dict(SMALL)


@pytest.fixture
def melgrams():
    """A batch of two random log-mel-like inputs, 96 mels x 200 frames."""
    return ms.Tensor(np.random.default_rng(1).normal(-20, 10, (2, 1, 96, 200)).astype(np.float32))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the group into each test's id
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n 2 --dist loadgroup``), the tests that start Ray (marked ``ray``) run on
    one worker, one at a time: one Ray is what 2 cores hold. Every other test spreads over both."""
    for item in items:
        if item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.xdist_group("ray"))
