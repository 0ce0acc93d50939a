"""Shared fixtures: MindSpore on CPU in PyNative mode, small widths, synthesised audio, a private
hub cache, a loopback file server, no network beyond 127.0.0.1, and one Ray for the tests that run
jobs on a Ray already started."""
import contextlib
import os
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


@pytest.fixture(scope="module")
def _module_hub(tmp_path_factory):
    return tmp_path_factory.mktemp("module-mscache")


@pytest.fixture(scope="session")
def _session_hub(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()  # under pytest-xdist, each worker's is inside the session's
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "session-mscache"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(autouse=True)
def hub_dir(request, tmp_path, monkeypatch):
    """Every test gets its own empty hub cache, never the user's ~/.mscache.

    Tests that tag with the same weights and are not about the hub may share one, exported and
    measured once instead of once a test (about 2.5 s each; 15 s for the full-size network): a module
    marked ``pytest.mark.hub("module")`` shares one among its tests (on each xdist worker), tests
    marked ``pytest.mark.hub("session")`` one across the session's workers (the exports' file locks
    keep two from writing one entry). A test of such a module that is about the hub's contents is
    marked ``pytest.mark.hub("test")``: its own."""
    marker = request.node.get_closest_marker("hub")
    scope = marker.args[0] if marker is not None else "test"
    if scope not in ("test", "module", "session"):
        raise ValueError(f"pytest.mark.hub({scope!r}): the scope is test, module or session")
    root = request.getfixturevalue(f"_{scope}_hub") if scope != "test" else tmp_path / "mscache"
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


class _SharedRay:
    """Ray on this machine (127.0.0.1 only, with a token, 2 CPUs), started as a job starts its own, in
    a folder of its own (a job must not depend on its workers' working folder), and shared by the
    tests that use it in a row: stopped after the last of them (see :func:`pytest_runtest_teardown`)."""

    def __init__(self):
        self._stack = None
        self.ray = None

    def start(self, folder):
        if self._stack is None:
            from fcn4.library.job import local_ray

            tests = os.path.dirname(os.path.abspath(__file__))
            path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p)
            with contextlib.ExitStack() as stack, contextlib.chdir(folder):  # its workers start there
                self.ray = stack.enter_context(local_ray(
                    num_cpus=2, include_dashboard=False, log_to_driver=False,
                    runtime_env={"env_vars": {"PYTHONPATH": path}}))
                self._stack = stack.pop_all()
        return self.ray

    def stop(self):
        stack, self._stack, self.ray = self._stack, None, None
        if stack is not None:
            stack.close()


_RAY = _SharedRay()


@pytest.fixture
def local_ray(tmp_path_factory):
    """A Ray already started on this machine, as a user's job finds one (``tag_library`` uses it): one
    Ray serves the tests that use it one after another (one start, warm workers), never two at once."""
    return _RAY.start(tmp_path_factory.mktemp("ray-workers"))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """Stop the shared Ray after the last of a row of tests that use it: the next test may start a Ray
    of its own (a cluster, a command's own), or none, and an idle Ray costs a sixth of a core."""
    if "local_ray" in getattr(item, "fixturenames", ()) and (
            nextitem is None or "local_ray" not in getattr(nextitem, "fixturenames", ())):
        _RAY.stop()


def pytest_sessionfinish(session):
    _RAY.stop()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the group into each test's id
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n 2 --dist loadgroup``), the tests that start Ray (marked ``ray``) run on
    one worker, one at a time: one Ray is what 2 cores hold. Every other test spreads over both.

    The modules holding a test marked ``heavy`` (20 s or more) are collected first, each whole: the
    workers then end on short tests, not one on a 30-s test while the other waits.
    The Ray tests run by module, the modules whose tests all use the shared Ray last (and within a
    module in the order written): the shared Ray then starts once, for the last run of them."""
    heavy = {item.module for item in items if item.get_closest_marker("heavy")}
    items.sort(key=lambda item: getattr(item, "module", None) not in heavy)  # stable: each module's order kept
    ray_items = [item for item in items if item.get_closest_marker("ray")]
    for item in ray_items:
        item.add_marker(pytest.mark.xdist_group("ray"))

    uses = {}  # module -> whether each of its Ray tests uses the shared Ray
    for item in ray_items:
        uses.setdefault(item.module, []).append("local_ray" in item.fixturenames)

    def rank(item):
        return 2 if all(uses[item.module]) else 1 if any(uses[item.module]) else 0

    slots = [n for n, item in enumerate(items) if item.get_closest_marker("ray")]
    for slot, item in zip(slots, sorted(ray_items, key=rank)):  # a stable sort: the written order kept within
        items[slot] = item
