"""`fcn4 tag/embed --ray` on a local Ray: the store equals the single-process tagger's output,
resumes without recomputing, survives a killed driver, and answers `similar`."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fcn4 import Tagger
from fcn4.library.job import embed_library, tag_library
from fcn4.library.similarity import SimilarityIndex, similar
from fcn4.library.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.usefixtures("local_ray"),
              pytest.mark.hub("module")]  # the package's weights: exported and measured once a module  # Ray starts processes


def _by_path(store, columns):
    table = Store(store).table(["path", *columns])
    return {row["path"]: row for row in table.to_pylist()}


@pytest.mark.parametrize("window", ["clip", "track"])
def test_the_store_holds_what_fcn4_tag_says_file_by_file(music, checkpoint, tmp_path, window):
    root, _ = music
    result = (embed_library if window == "track" else tag_library)(
        [root], tmp_path / "store", weights=checkpoint, window=window, batch_size=4, rows_per_part=3)
    with Tagger(checkpoint, workers=0, batch_size=4) as tagger:
        expected = list(tagger.predict([root], window=window, embeddings=window == "track"))
    columns = ["status", "reason", "starts", "probabilities", "top_tags", "duration"]
    if window == "track":
        columns += ["window_probabilities", "embedding", "window_embeddings"]
    stored = _by_path(tmp_path / "store", columns)
    assert sorted(stored) == sorted(p.path for p in expected)
    assert (result.listed, result.tagged, result.failed) == (len(expected), sum(p.ok for p in expected),
                                                             sum(not p.ok for p in expected))
    assert result.parts == -(-len(expected) // 3)
    for p in expected:
        row = stored[p.path]
        assert row["status"] == ("ok" if p.ok else "error") and row["reason"] == p.error, p.path
        if not p.ok:
            continue
        np.testing.assert_allclose(row["probabilities"], p.probabilities, atol=1e-6)
        np.testing.assert_allclose(row["starts"], p.starts)
        assert row["top_tags"] == [tag for tag, _ in p.top(5)]
        assert row["duration"] > 0
        if window == "track":
            np.testing.assert_allclose(row["window_probabilities"], p.window_probabilities, atol=1e-6)
            np.testing.assert_allclose(row["embedding"], p.embedding, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(row["window_embeddings"], p.window_embeddings, rtol=1e-5, atol=1e-5)
    reasons = {os.path.basename(p.path): p.error for p in expected if not p.ok}
    assert set(reasons) == {"bad.wav", "empty.flac", "short.ogg"}


def test_relative_inputs_are_the_driver_s_though_the_workers_run_elsewhere(music, checkpoint, tmp_path, monkeypatch):
    root, _ = music
    monkeypatch.chdir(root)  # the shared Ray's workers run in a folder of their own, as a cluster's do
    result = tag_library(["one.wav", "album/song.mp3"], tmp_path / "store", weights=checkpoint)
    rows = _by_path(tmp_path / "store", ["status", "reason"])
    assert (result.tagged, result.failed) == (2, 0), rows
    assert set(rows) == {"one.wav", "album/song.mp3"}  # the store keeps the paths as given


def test_a_rerun_skips_what_is_stored_and_recomputes_only_a_changed_file(music, checkpoint, tmp_path):
    root, files = music
    store = tmp_path / "store"
    first = tag_library([root], store, weights=checkpoint)
    again = tag_library([root], store, weights=checkpoint)
    assert (again.skipped, again.tagged, again.failed, again.parts) == (first.listed, 0, 0, 0)
    changed = files["quiet.ogg"]
    stat = os.stat(changed)
    try:
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        third = tag_library([root], store, weights=checkpoint)
        assert (third.skipped, third.tagged) == (first.listed - 1, 1)
        table = Store(store).table(["path"])
        assert sorted(table["path"].to_pylist()) == sorted(set(table["path"].to_pylist()))  # each file once
        assert table.num_rows == first.listed
        retried = tag_library([root], store, weights=checkpoint, retry_failed=True)
        assert (retried.tagged, retried.failed) == (0, first.failed)
    finally:
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_similar_finds_a_file_s_near_duplicate_first(music, checkpoint, tmp_path):
    root, files = music
    embed_library([root], tmp_path / "store", weights=checkpoint)
    found = similar(files["one.wav"], tmp_path / "store", k=3)
    assert found[0][0] == files["copy of one.mp3"] and found[0][1] > 0.99
    assert files["one.wav"] not in [path for path, _ in found] and len(found) == 3
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
    # a file the store does not hold is embedded with the store's weights: a copy of one.wav finds it
    outside = tmp_path / "query.wav"
    outside.write_bytes(open(files["one.wav"], "rb").read())
    (path, score), = similar(outside, tmp_path / "store", k=1)
    assert path == files["one.wav"] and score == pytest.approx(1.0, abs=1e-5)
    ivf = SimilarityIndex.of(tmp_path / "store", exact=False)
    assert not ivf.exact and (tmp_path / "store" / "_index").is_dir()


def test_a_store_of_another_block_holds_what_a_tagger_of_that_layer_gives_and_answers_similar(music, checkpoint,
                                                                                                 tmp_path):
    from fcn4.inference.settings import InferenceSettings

    root, files = music
    good = [files[name] for name in ("one.wav", "copy of one.mp3", "quiet.ogg")]
    embed_library(good, tmp_path / "store", weights=checkpoint, layer="block2")
    with Tagger(checkpoint, settings=InferenceSettings(layer="block2"), workers=0) as tagger:
        want = tagger.embed(good)
    stored = _by_path(tmp_path / "store", ["embedding"])
    for path, vector in zip(want.paths, want.vectors):
        np.testing.assert_allclose(stored[path]["embedding"], vector, rtol=1e-5, atol=1e-5)
    assert Store(tmp_path / "store").settings.layer == "block2"
    outside = tmp_path / "query.wav"  # a file the store does not hold: embedded from block 2 as its rows were
    outside.write_bytes(open(files["one.wav"], "rb").read())
    (path, score), = similar(outside, tmp_path / "store", k=1)
    assert path == files["one.wav"] and score == pytest.approx(1.0, abs=1e-5)


def test_a_driver_killed_mid_job_then_rerun_loses_nothing_and_redoes_nothing(music, checkpoint, tmp_path, local_ray):
    root, files = music
    library = tmp_path / "many"
    library.mkdir()
    for i in range(16):  # sixteen names for the library's good files (links: no copies)
        name = sorted(files)[i % 7]
        os.link(files[name], library / f"{i:02d} {os.path.basename(name)}")
    store = tmp_path / "store"
    # The driver joins the running Ray (its token in this process's environment), as on a cluster
    address = local_ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "fcn4", "tag", "--ray", address, str(library), "-o", str(store), "--weights",
               checkpoint, "--rows-per-part", "2", "--no-progress"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    while not list(store.glob("part-*.parquet")) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = {p.name for p in store.glob("part-*.parquet")}
    written = Store(store).table(["path", "key"], latest=False)
    assert 0 < written.num_rows < 16, "the driver was killed while it worked"
    result = tag_library([library], store, weights=checkpoint)
    assert result.skipped == written.num_rows and result.tagged + result.failed == 16 - written.num_rows
    after = Store(store)
    assert before <= {p.name for p in after.parts()}  # what was written stays, untouched
    every = after.table(["path", "key"], latest=False)
    assert every.num_rows == 16 and len(set(every["path"].to_pylist())) == 16  # each input exactly once


def test_a_file_whose_decoder_crashes_is_a_row_with_its_reason_and_the_job_goes_on(music, checkpoint, tmp_path,
                                                                                   monkeypatch):
    import dataclasses

    import fcn4.inference.settings
    from helpers import CrashingFrontEnd

    root, files = music
    library = tmp_path / "lib"
    library.mkdir()
    os.link(files["one.wav"], library / "crash-me.wav")  # its decoder kills the process reading it
    os.link(files["quiet.ogg"], library / "fine.ogg")
    real = fcn4.inference.settings.DecodeJob  # the one place settings become a DecodeJob

    def crashing(path, front_end, *args, **kwargs):
        return real(path, CrashingFrontEnd(**dataclasses.asdict(front_end)), *args, **kwargs)

    monkeypatch.setattr(fcn4.inference.settings, "DecodeJob", crashing)
    result = tag_library([library], tmp_path / "store", weights=checkpoint)
    rows = _by_path(tmp_path / "store", ["status", "reason"])
    assert (result.tagged, result.failed) == (1, 1) and rows[str(library / "fine.ogg")]["status"] == "ok"
    assert "its decoder crashed" in rows[str(library / "crash-me.wav")]["reason"]
