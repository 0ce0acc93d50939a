"""`fcn4 similar` on a hostile store: a cached index keyed by what it indexes and checked by its own
sha256, a folder as query, a NaN query, a full disk, links in `_index/`; input errors exit 2."""
import errno
import os

import numpy as np
import pytest

from fcn4.base.errors import FCN4Error, StorageError, UnsafePathError
from fcn4.cli import main
from fcn4.library import similarity
from fcn4.library.similarity import SimilarityIndex
from fcn4.library.store import Store, StoreError, StoreSettings

pytest.importorskip("faiss")
N, D = 200, 8


def _row(path, key, vector):
    return {"path": path, "status": "ok", "reason": None, "note": None, "size": 10, "mtime_ns": 5, "key": key,
            "duration": 30.0, "starts": [0.0], "probabilities": [0.1, 0.8], "top_tags": ["b"],
            "embedding": [float(v) for v in vector]}


def _store(folder, seed=0, n=N):
    settings = StoreSettings(weights="w.ckpt", sha256="ab" * 32, labels=("a", "b"), front_end={"n_mels": 96},
                             features=D, embeddings=True)
    store = Store.open_for(folder, settings)
    vectors = np.random.default_rng(seed).normal(size=(n, D)).astype(np.float32)
    store.write_part([_row(f"{i}.wav", i, v) for i, v in enumerate(vectors)])
    return store, vectors


@pytest.fixture
def ivf(monkeypatch):
    monkeypatch.setattr(similarity, "EXACT_UP_TO", 10)  # every store here goes through the cached IVF index


def _cached(store):
    return sorted((store.folder / "_index").glob("ivf-*.faiss"))


def test_the_cached_index_is_reused_and_keyed_by_what_it_indexes(tmp_path, ivf):
    store, vectors = _store(tmp_path / "s")
    first = SimilarityIndex.of(store)
    (cached,) = _cached(store)
    build = similarity._build_ivf
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(similarity, "_build_ivf", lambda *a: pytest.fail("built again, not read from the cache"))
        assert SimilarityIndex.of(store).search(vectors[3], 1)[0][0] == "3.wav" and _cached(store) == [cached]
    assert similarity._build_ivf is build
    # another store, the same part names and sizes, other vectors: its index is not this one's
    other, other_vectors = _store(tmp_path / "o", seed=1)
    os.rename(other.parts()[0], other.parts()[0].with_name(store.parts()[0].name))
    (other.folder / "_index").mkdir()
    os.link(cached, other.folder / "_index" / cached.name)  # a copy of the first store's cached index
    assert SimilarityIndex.of(other).search(other_vectors[5], 1)[0] == ("5.wav", pytest.approx(1.0, abs=1e-5))
    assert cached.name not in [p.name for p in _cached(other)] and cached.exists()
    assert first.search(vectors[5], 1)[0][0] == "5.wav"


def test_a_well_formed_swapped_index_is_not_served(tmp_path, ivf):
    store, vectors = _store(tmp_path / "s")
    SimilarityIndex.of(store)
    (cached,) = _cached(store)
    other, _ = _store(tmp_path / "o", seed=1)
    SimilarityIndex.of(other)
    (poison,) = _cached(other)
    cached.write_bytes(poison.read_bytes())  # same ntotal, same d: only its bytes tell
    found = SimilarityIndex.of(store).search(vectors[7], 3)
    assert found[0] == ("7.wav", pytest.approx(1.0, abs=1e-5))
    (rebuilt,) = _cached(store)  # rebuilt (here deterministically: the same name), under its own bytes' sha256
    assert rebuilt.read_bytes() != poison.read_bytes()


def test_a_damaged_index_is_rebuilt(tmp_path, ivf):
    store, vectors = _store(tmp_path / "s")
    SimilarityIndex.of(store)
    (cached,) = _cached(store)
    cached.write_bytes(cached.read_bytes()[:100])
    assert SimilarityIndex.of(store).search(vectors[1], 1)[0][0] == "1.wav"


def test_links_in_the_index_folder_are_refused_and_their_targets_survive(tmp_path, ivf):
    store, _ = _store(tmp_path / "s")
    SimilarityIndex.of(store)
    (cached,) = _cached(store)
    victim = tmp_path / "victim.faiss"
    victim.write_bytes(cached.read_bytes())
    cached.unlink()
    cached.symlink_to(victim)
    with pytest.raises(UnsafePathError, match="a cached index"):
        SimilarityIndex.of(store)
    assert victim.exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other, _ = _store(tmp_path / "o")
    (other.folder / "_index").symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match="_index"):
        SimilarityIndex.of(other)
    assert list(elsewhere.iterdir()) == []


def test_faiss_failing_to_write_on_a_full_disk_exits_2_naming_the_folder(tmp_path, ivf, monkeypatch, capsys):
    store, _ = _store(tmp_path / "s")
    import faiss

    def full(index, path):
        raise RuntimeError(f"Error: 'ret == (1)' failed: write error in {path}: 28 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", full)
    assert main(["similar", "3.wav", "--store", str(store.folder)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write into {store.folder / '_index'}" in err and "No space left" in err
    assert _cached(store) == [] and [p.name for p in (store.folder / "_index").iterdir()] == [".lock"]


def test_a_full_disk_on_the_rename_or_the_folder_exits_2_naming_the_folder(tmp_path, ivf, monkeypatch, capsys):
    store, _ = _store(tmp_path / "s")
    real = os.replace

    def full(src, dst, *args, **kwargs):
        if "_index" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(StorageError, match=f"cannot write into {store.folder / '_index'}.*no space is left"):
        SimilarityIndex.of(store)
    assert main(["similar", "3.wav", "--store", str(store.folder)]) == 2


def test_a_folder_as_query_is_refused(tmp_path, capsys):
    store, _ = _store(tmp_path / "s", n=5)
    query = tmp_path / "music"
    query.mkdir()
    (query / "0.wav").write_bytes(b"x")
    assert main(["similar", str(query), "--store", str(store.folder)]) == 2
    assert f"query {query} is a folder: name one audio file" in capsys.readouterr().err
    os.mkfifo(tmp_path / "fifo")
    assert main(["similar", str(tmp_path / "fifo"), "--store", str(store.folder)]) == 2
    assert "is not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_query_is_refused_never_an_empty_answer(tmp_path, bad):
    store, vectors = _store(tmp_path / "s", n=5)
    query = vectors[0].copy()
    query[2] = bad
    with pytest.raises(FCN4Error, match="NaN or infinite"):
        SimilarityIndex.of(store).search(query, 3)


def test_a_stored_nan_row_is_refused_naming_the_part_and_the_file(tmp_path, capsys):
    store, _ = _store(tmp_path / "s", n=5)
    part = store.write_part([_row("nan.wav", 99, [np.nan] * D)])
    assert main(["similar", "1.wav", "--store", str(store.folder)]) == 2
    err = capsys.readouterr().err
    assert f"{part.name}: the embedding of nan.wav holds NaN or infinite values" in err and "move the part out" in err


def test_a_stored_query_of_the_wrong_width_is_refused(tmp_path):
    store, _ = _store(tmp_path / "s", n=5)
    row = _row("short.wav", 99, [1.0] * (D - 1))
    store.write_part([row])
    with pytest.raises(StoreError, match="has 7 values, the store's are 8"):
        SimilarityIndex.of(store)
    with pytest.raises(StoreError, match="short.wav"):
        similarity.query_vector("short.wav", store)


def test_huge_finite_values_still_rank_and_the_store_s_own_query_is_left_out(tmp_path, capsys):
    store, vectors = _store(tmp_path / "s", n=5)
    store.write_part([_row("huge.wav", 99, vectors[2] * 1e37)])
    assert main(["similar", "2.wav", "--store", str(store.folder), "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert "1.0000  huge.wav" in out


def test_a_store_holding_only_the_query_says_so(tmp_path, capsys):
    store, _ = _store(tmp_path / "s", n=1)
    assert main(["similar", "0.wav", "--store", str(store.folder)]) == 0
    assert "holds no other track" in capsys.readouterr().err
