"""A library to tag: synthesised files of every format and length, corrupt ones among them; a small
network's checkpoint; Ray on this machine (127.0.0.1, 2 CPUs) shared by a module's tests."""
import os

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


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine for a module's tests (tag_library uses a Ray already started)."""
    import ray

    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (os.path.dirname(os.path.dirname(
                 os.path.abspath(__file__))), os.environ.get("PYTHONPATH", "")) if p)}})
    yield ray
    ray.shutdown()
