"""Labels manifests (CSV, TSV, Parquet; text labels or 0/1 columns) and the iterative stratified split."""
import csv
import logging
import os
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcn4.errors import DatasetError, ManifestError
from fcn4.training.datasets import SPLITS
from fcn4.training.multilabel import iterative_stratified_split
from finetune.manifest import read_manifest

NAMES = ["rock", "jazz", "no vocals", "guitar", "female"]


def _files(folder, n):
    (folder / "audio").mkdir(exist_ok=True)
    for i in range(n):
        (folder / "audio" / f"c{i}.wav").write_bytes(b"")
    return [f"audio/c{i}.wav" for i in range(n)]


def _as_text(folder, paths, sets, separator=";", name="text.csv"):
    with open(folder / name, "w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle)
        rows.writerow(["path", "labels"])
        rows.writerows([p, separator.join(s)] for p, s in zip(paths, sets))
    return folder / name


def _as_flags(folder, paths, sets, labels, name="flags.tsv"):
    """MagnaTagATune's layout: clip_id, one 0/1 column per label, mp3_path; tab-separated."""
    with open(folder / name, "w", newline="", encoding="utf-8") as handle:
        rows = csv.writer(handle, delimiter="\t")
        rows.writerow(["clip_id", *labels, "mp3_path"])
        rows.writerows([i, *(int(label in s) for label in labels), p] for i, (p, s) in enumerate(zip(paths, sets)))
    return folder / name


def _as_parquet(folder, columns, name):
    pq.write_table(pa.table(columns), folder / name)
    return folder / name


def _same(a, b):
    assert (a.labels, a.task, a.split_method) == (b.labels, b.task, b.split_method)
    assert {s: a.splits[s] for s in SPLITS} == {s: b.splits[s] for s in SPLITS}


label_sets = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True), min_size=6, max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=label_sets, seed=st.integers(0, 3))
def test_every_form_of_a_manifest_gives_the_same_dataset(tmp_path, sets, seed):
    used = [n for n in sorted(NAMES) if any(n in s for s in sets)]
    if len(used) < 2:
        return
    paths = _files(tmp_path, len(sets))
    forms = [
        _as_text(tmp_path, paths, sets),
        _as_text(tmp_path, paths, sets, separator="|", name="pipes.csv"),
        _as_flags(tmp_path, paths, sets, sorted(NAMES)),  # a label no row has is left out
        _as_flags(tmp_path, paths, sets, sorted(NAMES), name="flags_named.csv"),  # tabs, though named .csv
        _as_parquet(tmp_path, {"path": paths, "labels": [";".join(s) for s in sets]}, "text.parquet"),
        _as_parquet(tmp_path, {"path": paths, "labels": [list(s) for s in sets]}, "lists.parquet"),
        _as_parquet(tmp_path, {"path": paths, **{n: [n in s for s in sets] for n in sorted(NAMES)}}, "flags.parquet"),
    ]
    first = read_manifest(forms[0], seed=seed)
    assert first.labels == tuple(used)
    assert first.task == ("single" if all(len(s) == 1 for s in sets) else "multi")
    for form in forms[1:]:
        _same(first, read_manifest(form, seed=seed))
    every = sorted(item.path for s in SPLITS for item in first.splits[s])
    assert every == sorted(str(tmp_path / p) for p in paths)


def test_a_split_column_is_honoured_and_data_dir_roots_relative_paths(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    paths = _files(data, 6)
    (tmp_path / "m.csv").write_text("path,labels,split\n" + "".join(
        f"{p},{'a' if i % 2 else 'b'},{['train', 'validation', 'test'][i % 3]}\n" for i, p in enumerate(paths)))
    dataset = read_manifest(tmp_path / "m.csv", data_dir=data)
    assert dataset.task == "single" and dataset.split_method == "manifest"
    assert [len(dataset.splits[s]) for s in SPLITS] == [2, 2, 2]
    assert dataset.splits["valid"][0].path == str(data / "audio" / "c1.wav")


def test_the_task_can_be_forced_and_single_refuses_a_row_of_two_labels(tmp_path):
    paths = _files(tmp_path, 6)
    manifest = _as_text(tmp_path, paths, [["a"], ["b"]] * 3)
    assert read_manifest(manifest, task="multi").task == "multi"
    assert read_manifest(manifest).splits["train"][0].label in (0, 1)
    two = _as_text(tmp_path, paths, [["a"], ["a", "b"]] * 3, name="two.csv")
    with pytest.raises(ManifestError) as caught:
        read_manifest(two, task="single")
    assert (caught.value.row, caught.value.column) == (2, "labels")


@pytest.mark.parametrize("text, row, column, words", [
    ("file,labels\na.wav,x\n", None, None, "no 'path' column"),
    ("path,rock,jazz\naudio/c0.wav,1,0\naudio/c1.wav,1,2\n", 2, "jazz", "neither 0 nor 1"),
    ("path,rock,jazz\naudio/c0.wav,1,0\naudio/c1.wav,yes,0\n", 2, "rock", "neither 0 nor 1"),
    ("path,labels\naudio/c0.wav,a\naudio/nope.wav,b\n", 2, "path", "not found"),
    ("path,labels\naudio/c0.wav,a\n,b\n", 2, "path", "every row needs a path"),
    ("path,labels,split\naudio/c0.wav,a,train\naudio/c1.wav,b,holdout\n", 2, "split", "not a split"),
    ("path,labels\naudio/c0.wav,a\naudio/c1.wav,b,extra\n", 2, None, "fields"),
    ("path,labels,path\naudio/c0.wav,a,x\n", None, "path", "more than once"),
    ("path\naudio/c0.wav\n", None, None, "no labels"),
    ("path,labels\n", None, None, "no rows"),
    ("path,labels\naudio/c0.wav,a\n\n\naudio/nope.wav,b\n", 4, "path", "not found"),  # its own row, blanks counted
    ("path,labels\naudio/c0.wav,a\n\naudio/c1.wav,a;b\n", 3, "labels", "task single"),
    ('path,"labels\naudio/c0.wav,a\n', None, None, "unclosed quote"),
    ("path,{big}\naudio/c0.wav,a\n", None, None, "field larger"),  # {big}: a field over csv's limit
    ("path,labels\naudio/c0.wav,{big}\n", 1, None, "not readable as CSV"),
    ("path,labels,split\naudio/c0.wav,a,train\naudio/c1.wav,b,valid\n", None, "split", "no test rows"),
    ("path,labels,split\naudio/c0.wav,a,train\naudio/c1.wav,b,test\n", None, "split", "no valid rows"),
    ("path,labels\naudio/c0.wav,a\naudio/c1.wav,b\x1bc\n", 2, "labels", "control character"),
    ("path,labels\naudio/c0.wav,```\naudio/c1.wav,b\n", 1, "labels", "backtick"),
    ("path,ro`ck,jazz\naudio/c0.wav,1,0\naudio/c1.wav,0,1\n", None, "ro`ck", "backtick"),
    ("", None, None, "empty"),
])
def test_each_bad_manifest_is_named_by_file_row_and_column(tmp_path, text, row, column, words):
    _files(tmp_path, 2)
    (tmp_path / "bad.csv").write_text(text.replace("{big}", "x" * (csv.field_size_limit() + 1)))
    with pytest.raises(ManifestError) as caught:
        read_manifest(tmp_path / "bad.csv", task="single" if "task single" in words else None)
    error = caught.value
    assert isinstance(error, DatasetError)
    assert (error.file, error.row, error.column) == (str(tmp_path / "bad.csv"), row, column)
    assert str(error).startswith(str(tmp_path / "bad.csv")) and words in str(error)


def test_a_parquet_label_column_that_is_neither_text_nor_flags_is_named(tmp_path):
    paths = _files(tmp_path, 2)
    _as_parquet(tmp_path, {"path": paths, "labels": [1.5, 2.5]}, "numbers.parquet")
    with pytest.raises(ManifestError) as caught:
        read_manifest(tmp_path / "numbers.parquet")
    assert (caught.value.row, caught.value.column) == (1, "labels") and "neither text" in str(caught.value)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ManifestError, match="not a readable Parquet file"):
        read_manifest(tmp_path / "junk.parquet")
    (tmp_path / "latin1.csv").write_bytes("path,labels\nc\xe9.wav,a\n".encode("latin-1"))
    with pytest.raises(ManifestError, match="UTF-8"):
        read_manifest(tmp_path / "latin1.csv")


def test_one_file_named_twice_is_read_once_or_refused_naming_both_rows(tmp_path, caplog):
    _files(tmp_path, 6)
    os.symlink(tmp_path / "audio" / "c0.wav", tmp_path / "audio" / "link.wav")
    rows = "path,labels,split\naudio/c0.wav,a,train\n" + "".join(
        f"audio/c{i}.wav,{'ab'[i % 2]},{SPLITS[i % 3]}\n" for i in range(1, 6))
    (tmp_path / "same.csv").write_text(rows + "\n./audio/c0.wav,a,train\n")
    with caplog.at_level(logging.WARNING, logger="finetune.manifest"):
        dataset = read_manifest(tmp_path / "same.csv")
    assert sorted(item.path for s in SPLITS for item in dataset.splits[s]) == [
        str(tmp_path / "audio" / f"c{i}.wav") for i in range(6)]
    assert "row 8 repeats row 1" in caplog.text
    for repeat, what in [("audio/link.wav,a,valid", "split"), ("audio/../audio/c0.wav,b,train", "labels"),
                         ("./audio/c0.wav,a;b,train", "labels")]:
        (tmp_path / "twice.csv").write_text(rows + "\n" + repeat + "\n")
        with pytest.raises(ManifestError) as caught:
            read_manifest(tmp_path / "twice.csv")
        assert (caught.value.row, caught.value.column) == (8, "path")
        assert f"another {what}" in str(caught.value) and "row 1 " in str(caught.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(min_size=1, max_size=6), min_size=2, max_size=2, unique=True))
def test_a_label_that_would_break_the_card_is_refused_when_read(tmp_path, names):
    paths = _files(tmp_path, 6)
    manifest = _as_text(tmp_path, paths, [[names[0]], [names[1]]] * 3)
    try:
        dataset = read_manifest(manifest)
    except ManifestError as error:
        assert error.file == str(manifest)
        return
    for label in dataset.labels:
        assert "`" not in label and not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in label)


def test_a_damaged_parquet_file_is_a_manifest_error_never_a_traceback(tmp_path, monkeypatch):
    paths = _files(tmp_path, 6)
    table = pa.table({"path": paths * 50, "labels": ["a;b", "b"] * 150})
    pq.write_table(table, tmp_path / "groups.parquet", row_group_size=100)
    data = bytearray((tmp_path / "groups.parquet").read_bytes())
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    data[4:footer] = b"\xff" * (footer - 4)  # every row group's pages, the footer left whole
    (tmp_path / "groups.parquet").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="damaged Parquet row group") as caught:
        read_manifest(tmp_path / "groups.parquet")
    assert caught.value.row == 1

    def silent(*args, **kwargs):
        raise pa.ArrowInvalid("")

    monkeypatch.setattr(pq, "ParquetFile", silent)
    with pytest.raises(ManifestError, match=r"not a readable Parquet file \(ArrowInvalid\)"):
        read_manifest(tmp_path / "groups.parquet")


def test_the_iterative_split_keeps_every_label_near_its_share_in_every_split():
    rng = np.random.default_rng(0)
    y = (rng.random((600, 12)) < np.linspace(0.02, 0.4, 12)).astype(np.int64)
    parts = iterative_stratified_split(y, (0.5, 0.2, 0.3), seed=3)
    together = np.sort(np.concatenate([parts[s] for s in SPLITS]))
    assert together.tolist() == list(range(600))  # each clip once
    for share, split in zip((0.5, 0.2, 0.3), SPLITS):
        assert abs(len(parts[split]) / 600 - share) < 0.02
        counts = y[parts[split]].sum(axis=0)
        assert np.all(np.abs(counts - share * y.sum(axis=0)) <= 1.5), (split, counts)
    again = iterative_stratified_split(y, (0.5, 0.2, 0.3), seed=3)
    assert all(np.array_equal(parts[s], again[s]) for s in SPLITS)


def test_a_manifest_run_is_named_after_its_manifest_and_resumes_there(tmp_path, monkeypatch):
    from finetune.cli import build_parser, resolve_config

    monkeypatch.chdir(tmp_path)
    config = resolve_config(build_parser().parse_args(["--manifest", "my moods.csv", "--resume"]))
    assert str(config.run_dir) == "runs/my_moods-head" and config.name == "fcn4_my_moods_head_v1.0"
    (tmp_path / "runs" / "my_moods-head").mkdir(parents=True)
    (tmp_path / "runs" / "my_moods-head" / "config.yaml").write_text("manifest: my moods.csv\nepochs: 7\n")
    assert resolve_config(build_parser().parse_args(["--manifest", "my moods.csv", "--resume"])).epochs == 7
    probe = resolve_config(build_parser().parse_args(["--manifest", "m.csv", "--store", "S", "--probe"]))
    assert str(probe.run_dir) == "runs/m-probe"
