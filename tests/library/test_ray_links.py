"""Where a library job writes or deletes inside its store, a symbolic link planted there is refused
(named in the error), never followed: the folder it points to keeps its files. Ray is not started."""
import os

import pytest

from fcn4.base.errors import UnsafePathError
from fcn4.cli import main
from fcn4.library.job import _write_listing, tag_library
from fcn4.library.keys import KeySet

pytestmark = pytest.mark.hub("module")  # the package's weights: exported and measured once


def _victim(tmp_path):
    """Another folder, with files a listing folder's clean-up would delete (stale listings, temporaries)."""
    victim = tmp_path / "precious"
    victim.mkdir()
    names = ["listing-1.parquet", "data.parquet", ".listing-2.parquet.tmp", "notes.txt"]
    for name in names:
        (victim / name).write_text(f"keep {name}")
    return victim, names


def _survived(victim, names):
    assert sorted(os.listdir(victim)) == sorted(names)
    for name in names:
        assert (victim / name).read_text() == f"keep {name}"


@pytest.mark.slow
def test_a_listing_folder_that_is_a_link_is_refused_and_what_it_points_to_is_untouched(music, checkpoint,
                                                                                      tmp_path, monkeypatch):
    import fcn4.library.job

    root, _ = music
    victim, names = _victim(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    (store / "_listing").symlink_to(victim, target_is_directory=True)
    monkeypatch.setattr(fcn4.library.job, "_ray_session", lambda *a: pytest.fail("Ray was started"))
    with pytest.raises(UnsafePathError) as refused:
        tag_library([root], store, weights=checkpoint)
    assert str(store / "_listing") in str(refused.value) and "symbolic link" in str(refused.value)
    _survived(victim, names)
    assert (store / "_listing").is_symlink()  # left as it was, for its owner to look at


@pytest.mark.slow
def test_the_command_says_which_link_it_refused(music, checkpoint, tmp_path, capsys):
    root, _ = music
    victim, names = _victim(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    (store / "_listing").symlink_to(victim, target_is_directory=True)
    assert main(["embed", "--ray", str(root), "-o", str(store), "--weights", checkpoint, "--no-progress"]) == 2
    assert str(store / "_listing") in capsys.readouterr().err
    _survived(victim, names)


def test_links_planted_inside_the_listing_folder_are_removed_themselves_not_followed(music, tmp_path):
    root, _ = music
    victim, names = _victim(tmp_path)
    listing = tmp_path / "store" / "_listing"
    listing.mkdir(parents=True)
    for name in names:  # a stale listing, a temporary, and this run's own listing's name: links to the victim's
        (listing / name).symlink_to(victim / name)
    (listing / f"listing-{os.getpid()}.parquet").symlink_to(victim / "data.parquet")
    target, listed, work = _write_listing([root], listing, KeySet())
    assert listed == 10 and work
    assert not target.is_symlink() and target.stat().st_size > 0
    _survived(victim, names)
