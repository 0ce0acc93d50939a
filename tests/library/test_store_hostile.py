"""A store is a stranger's data: every part and setting is checked before it is used or sized by,
refused by name (the part, the field) with a way out; links inside a store are never followed."""
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from fcn4.base.errors import UnsafePathError
from fcn4.library import store as store_module
from fcn4.library.store import SETTINGS_FILE, Store, StoreError, StoreSettings, schema_for

LABELS = ("rock", "jazz", "techno")
HYPO = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _settings(**changes):
    values = dict(weights="w.ckpt", sha256="ab" * 32, labels=LABELS, front_end={"sample_rate": 12000, "n_mels": 96},
                  features=4, embeddings=True)
    values.update(changes)
    return StoreSettings(**values)


def _row(path, key, embedding=(1.0, 0.0, 0.0, 0.0), status="ok"):
    ok = status == "ok"
    return {"path": path, "status": status, "reason": None if ok else "no audio", "note": None, "size": 10,
            "mtime_ns": 5, "key": key, "duration": 30.0 if ok else None, "starts": [0.0] if ok else None,
            "probabilities": [0.1, 0.8, 0.3] if ok else None, "top_tags": ["jazz"] if ok else None,
            "embedding": None if embedding is None else list(embedding)}


def _raw_part(folder, rows, settings, name="part-0000000000000000009-1.parquet"):
    """A part written around the Store (as a tester or another store would), under ``settings``."""
    table = pa.Table.from_pylist(rows, schema=schema_for(settings))
    pq.write_table(table, folder / name)
    return folder / name


@pytest.fixture
def store(tmp_path):
    s = Store.open_for(tmp_path / "s", _settings())
    s.write_part([_row("a.wav", 1), _row("b.wav", 2, (0.0, 1.0, 0.0, 0.0))])
    return s


# ---------------------------------------------------------------- 1. a part of other settings
@pytest.mark.parametrize("change, field", [({"sha256": "cd" * 32}, "sha256"), ({"features": 8}, "features"),
                                           ({"labels": ("a", "b", "c")}, "labels"),
                                           ({"front_end": {"sample_rate": 16000, "n_mels": 96}}, "front_end")])
def test_a_part_of_other_settings_is_refused_on_every_read(store, change, field):
    width = change.get("features", 4)
    part = _raw_part(store.folder, [_row("x.wav", 9, [0.5] * width)], _settings(**change))
    for read in (store.table, store.done_keys, store.embeddings, lambda: list(store.batches())):
        with pytest.raises(StoreError, match=rf"{part.name} was written with other settings than the store's "
                                             rf"_store.json \({field}: the store's .*the part's.*move it out"):
            read()


def test_a_rerun_does_not_skip_the_files_of_a_foreign_part(store, tmp_path):
    _raw_part(store.folder, [_row("x.wav", 9)], _settings(sha256="cd" * 32))
    with pytest.raises(StoreError, match="sha256"):
        Store.open_for(store.folder, _settings()).done_keys()  # what `embed` asks before it skips anything


def test_a_part_without_settings_or_with_other_columns_is_refused(store):
    bare = store.folder / "part-0000000000000000008-1.parquet"
    pq.write_table(pa.table({"path": ["x"]}), bare)
    with pytest.raises(StoreError, match=f"{bare.name}: its Parquet metadata names no fcn4 settings"):
        store.table()
    bare.unlink()
    schema = schema_for(_settings())
    wrong = pa.schema([f if f.name != "embedding" else pa.field("embedding", pa.list_(pa.float64())) for f in schema],
                      metadata=schema.metadata)
    pq.write_table(pa.Table.from_pylist([_row("x.wav", 9)], schema=wrong), bare)
    with pytest.raises(StoreError, match=f"{bare.name}: not a part of this store .column 'embedding' is "
                                         "list<element: double>"):
        store.embeddings()


# ---------------------------------------------------------------- 2. rows and declared sizes
@pytest.mark.parametrize("embedding, said", [((1.0, 2.0), "has 2 values, the store's are 4"),
                                             (None, "has none"), ((1.0, float("nan"), 0.0, 0.0), "NaN or infinite"),
                                             ((1.0, float("inf"), 0.0, 0.0), "NaN or infinite"),
                                             ((1.0, None, 0.0, 0.0), "NaN or infinite")])
def test_an_ok_row_without_a_usable_embedding_is_refused_naming_part_and_file(store, embedding, said):
    part = store.write_part([_row("c.wav", 3, embedding)])
    with pytest.raises(StoreError, match=rf"{part.name}: the embedding of c.wav .*{said}.*move the part out"):
        store.embeddings()
    assert store.embeddings(vectors=False)[0] == ["a.wav", "b.wav", "c.wav"]  # the paths alone read no vectors


def test_a_failed_row_or_an_older_version_needs_no_embedding(store):
    store.write_part([_row("c.wav", 3, None, status="error"), _row("a.wav", 4, (0.0, 0.0, 1.0, 0.0))])
    paths, matrix = store.embeddings()
    assert paths == ["b.wav", "a.wav"] and matrix.tolist() == [[0, 1, 0, 0], [0, 0, 1, 0]]


def test_rows_without_path_or_key_are_refused(store):
    row = _row("x.wav", 9)
    row["key"] = None
    part = store.write_part([row])
    with pytest.raises(StoreError, match=f"{part.name}: 1 row.s. without a key"):
        store.done_keys()


def test_a_small_part_declaring_millions_of_rows_is_refused_before_it_is_read(store, monkeypatch):
    # 20 M rows of nothing compress to a few KB: the footer says so before anything is allocated
    rows = 2_000_000
    schema = schema_for(_settings())
    table = pa.table({f.name: pa.nulls(rows, f.type) for f in schema}, schema=schema)
    part = store.folder / "part-0000000000000000007-1.parquet"
    pq.write_table(table, part, compression="zstd")
    assert part.stat().st_size < 200_000
    monkeypatch.setattr(store_module, "MAX_PART_ROWS", 1_000_000)
    for read in (store.table, store.done_keys, store.embeddings):
        with pytest.raises(StoreError, match=f"{part.name}: declares 2,000,000 rows, more than a part may hold"):
            read()
    monkeypatch.setattr(store_module, "MAX_PART_ROWS", 10_000_000)
    monkeypatch.setattr(store_module, "MAX_PART_VALUES", 1_000_000)
    with pytest.raises(StoreError, match=f"{part.name}: declares [0-9,]+ values, more than a part may hold"):
        store.done_keys()


@pytest.mark.parametrize("value", [10 ** 12, 0, -5, "16", 4.0, True, None, [4]])
def test_absurd_features_are_refused_by_name_before_anything_is_allocated(store, value):
    where = store.folder / SETTINGS_FILE
    data = json.loads(where.read_text())
    data["features"] = value
    where.write_text(json.dumps(data))
    with pytest.raises(StoreError, match=r"_store.json: damaged store settings \(the field 'features' is"):
        Store(store.folder)


def test_absurd_features_in_a_part_s_metadata_are_refused_by_name(store):
    part = store.parts()[0]
    table = pq.read_table(part)
    meta = json.loads(table.schema.metadata[b"fcn4"])
    meta["features"] = 10 ** 12
    pq.write_table(table.replace_schema_metadata({"fcn4": json.dumps(meta)}), part)
    with pytest.raises(StoreError, match=rf"{part.name} \(its Parquet metadata\): damaged store settings \(the field "
                                         "'features' is 1000000000000.*move it out"):
        store.embeddings()


def _valid_json():
    return st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                    max_size=4), max_leaves=12)


FIELDS = [f for f in StoreSettings.__dataclass_fields__] + ["format"]


@HYPO
@given(field=st.sampled_from(FIELDS), value=_valid_json())
def test_any_value_of_any_setting_is_accepted_or_refused_naming_it(tmp_path_factory, field, value):
    folder = tmp_path_factory.mktemp("s")
    good = Store.open_for(folder, _settings())
    good.write_part([_row("a.wav", 1)])
    data = json.loads((folder / SETTINGS_FILE).read_text())
    data[field] = value
    (folder / SETTINGS_FILE).write_text(json.dumps(data))
    try:
        opened = Store(folder)
    except StoreError as exc:
        assert field in str(exc) or "format" in str(exc)
        return
    try:  # accepted settings: every reader either works or refuses the part by name
        opened.table(), opened.done_keys()
        if opened.settings.embeddings:
            opened.embeddings()
    except StoreError as exc:
        assert "part-" in str(exc)


@HYPO
@given(field=st.sampled_from(FIELDS), value=_valid_json())
def test_any_value_in_a_part_s_metadata_is_accepted_or_refused_naming_part_and_field(tmp_path_factory, field, value):
    folder = tmp_path_factory.mktemp("s")
    good = Store.open_for(folder, _settings())
    part = good.write_part([_row("a.wav", 1)])
    table = pq.read_table(part)
    meta = json.loads(table.schema.metadata[b"fcn4"])
    meta[field] = value
    pq.write_table(table.replace_schema_metadata({"fcn4": json.dumps(meta)}), part)
    try:
        good.embeddings(), good.done_keys(), good.table()
    except StoreError as exc:
        assert part.name in str(exc) and (field in str(exc) or "format" in str(exc))


@HYPO
@given(data=st.binary(max_size=64) | st.text(max_size=64).map(str.encode)
       | st.integers(1, 10_000).map(lambda n: b"[" * n + b"]" * n))
def test_any_bytes_as_settings_are_refused_as_a_store_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("s")
    (folder / SETTINGS_FILE).write_bytes(data)
    with pytest.raises(StoreError):
        Store(folder)


@HYPO
@given(cut=st.integers(0, 2000), junk=st.binary(max_size=32))
def test_a_truncated_or_patched_part_is_refused_as_a_store_error(tmp_path_factory, cut, junk):
    folder = tmp_path_factory.mktemp("s")
    good = Store.open_for(folder, _settings())
    part = good.write_part([_row(f"{i}.wav", i) for i in range(20)])
    data = part.read_bytes()
    at = min(cut, len(data))
    part.write_bytes(data[:len(data) - at] + junk + data[len(data) - at + len(junk):])
    try:
        good.embeddings(), good.done_keys(), good.table()
    except StoreError as exc:
        assert part.name in str(exc)


# ---------------------------------------------------------------- 3. links inside a store
def test_a_part_that_is_a_link_is_refused_and_its_target_survives(store, tmp_path):
    outside = tmp_path / "outside.parquet"
    _raw_part(tmp_path, [_row("x.wav", 9)], _settings(), name="outside.parquet")
    (store.folder / "part-0000000000000000009-1.parquet").symlink_to(outside)
    for read in (store.table, store.done_keys, store.embeddings, store.content_digest):
        with pytest.raises(UnsafePathError, match="part-0000000000000000009-1.parquet .a part of the store. is a "
                                                  "symbolic link"):
            read()
    assert outside.exists()


def test_settings_that_are_a_link_are_refused(tmp_path):
    real = Store.open_for(tmp_path / "real", _settings())
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / SETTINGS_FILE).symlink_to(real.folder / SETTINGS_FILE)
    with pytest.raises(UnsafePathError, match="the store's settings"):
        Store(tmp_path / "s")
    with pytest.raises(UnsafePathError, match="the store's settings"):
        Store.open_for(tmp_path / "s", _settings())
    dangling = tmp_path / "d"
    dangling.mkdir()
    (dangling / SETTINGS_FILE).symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(UnsafePathError):
        Store.open_for(dangling, _settings())
    assert not (tmp_path / "nowhere.json").exists()


def test_stray_temporary_cleanup_never_follows_a_link(store, tmp_path):
    victim = tmp_path / "victim.parquet"
    victim.write_bytes(b"precious")
    link = store.folder / ".part-1.parquet.0123456789abcdef0123456789abcdef.parquet"
    link.symlink_to(victim)
    with pytest.raises(UnsafePathError, match="a temporary file in the store"):
        Store.open_for(store.folder, _settings())
    assert victim.read_bytes() == b"precious" and os.path.islink(link)
    link.unlink()
    stray = store.folder / ".part-2.parquet.0123456789abcdef0123456789abcdef.parquet"
    stray.write_bytes(b"half")
    Store.open_for(store.folder, _settings())
    assert not stray.exists()


def test_a_part_that_is_a_fifo_or_folder_is_refused_not_waited_on(store):
    os.mkfifo(store.folder / "part-0000000000000000009-1.parquet")
    with pytest.raises(StoreError, match="not a regular file"):
        store.done_keys()


def test_what_held_still_holds_newest_row_and_resume(store):
    store.write_part([_row("a.wav", 3, (0.0, 0.0, 0.0, 1.0))])
    paths, matrix = store.embeddings()
    assert paths == ["b.wav", "a.wav"] and matrix[1].tolist() == [0, 0, 0, 1]
    assert store.done_keys().tolist() == [1, 2, 3]
    assert sum(b.num_rows for b in store.batches(["path"])) == 3
    assert np.isfinite(matrix).all()


def test_batches_refuse_an_embedding_of_another_width_or_not_finite(store):
    """What the fine-tuning kit's --store streams: each vector it takes is checked as embeddings() checks it."""
    assert sum(b.num_rows for b in store.batches(["path", "status", "embedding"])) == 2
    store.write_part([_row("e.wav", 5, None, status="error")])  # a failed file has none: fine
    assert sum(b.num_rows for b in store.batches(["path", "status", "embedding"])) == 3
    part = store.write_part([_row("c.wav", 3, (1.0, 2.0))])
    with pytest.raises(StoreError, match=f"{part.name}: the embedding of c.wav .*has 2 values"):
        list(store.batches(["path", "status", "size", "mtime_ns", "embedding"]))
    part.unlink()
    part = store.write_part([_row("n.wav", 4, (1.0, float("nan"), 0.0, 0.0))])
    with pytest.raises(StoreError, match=f"{part.name}: the embedding of row 0 holds NaN"):
        list(store.batches(["embedding"]))


def test_a_run_whose_settings_no_reader_would_accept_writes_nothing(tmp_path):
    with pytest.raises(StoreError, match="this run's store settings: damaged store settings .the field 'top_k'"):
        Store.open_for(tmp_path / "s", _settings(top_k=10 ** 9))
    assert not (tmp_path / "s" / SETTINGS_FILE).exists()
