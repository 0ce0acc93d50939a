"""Listing a library's inputs: folders, globs, manifests (text, CSV, TSV, Parquet), URIs; keys of files."""
import csv
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcn4.audio.sources import find_audio
from fcn4.base.errors import SettingError
from fcn4.library.inputs import iter_inputs
from fcn4.library.keys import KeySet, file_key

# Names as strangers write them: any printable text but the path separator and line breaks.
NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1,
                max_size=30).filter(lambda n: n not in (".", "..") and not n.startswith(".") and n.strip() == n)


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return str(path)


def _paths(sources):
    return [(s.path, s.error) for s in sources]


@settings(max_examples=30, deadline=None)
@given(tree=st.lists(st.tuples(st.lists(NAMES, max_size=2), NAMES), min_size=1, max_size=8))
def test_a_folder_streams_in_the_order_find_audio_sorts_it(tmp_path_factory, tree):
    root = tmp_path_factory.mktemp("tree")
    for folders, name in tree:
        try:
            _touch(root.joinpath(*folders, name + ".wav"))
        except OSError:  # a name that is also a folder of another entry: skip it
            pass
    assert _paths(iter_inputs([root])) == _paths(find_audio([root]))


@settings(max_examples=40, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=6, unique=True))
def test_every_manifest_format_lists_the_same_paths_whatever_their_names(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("manifests")
    files = [_touch(root / "music" / f"{n}.mp3") for n in names]
    (root / "list.txt").write_text("# my library\n\n" + "".join(f"{f}\n" for f in files), encoding="utf-8")
    with open(root / "list.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["artist", "Path"])
        writer.writerows([["someone, with a comma", f] for f in files])
    with open(root / "list.tsv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter="\t").writerows([["file"], *[[f] for f in files]])
    pq.write_table(pa.table({"id": list(range(len(files))), "path": files}), root / "list.parquet")
    want = [(f, None) for f in files]
    for manifest in ("list.txt", "list.csv", "list.tsv", "list.parquet"):
        assert _paths(iter_inputs([root / manifest])) == want, manifest


def test_a_manifest_s_relative_paths_are_taken_from_its_folder(tmp_path):
    _touch(tmp_path / "lib" / "a.flac")
    (tmp_path / "lib" / "list.txt").write_text("a.flac\r\n/abs/b.ogg\n  \n")
    got = _paths(iter_inputs([tmp_path / "lib" / "list.txt"]))
    assert got == [(str(tmp_path / "lib" / "a.flac"), None), ("/abs/b.ogg", None)]


def test_hostile_manifest_entries_become_inputs_that_say_what_is_wrong(tmp_path):
    (tmp_path / "list.txt").write_text("x" * 5000 + "\n" + "a\0b.wav\n")
    (long, long_error), (nul, nul_error) = _paths(iter_inputs([tmp_path / "list.txt"]))
    assert long.endswith("...") and len(long) < 300 and long_error.endswith("entry 1: a path over 4096 bytes")
    assert nul == "a\\0b.wav" and nul_error.endswith("entry 2: a path with a NUL byte, which no file name holds")


def test_a_manifest_without_a_path_column_is_refused_naming_it_and_its_columns(tmp_path):
    (tmp_path / "tracks.csv").write_text("title,artist\nx,y\n")
    with pytest.raises(SettingError, match=r"tracks.csv has no column of paths: its columns are \['title', 'artist'\]"):
        list(iter_inputs([tmp_path / "tracks.csv"]))
    pq.write_table(pa.table({"song": ["a"]}), tmp_path / "tracks.parquet")
    with pytest.raises(SettingError, match="tracks.parquet has no column of paths"):
        list(iter_inputs([tmp_path / "tracks.parquet"]))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SettingError, match="bad.parquet: not a readable Parquet file"):
        list(iter_inputs([tmp_path / "bad.parquet"]))


def test_globs_folders_and_uris_mix_and_a_file_reached_twice_is_read_once(tmp_path):
    a, b = _touch(tmp_path / "x" / "a.wav"), _touch(tmp_path / "x" / "b.ogg")
    (tmp_path / "list.txt").write_text(f"{a}\n{a}\n")
    got = _paths(iter_inputs([str(tmp_path / "x" / "*.wav"), tmp_path / "list.txt", tmp_path / "x",
                              str(tmp_path / "none-*.wav"), tmp_path / "gone.wav"]))
    assert got == [(a, None), (b, None), (str(tmp_path / "none-*.wav"), "a pattern that matches no file"),
                   (str(tmp_path / "gone.wav"), "no such file or folder")]
    uri = f"file://{tmp_path / 'x'}"
    assert _paths(iter_inputs([uri])) == [(f"file://{a}", None), (f"file://{b}", None)]
    nothing = f"file://{tmp_path}/nothing"
    assert _paths(iter_inputs([nothing])) == [(nothing, "no such file or folder")]


@pytest.mark.slow
def test_a_million_path_manifest_streams_in_flat_memory(tmp_path):
    """Memory grows by the 8-byte keys, not with the paths' text: listed twice as many, about 8 bytes more each."""
    import tracemalloc

    def peak(n):
        manifest = tmp_path / f"m{n}.txt"
        with open(manifest, "w") as handle:
            for i in range(n):
                handle.write(f"s3-style/very/long/folder/name/of/a/library/track-{i:09d}.mp3\n")
        tracemalloc.start()
        count = sum(1 for _ in iter_inputs([manifest]))
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return high

    small, large = peak(20_000), peak(200_000)
    assert large - small < 180_000 * 24, (small, large)  # the 8-byte keys (and one copy), not the ~70-byte text


@settings(max_examples=50, deadline=None)
@given(batches=st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=20), max_size=10))
def test_keyset_answers_as_a_python_set_does(batches):
    keys, model = KeySet(), set()
    for batch in batches:
        new = keys.add_new(np.asarray(batch, np.uint64))
        expected = []
        for k in batch:
            expected.append(k not in model)
            model.add(k)
        assert new.tolist() == expected
    assert len(keys) == len(model)
    assert keys.array().tolist() == sorted(model)


def test_a_file_s_key_changes_with_its_size_or_time_and_not_otherwise():
    assert file_key("a.wav", 10, 5) == file_key(b"a.wav", 10, 5)
    assert len({file_key("a.wav", 10, 5), file_key("a.wav", 11, 5), file_key("a.wav", 10, 6),
                file_key("b.wav", 10, 5)}) == 4
    assert file_key(os.fsdecode(b"caf\xe9.wav"), 1, 1) == file_key(b"caf\xe9.wav", 1, 1)
