import pytest

from fcn4.model.labels import GTZAN_GENRES
from fcn4.training.datasets import GTZAN_URL, SPLITS, DatasetError, gtzan_filtered_split, read_dataset, stratified_split


def _touch_gtzan(root, names, extension=".wav"):
    """Empty files named like GTZAN clips (readers look at names only)."""
    for name in names:
        path = (root / name).with_suffix(extension)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    for genre in GTZAN_GENRES:
        (root / genre).mkdir(parents=True, exist_ok=True)
    return root


def _all_names():
    return [name for split in SPLITS for name in gtzan_filtered_split()[split]]


def test_the_filtered_split_is_shipped_with_its_published_sizes_and_no_overlap():
    split = gtzan_filtered_split()
    assert [len(split[s]) for s in SPLITS] == [443, 197, 290]
    assert len(set(_all_names())) == 930
    assert {name.split("/")[0] for name in _all_names()} == set(GTZAN_GENRES)


@pytest.mark.parametrize("layout", ["genres_original", "genres", "."])
def test_gtzan_reads_the_kaggle_and_original_layouts_and_the_genre_folder_itself(tmp_path, layout):
    extension = ".au" if layout == "genres" else ".wav"
    _touch_gtzan(tmp_path / layout, _all_names(), extension)
    dataset = read_dataset("gtzan", tmp_path)
    assert dataset.counts() == {"train": 443, "valid": 197, "test": 290}
    assert dataset.labels == GTZAN_GENRES and not dataset.notes
    first = dataset.splits["train"][0]
    assert first.path.endswith(f"blues/blues.00029{extension}") and dataset.labels[first.label] == "blues"


def test_gtzan_with_part_of_the_filtered_split_says_how_many_clips_are_missing(tmp_path):
    names = [n for n in _all_names() if n.split("/")[0] in ("rock", "jazz")]
    _touch_gtzan(tmp_path / "genres_original", names)
    dataset = read_dataset("gtzan", tmp_path)
    assert sum(dataset.counts().values()) == len(names)
    assert f"{930 - len(names)} of the 930 clips" in dataset.notes[0]


def test_a_missing_or_wrong_gtzan_folder_says_the_layout_and_where_to_get_it(tmp_path):
    with pytest.raises(DatasetError) as missing:
        read_dataset("gtzan", tmp_path / "nowhere")
    assert "does not exist" in str(missing.value) and GTZAN_URL in str(missing.value)
    (tmp_path / "genres_original" / "rock").mkdir(parents=True)
    with pytest.raises(DatasetError) as wrong:
        read_dataset("gtzan", tmp_path)
    message = str(wrong.value)
    assert "lacks the genre folder(s) blues, classical" in message
    assert "genres_original/<genre>/<genre>.000NN.wav" in message and "--data-dir" in message


def test_random_splits_are_stratified_and_reproducible(tmp_path):
    _touch_gtzan(tmp_path, [f"{g}/{g}.{i:05d}.wav" for g in GTZAN_GENRES for i in range(20)])
    a = read_dataset("gtzan", tmp_path, split="random", seed=3)
    assert a.split_method == "random" and a.counts() == {"train": 100, "valid": 40, "test": 60}
    assert a == read_dataset("gtzan", tmp_path, split="random", seed=3)
    assert a.splits != read_dataset("gtzan", tmp_path, split="random", seed=4).splits
    for split in SPLITS:
        per_class = [sum(item.label == c for item in a.splits[split]) for c in range(10)]
        assert len(set(per_class)) == 1  # every genre in the same share


def test_stratified_split_keeps_every_class_in_every_split():
    parts = stratified_split([0] * 3 + [1] * 30, (0.8, 0.1, 0.1), seed=0)
    labels = [0] * 3 + [1] * 30
    for split in SPLITS:
        assert {labels[i] for i in parts[split]} == {0, 1}
    assert sorted(sum((list(parts[s]) for s in SPLITS), [])) == list(range(33))


def test_folder_datasets_take_labels_from_sub_folders(tmp_path):
    for label, n in (("speech", 6), ("music", 9)):
        for i in range(n):
            path = tmp_path / label / "nested" / f"{i}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    (tmp_path / "empty").mkdir()
    (tmp_path / "music" / "notes.txt").write_text("not audio")
    dataset = read_dataset("folder", tmp_path, seed=1)
    assert dataset.labels == ("music", "speech")
    assert sum(dataset.counts().values()) == 15
    assert "empty" in dataset.notes[0]


def test_folder_and_registry_errors_name_the_problem(tmp_path):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="at least\\s+two labels"):
        read_dataset("folder", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset 'mtat'; known: folder, gtzan"):
        read_dataset("mtat", tmp_path)
    with pytest.raises(DatasetError, match="split must be one of filtered, random"):
        read_dataset("folder", tmp_path, split="kfold")


# --- where prepare and training write: links refused, a full disk named (exit 2) ------------------

def _outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    return outside


def test_a_link_for_a_split_folder_of_the_feature_store_is_refused(tmp_path):
    import os

    from fcn4.base.errors import UnsafePathError
    from fcn4.training.prepare import PrepareConfig, prepare

    out = tmp_path / "features"
    out.mkdir()
    outside = _outside(tmp_path)
    (outside / ".partial-shard-00000").mkdir()  # what the cleanup would have deleted through the link
    os.symlink(outside, out / "train")
    with pytest.raises(UnsafePathError, match=str(out / "train")):
        prepare(PrepareConfig(data_dir=str(tmp_path / "data"), out=str(out)))
    assert sorted(p.name for p in outside.iterdir()) == [".partial-shard-00000", "keep.txt"]


def test_prepare_into_a_linked_split_folder_exits_2(tmp_path, capsys):
    import os

    from fcn4.cli import main

    out = tmp_path / "features"
    out.mkdir()
    outside = _outside(tmp_path)
    os.symlink(outside, out / "valid")
    assert main(["prepare", "--dataset", "mtat", "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 2
    assert str(out / "valid") in capsys.readouterr().err


def test_a_link_in_the_run_folder_is_refused(tmp_path):
    import os

    from fcn4.base.errors import UnsafePathError
    from fcn4.training.run_folder import hold_run_folder

    run = tmp_path / "run"
    run.mkdir()
    outside = _outside(tmp_path)
    (outside / f".x.{'0' * 32}.tmp").write_text("a stray that the cleanup would delete")
    os.symlink(outside, run / "checkpoints")
    with pytest.raises(UnsafePathError, match=str(run / "checkpoints")):
        with hold_run_folder(run):
            pass
    assert len(list(outside.iterdir())) == 2
    (run / "checkpoints").unlink()
    os.symlink(outside / "keep.txt", run / "train_state.json")
    with pytest.raises(UnsafePathError, match="train_state.json"):
        with hold_run_folder(run):
            pass
    assert (outside / "keep.txt").read_text() == "mine"


SCHEMA = {"feature": {"type": "float32", "shape": [1, 4, 5]}, "label": {"type": "int32", "shape": [3]}}


def _records():
    import numpy as np

    return [{"feature": np.zeros((1, 4, 5), np.float32), "label": np.array([1, 0, 1], np.int32)}]


def test_a_full_disk_while_writing_a_shard_names_the_folder(tmp_path, monkeypatch):
    import errno
    import shutil
    from collections import namedtuple

    from mindspore.mindrecord import FileWriter

    from fcn4.base.errors import StorageError
    from fcn4.training import feature_store
    from fcn4.training.feature_store import write_shard

    folder = tmp_path / "train"
    # What MindRecord's C++ writer raises on a full disk: a RuntimeError that says only "failed".
    monkeypatch.setattr(FileWriter, "commit", lambda self: (_ for _ in ()).throw(RuntimeError("Failed to commit.")))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 1024))
    with pytest.raises(StorageError, match=f"cannot write into {folder}.*no space is left") as info:
        write_shard(folder, "shard-00000", _records(), SCHEMA, {"keys": ["a"], "tags": [[0]], "skipped": []})
    assert info.value.errno == 28
    assert sorted(p.name for p in folder.iterdir()) == []  # nothing half-written kept
    # An OSError of a full disk (the OS's own) is named with the folder too.
    monkeypatch.setattr(FileWriter, "commit", lambda self: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(StorageError, match=f"cannot write into {folder}.*no space is left"):
        write_shard(folder, "shard-00000", _records(), SCHEMA, {"keys": ["a"], "tags": [[0]], "skipped": []})
    # A failure with room to spare stays what it was (a bug to report, not the disk's fault).
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 0, 1 << 40))
    monkeypatch.setattr(FileWriter, "commit", lambda self: (_ for _ in ()).throw(RuntimeError("Failed to commit.")))
    with pytest.raises(RuntimeError) as other:
        write_shard(folder, "shard-00000", _records(), SCHEMA, {"keys": ["a"], "tags": [[0]], "skipped": []})
    assert not isinstance(other.value, StorageError)
    assert feature_store._LOW_SPACE >= 8 << 20
