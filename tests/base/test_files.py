"""Durable writes, stray temporaries and folder locks: what every wing relies on."""
import os

import pytest

from fcn4.base import files
from fcn4.base.errors import FCN4Error
from fcn4.base.files import remove_stray_temporaries, temporary_beside, write_text_atomic
from fcn4.base.locks import FolderBusy, exclusive_folder


def test_a_trusted_file_is_flushed_before_and_after_its_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    write_text_atomic(tmp_path / "state.json", "{}")
    assert len(synced) == 2
    assert os.path.basename(synced[0]).startswith(".state.json.")  # the content, under its temporary name
    assert synced[1] == str(tmp_path)  # then the folder that holds the new name


def test_only_the_temporaries_of_killed_writers_are_removed(tmp_path):
    with temporary_beside(tmp_path / "epoch-001.ckpt", ".tmp.ckpt") as tmp:
        tmp.write_bytes(b"half")
        stray = tmp_path / tmp.name
        keep = [tmp_path / name for name in ("epoch-001.ckpt", ".lock", ".hidden", "notes.txt")]
        for path in keep:
            path.write_text("x")
        other = tmp_path / f".other.ckpt.{'a' * 32}.part"
        other.write_text("x")
        assert remove_stray_temporaries(tmp_path, "epoch-001.ckpt") == [stray]
        assert other.exists() and all(p.exists() for p in keep)
        assert remove_stray_temporaries(tmp_path) == [other]


def test_a_held_folder_refuses_a_second_holder_at_once_naming_the_first(tmp_path):
    with exclusive_folder(tmp_path / "run", "fine-tuning run"):
        with pytest.raises(FolderBusy, match=rf"{tmp_path / 'run'} is in use by another fine-tuning run \(process "
                                             rf"{os.getpid()} on "):
            with exclusive_folder(tmp_path / "run"):
                pass
    with exclusive_folder(tmp_path / "run"):  # released
        assert issubclass(FolderBusy, FCN4Error)
    assert not (tmp_path / "run" / ".lock.holder").exists()
    assert files.TEMPORARY.match(".x.ckpt." + "0" * 32 + ".tmp.ckpt")
