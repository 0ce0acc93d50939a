"""An MP3's header guesses its length (without a Xing frame count it is the file's size over the
first frame's bitrate): the centre clip, the windows and the seconds follow the samples a decode
gives, as ``librosa.load`` (the zoo's recipe) does."""
import shutil

import librosa
import mindspore as ms
import numpy as np
import pytest
import soundfile

from fcn4 import DEFAULT_FRONT_END as FE
from fcn4 import FCN4
from fcn4.audio import decoders
from fcn4.audio.synth import synth_track, write_mp3
from helpers import SMALL, randomise

LAME = pytest.mark.skipif(shutil.which("lame") is None, reason="the lame program is not installed")


def _music(seconds, rate, channels=1):
    """Music-like audio whose every 20 s differ (a centre in the wrong place shows)."""
    parts = [synth_track(20.0, rate, seed=s, tempo=90.0 + 11 * s, root_hz=150.0 + 37 * s)
             for s in range(int(np.ceil(seconds / 20.0)))]
    y = np.concatenate(parts)[:int(seconds * rate)]
    return np.stack([y, np.roll(y, 999)], axis=1) if channels == 2 else y


@pytest.fixture(scope="module")
def network():
    net = randomise(FCN4(**SMALL))
    net.set_train(False)
    return lambda melgram: net(ms.Tensor(melgram[None, None])).asnumpy()[0]


def _declared_and_decoded(path):
    with soundfile.SoundFile(path) as handle:
        return handle.frames, handle.read(dtype="float32").shape[0]


def _check_against_the_zoo(path, network=None):
    zoo = librosa.load(path, sr=12000)[0]
    centre, seconds = FE.centre(path)
    assert seconds == pytest.approx(zoo.size / 12000, abs=1e-3)
    np.testing.assert_allclose(centre, FE.fit(zoo), atol=1e-5)
    want, got = FE.melgram(FE.fit(zoo)), FE.clip(path)
    assert np.abs(got - want).max() < 1e-2  # dB
    if network is not None:
        np.testing.assert_allclose(network(got), network(want), atol=1e-4)
    return zoo


CASES = [  # (rate, channels, kbps, VBR quality, Xing frame)
    pytest.param(22050, 2, 80, None, False, id="mpeg2-22k-80k-no-xing"),
    pytest.param(22050, 1, 80, None, True, id="mpeg2-22k-80k-xing"),
    pytest.param(24000, 1, 64, None, False, id="mpeg2-24k-no-xing"),
    pytest.param(16000, 1, None, 4, False, id="mpeg2-16k-vbr-no-xing"),
    pytest.param(44100, 2, None, 2, True, id="mpeg1-44k-vbr-xing"),
    pytest.param(44100, 1, None, 2, False, id="mpeg1-44k-vbr-no-xing"),
    pytest.param(44100, 1, 128, None, False, id="mpeg1-44k-cbr-no-xing"),
]


@pytest.mark.parametrize("rate, channels, kbps, quality, xing", CASES)
@pytest.mark.slow
def test_the_centre_of_an_mp3_encoded_by_pyav_is_the_zoos(tmp_path, network, rate, channels, kbps, quality, xing):
    path = write_mp3(tmp_path / "song.mp3", _music(40.0, rate, channels), rate, kbps, quality, xing, title="title")
    _check_against_the_zoo(path, network)


@LAME
@pytest.mark.parametrize("rate, channels, kbps, quality, xing", CASES[:2] + CASES[4:6])
@pytest.mark.slow
def test_the_centre_of_an_mp3_encoded_by_lame_is_the_zoos(tmp_path, network, rate, channels, kbps, quality, xing):
    path = write_mp3(tmp_path / "song.mp3", _music(40.0, rate, channels), rate, kbps, quality, xing, title="title",
                     encoder="lame")
    _check_against_the_zoo(path, network)


def test_a_header_that_guesses_too_long_no_longer_moves_the_centre(tmp_path, network):
    """The case found on a real file (MPEG-2, 22.05 kHz, 80 kbps, no Xing frame: 9,727,207 samples
    declared, 9,718,848 decoded): the clip was taken 0.2 s late, up to 80 dB away."""
    path = write_mp3(tmp_path / "song.mp3", _music(60.0, 22050, 2), 22050, 80, xing=False)
    declared, decoded = _declared_and_decoded(path)
    assert declared > decoded
    zoo = _check_against_the_zoo(path, network)
    assert zoo.size == int(np.ceil(decoded * 12000 / 22050))


def test_a_header_that_guesses_too_short_ends_the_file_where_librosa_does(tmp_path):
    """VBR without a Xing frame can declare far less than it holds; soundfile stops reading at the
    declared length (librosa's one read of ``frames``), so the zoo's waveform ends there, and ours."""
    path = write_mp3(tmp_path / "song.mp3", _music(40.0, 44100), 44100, quality=2, xing=False)
    declared, decoded = _declared_and_decoded(path)
    zoo = _check_against_the_zoo(path)
    assert zoo.size == int(np.ceil(min(declared, decoded) * 12000 / 44100))


@pytest.mark.parametrize("xing", [True, False])
@pytest.mark.slow
def test_the_windows_of_an_mp3_are_the_whole_files(tmp_path, xing):
    path = write_mp3(tmp_path / "song.mp3", _music(50.0, 22050, 2), 22050, 80, xing=xing)
    y = librosa.load(path, sr=12000)[0]
    want = FE.windows(y, 20.0)
    got = list(FE.stream(path, 20.0))
    assert [s for s, _ in got] == list(want.starts)
    np.testing.assert_allclose(np.stack([w for _, w in got]), np.stack(
        [np.pad(y, (0, 349440))[int(s * 12000):int(s * 12000) + 349440] for s in want.starts]), atol=1e-5)


def test_the_counting_pass_holds_one_block(tmp_path, monkeypatch):
    """The count is a decode into one reused buffer, never the file's samples at once."""
    path = write_mp3(tmp_path / "song.mp3", _music(40.0, 22050), 22050, 80, xing=False)
    sizes = []
    real_read = soundfile.SoundFile.read

    def read(self, frames=-1, *args, **kwargs):
        sizes.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", read)
    with decoders.open_native(path) as audio:
        assert audio.decoder == "libsndfile" and audio.count_frames() == _declared_and_decoded(path)[1]
    assert sizes and max(sizes) <= decoders.BLOCK


@pytest.mark.parametrize("name, codec", [("song.m4a", None), ("alac.m4a", "alac"), ("song.opus", None)])
@pytest.mark.slow
def test_pyav_counts_what_it_decodes(tmp_path, name, codec):
    from fcn4.audio.synth import write_audio

    path = write_audio(tmp_path / name, _music(33.0, 44100, 2), 44100, codec=codec)
    with decoders.open_native(path) as audio:
        assert audio.decoder == "pyav"
        blocks = sum(block.shape[1] for block in audio.blocks())
        assert audio.count_frames() == blocks == sum(block.shape[1] for block in audio.blocks())
    if name == "song.opus":  # the 312-sample pre-skip dropped, each time (a seek to 0 kept it)
        assert blocks == 33 * 48000


def test_a_flac_with_no_length_in_its_header_is_read_by_ffmpeg(tmp_path):
    """A FLAC written to a pipe has 0 for its length: libsndfile says 2^63 - 1 and fails at its end."""
    import soundfile

    path = tmp_path / "piped.flac"
    soundfile.write(path, _music(40.0, 22050), 22050)
    want = FE.load(path)
    data = bytearray(path.read_bytes())
    word = int.from_bytes(data[18:26], "big")  # rate (20 bits), channels (3), bits (5), total samples (36)
    data[18:26] = (word >> 36 << 36).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    assert decoders.read_native(path)[2] == "pyav"
    np.testing.assert_allclose(FE.load(path), want, atol=1e-6)
    centre, seconds = FE.centre(path)
    np.testing.assert_allclose(centre, FE.fit(want), atol=1e-5)
    assert seconds == pytest.approx(40.0, abs=1e-3) and len(list(FE.stream(path))) == 2


def test_probe_says_when_its_length_is_an_estimate(tmp_path):
    from fcn4.audio.streaming import probe
    from fcn4.audio.synth import write_audio

    y = _music(30.0, 22050)
    mp3 = write_mp3(tmp_path / "song.mp3", y, 22050, 80, xing=False)
    wav = write_audio(tmp_path / "song.wav", y, 22050)
    assert not probe(mp3, 12000).exact and probe(wav, 12000).exact


def test_a_file_is_never_refused_by_a_length_its_header_only_guesses(tmp_path):
    """--max-hours refuses by what the data holds: an MP3 header that guesses long plans ranges,
    and the file under the limit is decoded, not refused by the guess."""
    from fcn4.audio.decoding import DecodeJob, decode, plan

    # Quiet first frames take few bits: a header guessed from the first frame's rate runs long.
    y = np.concatenate([np.zeros(10 * 16000, np.float32), _music(30.0, 16000)])
    path = write_mp3(tmp_path / "song.mp3", y, 16000, quality=2, xing=False)
    declared, decoded = _declared_and_decoded(path)
    assert declared > 1.3 * decoded  # the header's guess runs far past the data
    limit = (decoded + declared) / 2 / 16000  # between what it holds and what it claims
    jobs = plan(path, DecodeJob(path, FE, window="track", max_seconds=limit, min_seconds=0.0))
    assert all(job.declared_seconds is None for job in jobs)
    windows = [decode(job)[0] for job in jobs]
    assert sum(len(w.starts) for w in windows) == 2
