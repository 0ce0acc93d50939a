"""Export writes into a hidden folder, flushes and renames durably; a killed export's leftovers are
removed by the next one, under its lock; a full disk names the folder."""
import errno
import os

import pytest

from fcn4 import FCN4
from fcn4.base.errors import StorageError
from fcn4.model import export as export_module
from fcn4.model.export import export_network, load_exported
from helpers import SMALL


def test_a_killed_exports_leftovers_are_removed_and_the_export_is_flushed(tmp_path, monkeypatch):
    out = tmp_path / "k.mindir"
    old_style = tmp_path / ".k.mindir.ab12cd_x"  # what tempfile.TemporaryDirectory left before
    old_style.mkdir()
    (old_style / "k.mindir").write_bytes(b"half")
    new_style = tmp_path / f".k.mindir.{'0' * 32}.export"
    new_style.mkdir()
    stray = tmp_path / f".k.mindir.{'1' * 32}.tmp"
    stray.write_bytes(b"half")
    (tmp_path / "other.txt").write_text("not ours")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    export_network(FCN4(**SMALL, num_classes=5), out, n_frames=200)
    assert synced, "the export was renamed without fsync"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".k.mindir.lock", "k.mindir", "other.txt"]
    assert load_exported(out) is not None


def test_a_full_disk_during_export_names_the_folder_and_keeps_the_old_file(tmp_path, monkeypatch):
    import mindspore as ms

    out = tmp_path / "k.mindir"
    out.write_bytes(b"the good one")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", kwargs.get("file_name"))

    monkeypatch.setattr(ms, "export", full)
    with pytest.raises(StorageError, match=f"cannot write into {tmp_path}.*no space is left"):
        export_network(FCN4(**SMALL, num_classes=5), out, n_frames=200)
    assert out.read_bytes() == b"the good one"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".k.mindir.lock", "k.mindir"]
    assert export_module.remove_export_leftovers(out) == []
