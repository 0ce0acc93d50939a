"""Formats beyond libsndfile: m4a (AAC, ALAC) and opus, encoded here with PyAV, decode with no system
ffmpeg and give the front end what their wav source gives."""
import mindspore as ms
import numpy as np
import pytest

from fcn4 import DEFAULT_FRONT_END as FE
from fcn4 import FCN4, AudioError
from fcn4.audio import decoders
from fcn4.audio.synth import synth_track, write_audio
from helpers import SMALL, randomise


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    y = np.stack([synth_track(9.0, 44100, seed=1), synth_track(9.0, 44100, seed=2)], axis=1)  # stereo
    files = {"wav": write_audio(root / "song.wav", y, 44100)}
    for name, path, codec in (("aac", "song.m4a", None), ("alac", "song_alac.m4a", "alac"), ("opus", "song.opus", None)):
        files[name] = write_audio(root / path, y, 44100, codec=codec)
    return files


@pytest.fixture(scope="module")
def network():
    net = randomise(FCN4(**SMALL))
    net.set_train(False)
    return net


def _cosine(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("name, melgram_db", [("aac", 2.0), ("alac", 1e-3), ("opus", 2.0)])
def test_m4a_and_opus_tag_like_their_wav_source(sources, network, name, melgram_db, monkeypatch):
    def no_audioread(self, path):
        raise AssertionError("audioread (a system ffmpeg) was needed")

    monkeypatch.setattr(decoders._AudioreadAudio, "__init__", no_audioread)
    reference, melgram = FE.clip(sources["wav"]), FE.clip(sources[name])
    assert melgram.shape == reference.shape and np.abs(melgram - reference).mean() < melgram_db
    embed = lambda m: network.embed(ms.Tensor(m[None, None])).asnumpy()[0]  # noqa: E731
    assert _cosine(embed(melgram), embed(reference)) > 0.999


def test_each_format_goes_to_the_first_decoder_that_reads_it(sources):
    assert decoders.read_native(sources["wav"])[2] == "libsndfile"
    samples, rate, decoder = decoders.read_native(sources["alac"])
    assert decoder == "pyav" and rate == 44100 and samples.shape[0] == 2 and samples.dtype == np.float32
    assert decoders.read_native(sources["aac"])[2] == "pyav"
    assert decoders.read_native(sources["opus"])[2] == "pyav"  # libsndfile reads it, but keeps the pre-skip


def test_alac_is_lossless_through_pyav(sources):
    np.testing.assert_allclose(FE.load(sources["alac"]), FE.load(sources["wav"]), atol=1e-4)


def test_a_file_no_decoder_reads_names_what_each_said(tmp_path):
    bad = tmp_path / "song.m4a"
    bad.write_bytes(b"\x00\x00\x00\x18ftypM4A nothing more")
    with pytest.raises(AudioError) as raised:
        FE.load(bad)
    assert all(f"{decoder}:" in raised.value.reason for decoder in decoders.DECODERS)
