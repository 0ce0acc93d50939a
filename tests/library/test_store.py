"""The Parquet store: settings that explain it, parts whole or absent, resume keys, refusals by name."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from fcn4.library.job import _Gather
from fcn4.library.store import SETTINGS_FILE, Store, StoreError, StoreSettings

LABELS = ("rock", "jazz", "techno")


def _settings(**changes):
    values = dict(weights="mindspore/ascend/1.1/fcn4_v1.1", sha256="ab" * 32, labels=LABELS,
                  front_end={"sample_rate": 12000, "n_mels": 96}, features=4, embeddings=True)
    values.update(changes)
    return StoreSettings(**values)


def _row(path, key, probabilities=(0.1, 0.8, 0.3), status="ok"):
    ok = status == "ok"
    return {"path": path, "status": status, "reason": None if ok else "it holds no audio samples", "note": None,
            "size": 10, "mtime_ns": 5, "key": key, "duration": 30.0 if ok else None, "starts": [0.0] if ok else None,
            "probabilities": list(probabilities) if ok else None, "top_tags": ["jazz"] if ok else None,
            "embedding": [1.0, 0.0, 0.0, 0.0] if ok else None}


def test_a_store_names_its_weights_front_end_and_labels_in_every_part(tmp_path):
    store = Store.open_for(tmp_path / "s", _settings())
    part = store.write_part([_row("a.wav", 1), _row("b.wav", 2, status="error")])
    meta = json.loads(pq.read_schema(part).metadata[b"fcn4"])
    assert meta["weights"] == "mindspore/ascend/1.1/fcn4_v1.1" and meta["sha256"] == "ab" * 32
    assert meta["labels"] == list(LABELS) and meta["front_end"]["sample_rate"] == 12000
    table = Store(tmp_path / "s").table()
    assert table["status"].to_pylist() == ["ok", "error"]
    assert table["reason"].to_pylist() == [None, "it holds no audio samples"]
    assert store.done_keys().tolist() == [1, 2] and store.done_keys(retry_failed=True).tolist() == [1]


@pytest.mark.parametrize("change, named", [
    ({"sha256": "cd" * 32}, "sha256"), ({"window": "track"}, "window"),
    ({"labels": ("a", "b")}, "labels: the store's 3 .rock, jazz, techno, ...., this run's 2"),
    ({"front_end": {"sample_rate": 16000, "n_mels": 96}}, "front_end"), ({"embeddings": False}, "embeddings")])
def test_a_run_with_other_settings_is_refused_naming_what_differs(tmp_path, change, named):
    Store.open_for(tmp_path, _settings())
    with pytest.raises(StoreError, match=f"written with other settings.*{named}.*write to another folder"):
        Store.open_for(tmp_path, _settings(**change))


def test_the_same_checkpoint_by_another_name_is_the_same_store(tmp_path):
    Store.open_for(tmp_path, _settings(weights="weights/my.ckpt"))
    assert Store.open_for(tmp_path, _settings(weights="/elsewhere/copy of my.ckpt")).parts() == []
    with pytest.raises(StoreError, match="weights: the store's 'weights/my.ckpt', this run's 'x.ckpt'"):
        Store.open_for(tmp_path, _settings(weights="x.ckpt", sha256="ef" * 32))


def test_what_is_not_a_store_is_refused_by_name(tmp_path):
    with pytest.raises(StoreError, match="is not an fcn4 store"):
        Store(tmp_path)
    (tmp_path / "other.parquet").write_bytes(b"x")
    with pytest.raises(StoreError, match="holds Parquet files but no _store.json"):
        Store.open_for(tmp_path, _settings())
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file; a store is a folder"):
        Store.open_for(tmp_path / "file", _settings())
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / SETTINGS_FILE).write_text("{not json")
    with pytest.raises(StoreError, match="damaged store settings"):
        Store(tmp_path / "s")


def test_a_half_written_part_is_never_read_and_a_damaged_one_is_named(tmp_path):
    store = Store.open_for(tmp_path, _settings())
    store.write_part([_row("a.wav", 1)])
    stray = tmp_path / ".part-1.parquet.0123456789abcdef0123456789abcdef.parquet"
    stray.write_bytes(b"PAR1 half")  # what a writer killed mid-part leaves
    assert Store(tmp_path).table().num_rows == 1
    Store.open_for(tmp_path, _settings())  # the next run (under the lock) clears it away
    assert not stray.exists()
    (tmp_path / "part-9999999999999999999-1.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(StoreError, match=r"part-9999999999999999999-1.parquet: not a readable part.*move it out"):
        Store(tmp_path).table()


def test_a_file_read_again_after_it_changed_keeps_only_its_newest_row(tmp_path):
    store = Store.open_for(tmp_path, _settings())
    store.write_part([_row("a.wav", 1, (0.9, 0.1, 0.1)), _row("b.wav", 2)])
    store.write_part([_row("a.wav", 3, (0.1, 0.1, 0.9))])
    table = store.table(["path", "key", "probabilities"])
    assert table["path"].to_pylist() == ["b.wav", "a.wav"] and table["key"].to_pylist() == [2, 3]
    paths, vectors = store.embeddings()
    assert paths == ["b.wav", "a.wav"] and vectors.shape == (2, 4)
    assert store.table(latest=False).num_rows == 3


def test_a_long_track_s_parts_gather_in_any_order_into_one_row_once():
    gather = _Gather(_settings(window="track", labels=("a", "b"), features=2))

    def part(i, starts, probabilities):
        return {"path": b"long.flac", "key": 7, "size": 1, "mtime_ns": 1, "part": i, "parts": 3, "error": "",
                "note": "", "seconds": 100.0 if i == 2 else float("nan"), "starts": np.asarray(starts),
                "probabilities": np.asarray(probabilities, np.float32),
                "embeddings": np.ones((len(starts), 2), np.float32) * i}

    first = part(0, [0.0, 10.0], [[0.5, 0.5], [0.3, 0.7]])
    rows = [part(2, [60.0], [[0.1, 0.9]]), first, dict(first)]  # the first part twice: Ray ran it again
    assert [r for row in rows for r in gather.add(row)] == []
    (record,) = gather.add(part(1, [30.0], [[0.9, 0.1]]))
    assert record["starts"] == [0.0, 10.0, 30.0, 60.0] and record["duration"] == 100.0
    np.testing.assert_allclose(record["probabilities"], [0.45, 0.55], atol=1e-6)
    np.testing.assert_allclose(record["window_embeddings"], [[0, 0], [0, 0], [1, 1], [2, 2]])
    assert list(gather.add(part(1, [30.0], [[0.9, 0.1]]))) == []  # Ray ran a part twice: the file is in already


def test_a_name_that_is_not_utf8_is_stored_as_its_text_with_its_bytes_escaped(tmp_path):
    gather = _Gather(_settings())
    row = {"path": b"caf\xe9 \xe2\x99\xaa.wav", "key": 1, "size": 1, "mtime_ns": 1, "part": 0, "parts": 1,
           "error": "", "note": "", "seconds": 3.0, "starts": np.zeros(1), "probabilities": np.ones((1, 3), np.float32),
           "embeddings": np.ones((1, 4), np.float32)}
    (record,) = gather.add(row)
    assert record["path"] == "caf\\xe9 \u266a.wav"
    store = Store.open_for(tmp_path, _settings())
    store.write_part([record])
    assert store.table(["path"])["path"].to_pylist() == ["caf\\xe9 \u266a.wav"]
