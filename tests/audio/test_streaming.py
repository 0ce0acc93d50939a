"""Long files in flat memory give the numbers the whole-file recipe gives."""
import numpy as np
import pytest
import soundfile

from fcn4 import DEFAULT_FRONT_END as FE
from fcn4 import AudioError
from fcn4.audio.synth import synth_track, write_audio


def _long(path, seconds, rate, channels=1):
    """A long file written fast: a 20 s synthesised excerpt repeated with a drift, per channel."""
    base = [synth_track(20.0, rate, seed=s) for s in range(channels)]
    reps = int(np.ceil(seconds / 20.0))
    tracks = [np.concatenate([b * (0.5 + 0.5 * ((k * 7 + c) % 5) / 4) for k in range(reps)])[:int(seconds * rate)]
              for c, b in enumerate(base)]
    return write_audio(path, np.stack(tracks, axis=1) if channels > 1 else tracks[0], rate)


@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3", ".ogg"])
@pytest.mark.parametrize("rate, channels", [(22050, 1), (44100, 2), (48000, 1)])
@pytest.mark.slow
def test_the_centre_clip_of_a_long_file_is_the_whole_file_recipes(tmp_path, ext, rate, channels):
    path = _long(tmp_path / f"long{ext}", 150.0, rate, channels)
    centre, seconds = FE.centre(path)
    whole = FE.fit(FE.load(path))
    np.testing.assert_allclose(centre, whole, atol=2e-6)
    np.testing.assert_allclose(FE.melgram(centre), FE.melgram(whole), atol=1e-3)
    assert seconds == pytest.approx(150.0, abs=0.1)


@pytest.mark.parametrize("ext, rate", [(".wav", 44100), (".mp3", 22050), (".flac", 48000), (".m4a", 44100)])
@pytest.mark.parametrize("hop", [None, 10.0])
@pytest.mark.slow
def test_streamed_windows_are_the_whole_file_windows(tmp_path, ext, rate, hop):
    path = _long(tmp_path / f"long{ext}", 95.0, rate, 2)
    y = FE.load(path)
    want = FE.windows(y, hop)
    got = list(FE.stream(path, hop))
    assert [s for s, _ in got] == list(want.starts)
    for (_, window), melgram in zip(got, want.melgrams):
        np.testing.assert_allclose(FE.melgram(window), melgram, atol=1e-3)
    # A range of windows, read from its own start, gives the same windows.
    part = list(FE.stream(path, hop, first=2, count=2))
    assert [s for s, _ in part] == list(want.starts[2:4])
    for (_, window), (_, whole) in zip(part, got[2:4]):
        np.testing.assert_allclose(window, whole, atol=2e-6)


def test_a_header_that_promises_more_than_the_file_holds(tmp_path):
    path = _long(tmp_path / "cut.wav", 120.0, 22050)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:len(data) * 2 // 3])  # cut: the header still says 120 s
    assert soundfile.info(path).frames > 0
    centre, seconds = FE.centre(path)
    np.testing.assert_allclose(centre, FE.fit(FE.load(path)), atol=2e-6)
    windows = list(FE.stream(path))
    assert len(windows) == len(FE.windows(FE.load(path)).starts)


def test_an_empty_stream_is_no_audio(tmp_path):
    path = tmp_path / "silent.wav"
    soundfile.write(path, np.zeros((0,), np.float32), 22050)
    for read in (lambda: FE.centre(path), lambda: list(FE.stream(path))):
        with pytest.raises(AudioError, match="no audio samples"):
            read()


_PEAK = """
import resource, sys
from fcn4.audio.decoding import DecodeJob, DecodePool, plan
from fcn4.audio.frontend import DEFAULT_FRONT_END
job = DecodeJob(sys.argv[1], DEFAULT_FRONT_END, sys.argv[2], min_seconds=3.39)
windows = 0
with DecodePool(0) as pool:
    for part in pool.stream(plan(sys.argv[1], job)):
        assert part.error is None, part.error
        windows += len(part.windows.starts)
print(windows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def _peak(path, window):
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PEAK, str(path), window], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-2000:]
    windows, megabytes = map(int, done.stdout.split())
    return windows, megabytes


@pytest.mark.slow
def test_memory_does_not_grow_with_the_length_of_a_file(tmp_path):
    short = _long(tmp_path / "short.flac", 40.0, 44100, 2)
    long = _long(tmp_path / "long.flac", 20 * 60.0, 44100, 2)  # 20 minutes: 400 MB of samples at 44.1 kHz
    for window in ("clip", "track"):
        (n_short, short_mb), (n_long, long_mb) = _peak(short, window), _peak(long, window)
        assert (n_short, n_long) == ((1, 1) if window == "clip" else (2, 42))
        assert long_mb - short_mb < 80, (window, short_mb, long_mb)


def test_a_long_file_is_refused_or_taken_as_its_first_hours(tmp_path):
    from fcn4.audio.decoding import DecodeJob, decode, plan

    path = _long(tmp_path / "set.wav", 200.0, 22050)
    refuse = DecodeJob(path, FE, "track", max_seconds=100.0)
    with pytest.raises(AudioError, match=r"lasts 0.06 h, more than the 0.03 h .*--long-files truncate"):
        decode(plan(path, refuse)[0])
    with pytest.raises(AudioError, match="--max-hours"):
        decode(DecodeJob(path, FE, "clip", max_seconds=100.0))
    truncate = DecodeJob(path, FE, "track", max_seconds=100.0, long_files="truncate")
    parts = [decode(job) for job in plan(path, truncate)]
    starts = np.concatenate([windows.starts for windows, _, _ in parts])
    assert starts[-1] < 100.0 and len(starts) == 4 and parts[-1][1] == "tagged over its first 0.03 h; it is longer"
    (windows, note, _) = decode(DecodeJob(path, FE, "clip", max_seconds=100.0, long_files="truncate"))
    np.testing.assert_allclose(windows.melgrams[0], FE.melgram(FE.fit(FE.load(path)[:100 * 12000])), atol=1e-3)
    assert note == "tagged over its first 0.03 h of 0.06 h"


@pytest.mark.slow
def test_a_long_track_is_shared_out_in_ranges_that_add_up_to_its_windows(tmp_path, monkeypatch):
    from fcn4.audio import decoding, jobs

    monkeypatch.setattr(jobs, "WINDOWS_PER_JOB", 2)
    path = _long(tmp_path / "set.flac", 200.0, 44100, 2)
    job = decoding.DecodeJob(path, FE, "track", hop_seconds=20.0)
    jobs = decoding.plan(path, job)
    assert [(j.first_window, j.windows) for j in jobs] == [(0, 2), (2, 2), (4, 2), (6, 2), (8, None)]
    with decoding.DecodePool(2) as pool:
        parts = list(pool.stream(jobs))
    got = np.concatenate([p.windows.melgrams for p in parts])
    want = FE.windows(FE.load(path), 20.0)
    assert got.shape == want.melgrams.shape
    np.testing.assert_allclose(got, want.melgrams, atol=1e-3)
