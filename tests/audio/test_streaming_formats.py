"""Property: for any format, MPEG version and length, the streamed centre is the whole file's
centre and the streamed windows are the whole file's windows (the length is what a decode gives)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcn4 import DEFAULT_FRONT_END as FE
from fcn4.audio.synth import synth_track, write_audio, write_mp3

FORMATS = {  # name: (extension, writer)
    "wav": lambda p, y, r: write_audio(p.with_suffix(".wav"), y, r),
    "flac": lambda p, y, r: write_audio(p.with_suffix(".flac"), y, r),
    "ogg": lambda p, y, r: write_audio(p.with_suffix(".ogg"), y, r),
    "mp3-cbr": lambda p, y, r: write_mp3(p.with_suffix(".mp3"), y, r, 64, xing=False),
    "mp3-vbr-xing": lambda p, y, r: write_mp3(p.with_suffix(".mp3"), y, r, quality=4),
    "mp3-vbr": lambda p, y, r: write_mp3(p.with_suffix(".mp3"), y, r, quality=4, xing=False),
    "m4a": lambda p, y, r: write_audio(p.with_suffix(".m4a"), y, r),
    "opus": lambda p, y, r: write_audio(p.with_suffix(".opus"), y, r),
}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(FORMATS)), rate=st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]),
       seconds=st.floats(20.0, 45.0), channels=st.sampled_from([1, 2]), seed=st.integers(0, 9))
@pytest.mark.slow
def test_streaming_gives_the_whole_files_centre_and_windows(tmp_path_factory, kind, rate, seconds, channels, seed):
    y = synth_track(seconds, rate, seed=seed, tempo=80.0 + 9 * seed)
    y = y * np.linspace(0.2, 1.0, y.size, dtype=np.float32)  # a centre in the wrong place shows
    if channels == 2:
        y = np.stack([y, np.roll(y, 321)], axis=1)
    path = FORMATS[kind](tmp_path_factory.mktemp("audio") / "song", y, rate)
    whole = FE.load(path)
    centre, seconds_read = FE.centre(path)
    np.testing.assert_allclose(centre, FE.fit(whole), atol=1e-5)
    assert seconds_read == pytest.approx(whole.size / FE.sample_rate, abs=2e-3)
    want = FE.windows(whole, 10.0)
    got = list(FE.stream(path, 10.0))
    assert [s for s, _ in got] == list(want.starts)
    padded = np.pad(whole, (0, FE.clip_samples))
    for start, window in got:
        first = int(round(start * FE.sample_rate))
        np.testing.assert_allclose(window, padded[first:first + FE.clip_samples], atol=1e-5)
