"""Tagging and embedding files: the Tagger API, its backends, and `python -m fcn4 tag` / `embed`."""
import csv
import json
import os
import shutil

import mindspore as ms
import numpy as np
import pytest

import fcn4
import fcn4.audio.decoding
import fcn4.inference.backend_onnx
import fcn4.inference.reports
from fcn4 import DEFAULT_FRONT_END, FCN4, MTAT_TAGS, Tagger, WeightsUnavailable, save_checkpoint
from fcn4.audio.decoding import DecodeJob, DecodePool
from fcn4.audio.synth import synth_track, write_audio
from fcn4.cli import main
from fcn4.hub.weights import set_hub_dir
from fcn4.inference.backends import BackendError, MindSporeBackend, OnnxBackend
from helpers import SMALL, CrashingFrontEnd, SlowFrontEnd, randomise

# One hub for the module: its tests tag with the module's weights (exported and measured once).
pytestmark = pytest.mark.hub("module")

SR = 22050
WINDOW = DEFAULT_FRONT_END.clip_seconds


def _write(folder, name, seconds, seed):
    return write_audio(folder / name, synth_track(seconds, SR, seed=seed, root_hz=110 + 40 * seed), SR)


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """Four formats and lengths: shorter than one window, exactly one, several."""
    root = tmp_path_factory.mktemp("music")
    (root / "album").mkdir()
    files = {
        "short": _write(root, "short.ogg", 10.0, 1),
        "one": _write(root, "one.wav", WINDOW, 2),
        "several": _write(root / "album", "several.flac", 65.0, 3),
        "mp3": _write(root / "album", "song.mp3", 12.0, 4),
    }
    (root / "album" / "notes.txt").write_text("not audio: folders skip it")
    return root, files


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    ms.set_seed(0)
    net = randomise(FCN4(**SMALL), seed=3)
    return str(save_checkpoint(net, tmp_path_factory.mktemp("weights") / "small.ckpt"))


@pytest.fixture(scope="module")
def tagger(checkpoint, _module_hub):
    """One tagger (onnxruntime backend, decoding in this process) for the module's tests."""
    set_hub_dir(_module_hub)
    try:
        with Tagger(checkpoint, workers=0, batch_size=2) as shared:
            yield shared
    finally:
        set_hub_dir(None)


def _network(tagger):
    net = tagger.network
    net.set_train(False)
    return net


def _reference(net, melgrams):
    """(embeddings, probabilities) of MindSpore's network (PyNative) for ``[n, mels, frames]``."""
    x = ms.Tensor(np.asarray(melgrams)[:, None])
    return net.forward_features(x).asnumpy(), net(x).asnumpy()


# ----------------------------------------------------------------------------- the API
def test_clip_mode_tags_every_format_and_length_like_the_network(tagger, music):
    root, files = music
    predictions = tagger.tag([root])
    assert [p.path for p in predictions] == sorted(files.values())
    net = _network(tagger)
    for p in predictions:
        assert p.ok and p.labels == MTAT_TAGS and p.window_probabilities.shape == (1, 50)
        _, want = _reference(net, [DEFAULT_FRONT_END.clip(p.path)])
        np.testing.assert_allclose(p.probabilities, want[0], atol=1e-4)
        assert p.top(3) == sorted(p.top(3), key=lambda t: -t[1]) and len(p.top(3)) == 3


def test_track_mode_gives_every_window_and_their_mean(tagger, music):
    _, files = music
    by_path = {p.path: p for p in tagger.tag(list(files.values()), window="track")}
    assert {k: len(by_path[f].starts) for k, f in files.items()} == {"short": 1, "one": 1, "several": 3, "mp3": 1}
    several = by_path[files["several"]]
    np.testing.assert_allclose(several.starts, [0.0, WINDOW, 2 * WINDOW])
    np.testing.assert_allclose(several.probabilities, several.window_probabilities.mean(axis=0), rtol=1e-6)
    _, want = _reference(_network(tagger), DEFAULT_FRONT_END.windows(files["several"]).melgrams)
    np.testing.assert_allclose(several.window_probabilities, want, atol=1e-4)
    highest = tagger.tag([files["several"]], window="track", aggregate="max")[0]
    np.testing.assert_allclose(highest.probabilities, several.window_probabilities.max(axis=0), atol=1e-6)


def test_track_windows_follow_the_hop_and_drop_a_tail_of_padding(tagger, tmp_path):
    path = _write(tmp_path, "tail.wav", 2 * WINDOW + 1.0, 5)  # a 1 s tail: less than one pooling window
    p = tagger.tag([path], window="track")[0]
    np.testing.assert_allclose(p.starts, [0.0, WINDOW])
    p = tagger.tag([path], window="track", hop_seconds=10.0)[0]
    np.testing.assert_allclose(p.starts, [0.0, 10.0, 20.0, 30.0, 40.0])


def test_embeddings_are_the_networks_forward_features(tagger, music, tmp_path):
    root, files = music
    embeddings = tagger.embed([root])
    assert embeddings.paths == tuple(sorted(files.values())) and embeddings.vectors.shape == (4, SMALL["in_classes"][-1])
    want, _ = _reference(_network(tagger), [DEFAULT_FRONT_END.clip(p) for p in embeddings.paths])
    np.testing.assert_allclose(embeddings.vectors, want, atol=1e-4 * max(1.0, np.abs(want).max()))

    saved = np.load(embeddings.save(tmp_path / "emb.npz"), allow_pickle=False)
    np.testing.assert_array_equal(saved["embeddings"], embeddings.vectors)
    assert list(saved["paths"]) == list(embeddings.paths) and saved["failed_paths"].size == 0
    assert str(saved["window"]) == "clip"


def test_track_embeddings_keep_each_window(tagger, music):
    _, files = music
    embeddings = tagger.embed([files["several"], files["short"]], window="track")
    assert embeddings.window_vectors.shape[0] == 4 and list(embeddings.window_file) == [0, 0, 0, 1]
    np.testing.assert_allclose(embeddings.vectors[0], embeddings.window_vectors[:3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(embeddings.window_start, [0.0, WINDOW, 2 * WINDOW, 0.0])


def test_unusable_files_are_named_and_the_rest_tagged(tagger, music, tmp_path):
    _, files = music
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio")
    (tmp_path / "empty.mp3").write_bytes(b"")
    short = _write(tmp_path, "blip.wav", 1.0, 6)
    paths = [tmp_path, files["one"], tmp_path / "missing.flac"]
    outcome = {os.path.basename(p.path): p for p in tagger.tag(paths)}
    assert outcome["one.wav"].ok
    assert "no decoder could read it" in outcome["corrupt.wav"].error
    assert "empty" in outcome["empty.mp3"].error
    assert "no such file" in outcome["missing.flac"].error
    assert "1.00 s of audio" in outcome["blip.wav"].error and "--min-seconds 0" in outcome["blip.wav"].error
    assert outcome["corrupt.wav"].top() == [] and outcome["corrupt.wav"].probabilities is None
    padded = tagger.tag([short], min_seconds=0)[0]
    assert padded.ok


def test_a_folder_without_audio_is_reported(tagger, tmp_path):
    (tmp_path / "readme.txt").write_text("no music here")
    [p] = tagger.tag([tmp_path])
    assert p.path == str(tmp_path) and "no audio files" in p.error


def test_threshold_keeps_only_likely_tags(tagger, music):
    p = tagger.tag([music[1]["one"]])[0]
    cut = float(np.median(p.probabilities))
    kept = p.top(0, threshold=cut)
    assert {tag for tag, _ in kept} == {tag for tag, v in zip(p.labels, p.probabilities) if v >= cut}
    assert 0 < len(kept) < 50 and p.top(2, threshold=cut) == kept[:2]
    assert len(p.top(0)) == 50


def test_predictions_stream_without_decoding_the_whole_folder(tagger, music, monkeypatch):
    decoded = []
    real = fcn4.audio.decoding.decode
    monkeypatch.setattr(fcn4.audio.decoding, "decode", lambda job: decoded.append(job.path) or real(job))
    stream = tagger.predict([music[0]], embeddings=False)
    first = next(stream)
    assert first.ok and len(decoded) <= tagger.backend.batch_size < 4
    stream.close()


@pytest.mark.slow
def test_worker_processes_give_the_same_results_in_order(checkpoint, tagger, music):
    with Tagger(checkpoint, workers=1, batch_size=3) as parallel:
        got = parallel.tag([music[0]], window="track")
    want = tagger.tag([music[0]], window="track")
    assert [p.path for p in got] == [p.path for p in want]
    for a, b in zip(got, want):  # batches of 3 and of the fixture's size: float sums in another order
        np.testing.assert_allclose(a.window_probabilities, b.window_probabilities, atol=1e-5)


def test_a_decoder_crash_names_the_file_and_spares_the_rest(music):
    _, files = music
    front_end = CrashingFrontEnd()
    paths = [files["short"], "/crash/me.wav", files["one"]]
    with DecodePool(1) as pool:
        results = list(pool.stream([DecodeJob(p, front_end) for p in paths], prefetch=2))
    assert [r.job.path for r in results] == paths
    assert results[0].error is None and results[2].error is None
    assert "decoder crashed" in results[1].error


_INTERRUPTED_STREAMS = """
import contextlib, sys
from fcn4.audio.frontend import DEFAULT_FRONT_END
from fcn4.audio.decoding import DecodeJob, DecodePool
if __name__ == "__main__":
    jobs = [DecodeJob(path, DEFAULT_FRONT_END) for path in sys.argv[1:]] * 4
    for _ in range(6):
        try:
            with DecodePool(2) as pool, contextlib.closing(pool.stream(jobs, 4)) as stream:
                for i, _ in enumerate(stream):
                    if i == 3:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
    print("exiting")
"""


@pytest.mark.slow
def test_a_program_that_stops_reading_a_stream_still_exits(music, tmp_path):
    """Pools closed while results are in flight (Ctrl-C, a failed write) leave nothing behind that blocks exit."""
    import subprocess
    import sys

    _, files = music
    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED_STREAMS)
    done = subprocess.run([sys.executable, str(script), *files.values()], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0 and "exiting" in done.stdout, done.stderr[-2000:]


@pytest.mark.slow
def test_labels_follow_a_checkpoint_with_another_head(tmp_path):
    net = randomise(FCN4(**SMALL, num_classes=10), seed=4)
    ckpt = save_checkpoint(net, tmp_path / "genres.ckpt")
    with Tagger(ckpt, workers=0, labels="gtzan_genres") as genres:
        assert genres.labels[0] == "blues" and len(genres.labels) == 10
    with Tagger(ckpt, workers=0) as unnamed:
        assert unnamed.labels[:2] == ("output_0", "output_1")
    with pytest.raises(ValueError, match="50 labels for a network with 10 outputs"):
        Tagger(ckpt, workers=0, labels="mtat_top50")


def test_the_default_weights_when_not_cached_say_where_to_get_and_put_them(monkeypatch):
    monkeypatch.setenv("FCN4_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable) as caught:
        Tagger(workers=0)
    assert "https://" in str(caught.value) and "place it at" in str(caught.value)


@pytest.mark.slow
def test_a_published_card_tags_with_its_own_labels(tmp_path, music):
    from fcn4.hub.publish import CardMetadata, publish_card

    net = randomise(FCN4(**SMALL, num_classes=10), seed=5)
    ckpt = save_checkpoint(net, tmp_path / "genres.ckpt")
    meta = CardMetadata(name="fcn4_genres_test", version="1.0", dataset="GTZAN", user_id="tester",
                        asset_link="https://example.org/genres.ckpt", author="t", labels=tuple("abcdefghij"),
                        arguments=SMALL)
    card = publish_card(ckpt, meta, root=tmp_path / "assets").path
    with Tagger(card, workers=0) as tagger:
        assert tagger.labels[:3] == ("a", "b", "c")
        [p] = tagger.tag([music[1]["one"]])
    _, want = _reference(net, [DEFAULT_FRONT_END.clip(music[1]["one"])])
    np.testing.assert_allclose(p.probabilities, want[0], atol=1e-4)


# ------------------------------------------------------------------------- backends
@pytest.mark.slow
@pytest.mark.hub("test")  # about the hub's contents
def test_the_onnx_export_is_cached_and_a_second_tagger_needs_no_network(checkpoint, hub_dir):
    with Tagger(checkpoint, workers=0) as first:
        assert first.backend.name in ("onnxruntime", "openvino") and first._network is not None
        exported = first.backend.path
    assert exported.parent == hub_dir / "onnx"
    with Tagger(checkpoint, workers=0) as second:
        assert second.backend.path == exported and second._network is None


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])  # each opens its own file of the entry
@pytest.mark.hub("test")  # about the hub's contents
def test_a_damaged_cached_export_is_rebuilt(checkpoint, backend):
    with Tagger(checkpoint, workers=0, backend=backend) as first:
        exported = first.backend.path
    for path in [exported, *exported.parent.glob(f"{exported.stem}.cpu-*.onnx")]:  # and onnxruntime's copy for this CPU
        path.write_bytes(path.read_bytes()[:1000])
    with Tagger(checkpoint, workers=0, backend=backend) as second:  # exported anew
        assert second._network is not None and second.backend.path.name.split(".")[0] == exported.name.split(".")[0]
    assert exported.stat().st_size > 1000


def test_onnxruntime_and_mindspore_backends_agree(small_args):
    net = randomise(FCN4(**small_args), seed=6)
    shape = (1, 96, DEFAULT_FRONT_END.n_frames)
    x = np.random.default_rng(0).normal(-30, 15, (3, *shape)).astype(np.float32)
    fast = OnnxBackend.export(net, "test", 4, shape)
    reference = MindSporeBackend(net, 4, shape)
    for a, b in zip(fast(x), reference(x)):
        assert a.shape == b.shape and a.shape[0] == 3  # the padded fourth row is dropped
        np.testing.assert_allclose(a, b, atol=1e-4 * max(1.0, np.abs(b).max()))
    with pytest.raises(ValueError, match="takes"):
        fast(x[:, :, :10])


@pytest.mark.hub("test")  # about the hub's contents
def test_without_onnxruntime_auto_falls_back_and_says_so(checkpoint, monkeypatch):
    def missing():
        raise BackendError("onnxruntime is not installed (pip install onnxruntime)")

    monkeypatch.setattr(fcn4.inference.backend_onnx, "onnxruntime_module", missing)
    with pytest.warns(RuntimeWarning, match="onnxruntime is not installed.*MindSpore graph backend"):
        tagger = Tagger(checkpoint, workers=0)
    assert tagger.backend.name == "mindspore"
    with pytest.raises(BackendError, match="not installed"):
        Tagger(checkpoint, workers=0, backend="onnxruntime")


@pytest.mark.hub("test")  # about the hub's contents
def test_an_export_that_fails_its_check_is_never_cached(checkpoint, monkeypatch, hub_dir):
    monkeypatch.setattr(fcn4.inference.backend_onnx, "TOLERANCE", -1.0)
    with pytest.warns(RuntimeWarning, match="differs from the MindSpore network"):
        tagger = Tagger(checkpoint, workers=0)
    assert tagger.backend.name == "mindspore"
    assert not list((hub_dir / "onnx").glob("*.onnx"))


# ---------------------------------------------------------------------- command line
@pytest.fixture
def mixed_folder(music, tmp_path):
    _, files = music
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("one", "mp3"):
        os.symlink(files[name], folder / os.path.basename(files[name]))
    (folder / "corrupt.flac").write_bytes(b"fLaC but nothing else")
    (folder / "empty.wav").write_bytes(b"")
    return folder


@pytest.mark.slow
def test_tag_json_holds_every_file_and_exits_non_zero_on_failures(checkpoint, mixed_folder, tmp_path, capsys):
    out = tmp_path / "tags.json"
    rc = main(["tag", str(mixed_folder), "--weights", checkpoint, "--workers", "0", "--format", "json",
               "--output", str(out), "--window", "track", "--top-k", "3"])
    assert rc == 1
    report = json.loads(out.read_text())
    names = [os.path.basename(entry["path"]) for entry in report["files"]]
    assert names == ["corrupt.flac", "empty.wav", "one.wav", "song.mp3"]
    status = {os.path.basename(e["path"]): e for e in report["files"]}
    assert status["corrupt.flac"]["status"] == "error" and "decoder" in status["corrupt.flac"]["error"]
    assert status["empty.wav"]["status"] == "error" and "empty" in status["empty.wav"]["error"]
    one = status["one.wav"]
    assert len(one["tags"]) == 3 and len(one["probabilities"]) == 50 and len(one["windows"]) == 1
    assert report["summary"] == {"files": 4, "tagged": 2, "failed": 2} and report["labels"] == list(MTAT_TAGS)
    err = capsys.readouterr().err
    assert "corrupt.flac" in err and "empty.wav" in err and "2 tagged, 2 failed" in err


@pytest.mark.slow
def test_tag_csv_has_a_row_per_file_and_a_column_per_tag(checkpoint, mixed_folder, tmp_path):
    out = tmp_path / "tags.csv"
    rc = main(["tag", str(mixed_folder), "--weights", checkpoint, "--workers", "0", "--format", "csv", "-o", str(out)])
    rows = list(csv.DictReader(out.open()))
    assert rc == 1 and len(rows) == 4
    assert [r["status"] for r in rows] == ["error", "error", "ok", "ok"]
    assert rows[2]["tags"].count(";") == 4 and 0.0 <= float(rows[2]["choral"]) <= 1.0


@pytest.mark.slow
def test_tag_table_on_stdout_exits_zero_when_all_files_work(checkpoint, music, capsys):
    rc = main(["tag", music[1]["one"], music[1]["short"], "--weights", checkpoint, "--workers", "0", "--top-k", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and len(lines) == 2 and lines[0].startswith(music[1]["one"] + ": ")


@pytest.mark.slow
@pytest.mark.hub("test")  # about the hub's contents
def test_a_run_that_fails_half_way_never_replaces_a_good_output(checkpoint, music, tmp_path, monkeypatch):
    out = tmp_path / "tags.json"
    out.write_text("the previous report")
    real = fcn4.inference.reports.TagWriter.write

    def disk_full_at_the_second_file(self, prediction):
        if self.counts["files"] == 1:
            raise OSError(28, "No space left on device")
        real(self, prediction)

    monkeypatch.setattr(fcn4.inference.reports.TagWriter, "write", disk_full_at_the_second_file)
    rc = main(["tag", music[1]["one"], music[1]["short"], "--weights", checkpoint, "--format", "json",
               "-o", str(out), "--workers", "0"])
    assert rc == 2 and out.read_text() == "the previous report"
    assert sorted(os.listdir(tmp_path)) == ["mscache", "tags.json"]  # no temporary file left


@pytest.mark.slow
def test_bad_arguments_are_refused_before_any_work(checkpoint, music, tmp_path, capsys):
    args = [music[1]["one"], "--weights", checkpoint, "--workers", "0"]
    assert main(["embed", *args, "--output", str(tmp_path / "emb.txt")]) == 2
    assert main(["tag", *args, "--labels", "gtzan_genres"]) == 2
    with pytest.raises(SystemExit) as stop:  # refused by the parser
        main(["tag", *args, "--window", "track", "--hop", "0"])
    err = capsys.readouterr().err
    assert "FILE.npz" in err and "10 labels for a network with 50 outputs" in err
    assert stop.value.code == 2 and "argument --hop: takes a number > 0, got '0'" in err


def test_the_taggers_settings_are_refused_before_any_process_or_network(checkpoint):
    for bad in ({"batch_size": 0}, {"batch_size": 2.0}, {"threads": 0}, {"workers": -1}, {"backend": "tpu"}):
        with pytest.raises(fcn4.SettingError):
            Tagger("/nonexistent.ckpt", **bad)  # the settings are checked before the weights are looked at


def test_predict_refuses_bad_settings_at_the_call(tagger, music):
    _, files = music
    for bad in ({"decode_timeout": 0}, {"hop_seconds": -1.0}, {"min_seconds": float("nan")}, {"max_hours": 0},
                {"window": "all"}, {"long_files": "cut"}):
        with pytest.raises(fcn4.SettingError):
            tagger.predict([files["one"]], **bad)  # no iteration needed
    prediction = tagger.tag([files["one"]])[0]
    assert len(prediction.top(0)) == len(tagger.labels)
    for k in (-3, 1.5):
        with pytest.raises(fcn4.SettingError, match="top_k"):
            prediction.top(k)


@pytest.mark.slow
def test_embed_writes_an_npz_that_loads_without_pickle(checkpoint, mixed_folder, tmp_path, capsys):
    out = tmp_path / "emb.npz"
    rc = main(["embed", str(mixed_folder), "--weights", checkpoint, "--workers", "0", "--output", str(out)])
    data = np.load(out, allow_pickle=False)
    assert rc == 1 and data["embeddings"].shape == (2, SMALL["in_classes"][-1])
    assert [os.path.basename(p) for p in data["paths"]] == ["one.wav", "song.mp3"]
    assert [os.path.basename(p) for p in data["failed_paths"]] == ["corrupt.flac", "empty.wav"]
    assert "corrupt.flac" in capsys.readouterr().err


def test_tag_without_the_default_checkpoint_says_where_to_place_it(music, monkeypatch, capsys):
    monkeypatch.setenv("FCN4_OFFLINE", "1")
    assert main(["tag", music[1]["one"], "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "fcn4 tag: error" in err and "place it at" in err and "sha256" in err


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
@pytest.mark.slow
def test_a_file_name_that_is_not_utf8_is_tagged_and_written_in_every_format(checkpoint, music, tmp_path, fmt):
    _, files = music
    folder = tmp_path / "share"
    folder.mkdir()
    shutil.copy(files["one"], folder / "plain.wav")
    odd = os.fsencode(folder) + b"/caf\xe9.wav"  # Latin-1 from an old share: not UTF-8
    shutil.copy(files["one"], odd)
    out = tmp_path / f"tags.{fmt}"
    assert main(["tag", str(folder), "--weights", checkpoint, "--workers", "0", "--format", fmt, "-o", str(out)]) == 0
    raw = out.read_bytes()
    if fmt == "json":  # escaped as \udce9, which os.fsencode turns back into the name's bytes
        names = [os.fsencode(entry["path"]) for entry in json.loads(raw)["files"]]
        assert names == [odd, os.fsencode(folder / "plain.wav")]
    else:  # the name's own bytes
        assert odd in raw and raw.count(b"plain.wav") == 1
    with Tagger(checkpoint, workers=0) as tagger:
        (prediction,) = tagger.tag([os.fsdecode(odd)])
    assert prediction.ok


@pytest.mark.slow
def test_the_taggram_of_a_track_is_written_and_readable(checkpoint, music, tmp_path, capsys):
    import matplotlib.image

    _, files = music
    out = tmp_path / "one.png"
    assert main(["tag", files["one"], "--weights", checkpoint, "--workers", "0", "--window", "track", "--hop", "5",
                 "--plot", str(out)]) == 0
    picture = matplotlib.image.imread(out)
    assert picture.ndim == 3 and picture.shape[0] > 100 and picture.shape[1] > 300
    folder = tmp_path / "taggrams"
    assert main(["tag", files["one"], files["mp3"], "--weights", checkpoint, "--workers", "0", "--window", "track",
                 "--plot", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["0000-one.png", "0001-song.png"]
    assert main(["tag", files["one"], files["mp3"], "--weights", checkpoint, "--plot", str(tmp_path / "x.png"),
                 "--window", "track"]) == 2
    assert main(["tag", files["one"], "--weights", checkpoint, "--plot", str(tmp_path / "y.png")]) == 2
    assert "needs --window track" in capsys.readouterr().err


def test_a_file_that_decodes_too_long_fails_saying_so_and_the_rest_go_on(music):
    _, files = music
    front_end = SlowFrontEnd()
    paths = [files["short"], "/slow/me.wav", files["one"]]
    with DecodePool(1) as pool:
        results = list(pool.stream([DecodeJob(p, front_end, timeout=1.0) for p in paths], prefetch=2))
    assert [r.job.path for r in results] == paths
    assert results[0].error is None and results[2].error is None
    assert "decoding took longer than 1 s (--decode-timeout)" in results[1].error
