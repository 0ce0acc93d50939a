"""A library to tag: synthesised files of every format and length, corrupt ones among them; a small
network's checkpoint; a watch on the sockets of a process tree; `fcn4 embed --ray` of that library,
watched. (The Ray the jobs share: tests/conftest.py.)"""
import os
import subprocess
import sys
import threading

import mindspore as ms
import pytest

from fcn4 import FCN4, save_checkpoint
from fcn4.audio.synth import synth_track, write_audio
from helpers import SMALL, randomise

SR = 22050


@pytest.fixture(scope="package")
def music(tmp_path_factory):
    """(folder, {name: path}): good files in six formats, a near-duplicate, and three that fail."""
    root = tmp_path_factory.mktemp("music")
    (root / "album").mkdir()
    files = {}
    for i, (name, seconds) in enumerate([("one.wav", 30.0), ("album/long.flac", 65.0), ("album/song.mp3", 12.0),
                                         ("quiet.ogg", 8.0), ("album/aac.m4a", 10.0), ("voice.opus", 9.0)]):
        files[name] = write_audio(root / name, synth_track(seconds, SR, seed=i, root_hz=110 + 60 * i,
                                                           tempo=90 + 20 * i, brightness=0.3 + 0.3 * i), SR)
    # one.wav again, re-encoded with a little noise: what `similar` must find first for one.wav
    import soundfile as sf
    y, sr = sf.read(files["one.wav"], dtype="float32")
    files["copy of one.mp3"] = write_audio(root / "copy of one.mp3", y + 0.001 * synth_track(30.0, SR, seed=99), sr)
    (root / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk that is no audio")
    (root / "album" / "empty.flac").write_bytes(b"")
    files["short.ogg"] = write_audio(root / "short.ogg", synth_track(1.0, SR, seed=7), SR)
    return root, files


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory):
    ms.set_seed(0)
    return str(save_checkpoint(randomise(FCN4(**SMALL), seed=3), tmp_path_factory.mktemp("weights") / "small.ckpt"))


#: Addresses a socket of a Ray on this machine may have at either end.
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


class SocketWatch:
    """Samples, on a thread, every TCP and UDP socket of a process and all its descendants (psutil)
    until stopped: ``outside`` collects those with an address that is not loopback at either end
    (a server listening on every interface has ``0.0.0.0`` or ``::``), ``seen`` counts all."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid, self.every = pid, every
        self.outside: set = set()
        self.seen: set = set()
        self.samples = 0
        self.processes: set = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _sample(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        names = {}
        for process in tree:
            try:
                names[process.pid] = process.name()
            except psutil.Error:  # gone in between
                continue
        self.processes.update(names.items())
        # The machine's socket tables read once, their owners matched to the tree: one process's
        # net_connections reads those tables again for every process (5 times the CPU at 10
        # processes, which the watched job then lacks on 2 cores). A socket is its first holder's:
        # the tree's processes start with no socket of another process (close_fds, Ray's own).
        for s in psutil.net_connections(kind="inet"):
            if s.pid not in names:
                continue
            entry = (s.pid, names[s.pid], s.status, tuple(s.laddr), tuple(s.raddr) if s.raddr else ())
            self.seen.add(entry)
            if any(a and a[0] not in LOOPBACK for a in (s.laddr, s.raddr)):
                self.outside.add(entry)

    def _watch(self):
        while not self._stop.is_set():
            self._sample()
            self.samples += 1
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="session")
def watch_sockets():
    """``watch_sockets(pid)``: a :class:`SocketWatch` of that process tree, to use as a context manager."""
    pytest.importorskip("psutil")
    return SocketWatch


@pytest.fixture(scope="package")
def watched_job(music, checkpoint, tmp_path_factory, watch_sockets):
    """`fcn4 embed --ray` of :func:`music` on a Ray of its own, run as a process whose whole tree's sockets
    are watched: (store, watch, exit status, stderr). Tests read its store (copies to change it)."""
    from fcn4.hub.cache import HUB_DIR_ENV
    from fcn4.library.job import _LOOPBACK_ONLY

    root, _ = music
    store = tmp_path_factory.mktemp("watched") / "store"
    env = {k: v for k, v in os.environ.items() if k not in (*_LOOPBACK_ONLY, "RAY_AUTH_TOKEN")}
    env[HUB_DIR_ENV] = str(tmp_path_factory.mktemp("watched-mscache"))  # (set up before any test's own hub)
    job = subprocess.Popen([sys.executable, "-m", "fcn4", "embed", "--ray", str(root), "-o", str(store), "--weights",
                            checkpoint, "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    with watch_sockets(job.pid, every=0.05) as watch:
        out, err = job.communicate(timeout=400)
    return store, watch, job.returncode, err
