import librosa
import numpy as np
import pytest
import soundfile

from fcn4 import DEFAULT_FRONT_END as FE
from fcn4 import AudioError, FrontEnd
from fcn4.audio.synth import synth_track, write_audio

SR_FILE = 22050


def reference_melgram(path):
    """The zoo's preprocessing, written out with librosa as the reference gives it."""
    src, _ = librosa.load(path, sr=12000)
    n, fit = src.shape[0], int(29.12 * 12000)
    if n < fit:
        src = np.hstack((src, np.zeros((fit - n,), np.float32)))
    elif n > fit:
        src = src[(n - fit) // 2:(n + fit) // 2]
    return librosa.amplitude_to_db(
        librosa.feature.melspectrogram(y=src, sr=12000, hop_length=256, n_fft=512, n_mels=96))


@pytest.mark.parametrize("seconds", [10.0, 29.12, 35.0])
@pytest.mark.slow
def test_clip_equals_the_reference_recipe(tmp_path, seconds):
    path = write_audio(tmp_path / "clip.wav", synth_track(seconds, SR_FILE, seed=2), SR_FILE)
    melgram = FE.clip(path)
    assert melgram.shape == (96, 1366) and melgram.dtype == np.float32
    np.testing.assert_allclose(melgram, reference_melgram(path), atol=1e-4)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3"])
@pytest.mark.parametrize("rate, channels", [(22050, 1), (44100, 2), (12000, 1), (16000, 2)])
@pytest.mark.slow
def test_decoding_and_melgram_are_librosas(tmp_path, ext, rate, channels):
    tracks = [synth_track(7.3, rate, seed=s) for s in range(channels)]
    path = tmp_path / f"track{ext}"
    soundfile.write(path, np.stack(tracks, axis=1), rate, subtype={".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}.get(ext))
    y, want = FE.load(path), librosa.load(path, sr=12000)[0]
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_allclose(y, want, atol=1e-6)
    np.testing.assert_allclose(FE.melgram(FE.fit(y)), reference_melgram(path), atol=1e-4)


@pytest.mark.slow
def test_decoding_a_file_does_not_import_librosa(tmp_path):
    """Each decoding worker would otherwise spend about 2 s importing scipy and numba."""
    import subprocess
    import sys

    path = write_audio(tmp_path / "clip.flac", synth_track(5.0, SR_FILE), SR_FILE)
    code = ("import sys; from fcn4 import DEFAULT_FRONT_END as fe; fe.clip(sys.argv[1]); "
            "print(sorted(m for m in ('librosa', 'scipy', 'numba', 'mindspore') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_settings_of_the_published_weights():
    assert (FE.sample_rate, FE.n_fft, FE.hop_length, FE.n_mels) == (12000, 512, 256, 96)
    assert FE.clip_samples == 349_440 and FE.n_frames == 1366


def test_short_audio_is_zero_padded_at_the_end():
    y = np.random.default_rng(0).uniform(-1, 1, 120_000).astype(np.float32)
    fitted = FE.fit(y)
    assert fitted.shape == (349_440,)
    np.testing.assert_array_equal(fitted[:120_000], y)
    assert not fitted[120_000:].any()


def test_long_audio_is_centre_cropped():
    y = np.arange(349_440 + 11, dtype=np.float32)
    fitted = FE.fit(y)
    assert fitted.shape == (349_440,) and fitted[0] == 5 and fitted[-1] == 5 + 349_439


@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg", ".mp3"])
@pytest.mark.slow
def test_every_common_format_loads_as_12khz_mono(tmp_path, ext):
    stereo = np.stack([synth_track(6.0, SR_FILE, seed=1), synth_track(6.0, SR_FILE, seed=4)], axis=1)
    path = tmp_path / f"track{ext}"
    soundfile.write(path, stereo, SR_FILE, subtype={".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}.get(ext))
    y = FE.load(path)
    assert y.ndim == 1 and y.dtype == np.float32
    assert abs(y.size - 6 * 12000) < 0.1 * 12000  # lossy codecs add a little padding
    reference = librosa.load(write_audio(tmp_path / "ref.wav", stereo.mean(axis=1), SR_FILE), sr=12000)[0]
    n = min(y.size, reference.size)
    assert np.corrcoef(y[:n], reference[:n])[0, 1] > 0.99  # libsndfile undoes mp3's encoder delay
    assert FE.clip(path).shape == (96, 1366)


def _text_file(path):
    path.write_text("this is not audio\n" * 50)


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _no_samples(path):
    soundfile.write(path, np.zeros(0, np.float32), SR_FILE)


@pytest.mark.parametrize("name, make, reason", [
    ("missing.wav", None, "no such file"),
    ("empty.mp3", lambda p: p.write_bytes(b""), "empty"),
    ("notes.wav", _text_file, "no decoder could read it"),
    ("noise.mp3", _random_bytes, "no decoder could read it"),
    ("silence.wav", _no_samples, "no audio samples"),
    ("a_folder.flac", lambda p: p.mkdir(), "folder"),
])
def test_bad_files_raise_one_error_type_naming_the_file(tmp_path, name, make, reason):
    path = tmp_path / name
    if make:
        make(path)
    with pytest.raises(AudioError, match=reason) as err:
        FE.clip(path)
    assert err.value.path == str(path) and str(path) in str(err.value)


def test_windows_cover_the_track_each_as_its_own_clip():
    rng = np.random.default_rng(0)
    y = rng.uniform(-0.5, 0.5, int(70 * 12000)).astype(np.float32)
    y[int(30 * 12000):] *= 1e-3  # a much quieter part: the dB floor must be per window
    windows = FE.windows(y)
    np.testing.assert_allclose(windows.starts, [0.0, 29.12, 58.24])
    assert windows.melgrams.shape == (3, 96, 1366)
    for melgram, start in zip(windows.melgrams, windows.starts):
        s = int(round(start * 12000))
        excerpt = y[s:s + FE.clip_samples]
        expected = FE.melgram(np.pad(excerpt, (0, FE.clip_samples - excerpt.size)))
        np.testing.assert_allclose(melgram, expected, atol=1e-3)


@pytest.mark.parametrize("seconds, hop, starts", [
    (5.0, None, [0.0]),
    (29.12, None, [0.0]),
    (40.0, 10.0, [0.0, 10.0, 20.0]),  # 10 s + 29.12 s ends short of 40 s
    (100.0, 60.0, [0.0, 60.0]),  # a hop longer than a window never starts past the end
])
def test_window_starts(seconds, hop, starts):
    y = np.ones(int(seconds * 12000), np.float32)
    np.testing.assert_allclose(FE.windows(y, hop_seconds=hop).starts, starts)


def test_a_track_shorter_than_a_window_gives_its_clip(tmp_path):
    path = write_audio(tmp_path / "short.flac", synth_track(8.0, SR_FILE), SR_FILE)
    windows = FE.windows(path)
    assert windows.melgrams.shape == (1, 96, 1366)
    np.testing.assert_allclose(windows.melgrams[0], FE.clip(path), atol=1e-4)


def test_windows_reject_a_bad_hop():
    with pytest.raises(ValueError, match="hop_seconds"):
        FE.windows(np.ones(1000, np.float32), hop_seconds=0)


def test_front_end_settings_are_immutable_and_configurable():
    with pytest.raises(AttributeError):
        FE.sample_rate = 16000
    other = FrontEnd(sample_rate=16000, clip_seconds=3.0)
    assert other.melgram(other.fit(np.zeros(100, np.float32))).shape == (96, 1 + 48000 // 256)


@pytest.mark.slow
def test_decoding_workers_end_when_the_process_that_started_them_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    code = ("import os, sys, time; from fcn4.audio.decoding import DecodePool; pool = DecodePool(1); "
            "pool._check_started(); print(*[p.pid for p in pool._executor._processes.values()], flush=True); "
            "time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the decoding worker outlived its parent by 10 s")
