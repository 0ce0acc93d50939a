"""A store to serve: synthesised music tagged and embedded by a small network (track mode) and written
as `fcn4 embed --ray` writes it, without Ray; a file of it that vanished, one swapped for a link."""
import os

import mindspore as ms

import pytest

from fcn4 import FCN4, save_checkpoint
from fcn4.audio.synth import synth_track, write_audio
from fcn4.hub import cache
from fcn4.inference.settings import InferenceSettings
from fcn4.inference.tagger import Tagger
from fcn4.library.keys import file_key
from fcn4.library.store import Store, StoreSettings
from fcn4.model.labels import top_k
from helpers import SMALL, randomise

pytest.importorskip("starlette")
pytest.importorskip("pyarrow")
pytest.importorskip("faiss")

SR = 16000
SETTINGS = InferenceSettings(window="track", top_k=3, decode_timeout=60)


def write_store(folder, tagger, paths, settings=SETTINGS):
    """Tag and embed ``paths`` with ``tagger`` and write them as one part of a new store in ``folder``."""
    store = Store.open_for(folder, StoreSettings.for_run(tagger, settings, embeddings=True))
    rows = []
    for p in tagger.predict([str(p) for p in paths], settings, embeddings=True, progress=False):
        info = os.stat(p.path)
        import soundfile as sf
        row = {"path": p.path, "status": "ok" if p.ok else "error", "reason": p.error, "note": p.note,
               "size": info.st_size, "mtime_ns": info.st_mtime_ns, "key": file_key(p.path, info.st_size,
                                                                                  info.st_mtime_ns),
               "duration": sf.info(p.path).duration if p.ok else None, "starts": None, "probabilities": None,
               "top_tags": None, "window_probabilities": None, "embedding": None, "window_embeddings": None}
        if p.ok:
            row.update(starts=p.starts.tolist(), probabilities=p.probabilities.tolist(),
                       top_tags=[t for t, _ in top_k(p.probabilities, p.labels, settings.top_k)],
                       window_probabilities=p.window_probabilities.tolist(), embedding=p.embedding.tolist(),
                       window_embeddings=p.window_embeddings.tolist())
        rows.append(row)
    store.write_part(rows)
    return store


@pytest.fixture(scope="package")
def checkpoint(tmp_path_factory):
    ms.set_seed(0)
    return str(save_checkpoint(randomise(FCN4(**SMALL), seed=3), tmp_path_factory.mktemp("weights") / "small.ckpt"))


@pytest.fixture(scope="package")
def library(tmp_path_factory, checkpoint):
    """(store folder, {name: path}): five tracks in track mode with embeddings, 'gone.wav' deleted after it
    was stored, 'swapped.wav' replaced by a link to another file, 'copy of one.wav' a near-duplicate of
    'one.wav'; 'query.wav' (not in the store) another near-duplicate of one.wav, to drop on the page."""
    root = tmp_path_factory.mktemp("music")
    files = {}
    for i, (name, seconds) in enumerate([("one.wav", 40.0), ("album/two.wav", 12.0), ("three.flac", 9.0),
                                         ("gone.wav", 6.0), ("swapped.wav", 6.0)]):
        (root / name).parent.mkdir(exist_ok=True)
        files[name] = write_audio(root / name, synth_track(seconds, SR, seed=i, root_hz=110 + 70 * i,
                                                           tempo=80 + 25 * i, brightness=0.2 + 0.3 * i), SR)
    one = synth_track(40.0, SR, seed=0, root_hz=110, tempo=80, brightness=0.2)
    files["copy of one.wav"] = write_audio(root / "copy of one.wav", one + 0.002 * synth_track(40.0, SR, seed=9), SR)
    outside = tmp_path_factory.mktemp("outside")
    files["query.wav"] = write_audio(outside / "query.wav", one + 0.003 * synth_track(40.0, SR, seed=11), SR)
    folder = tmp_path_factory.mktemp("store") / "store"
    with pytest.MonkeyPatch.context() as patch:  # the tagger's caches in a folder of the tests', never ~/.mscache
        patch.setenv(cache.HUB_DIR_ENV, str(tmp_path_factory.mktemp("mscache")))
        cache.set_hub_dir(None)
        with Tagger(checkpoint, workers=0) as tagger:
            write_store(folder, tagger, [files[n] for n in files if n != "query.wav"])
    cache.set_hub_dir(None)
    os.unlink(files["gone.wav"])
    os.unlink(files["swapped.wav"])
    os.symlink(files["three.flac"], files["swapped.wav"])
    return folder, {k: str(v) for k, v in files.items()}


@pytest.fixture(scope="package")
def app(library):
    """The app over the store (uploads decoded in this process), closed after the package's tests."""
    from fcn4.app.server import create_app

    application = create_app(library[0], token="secret-token", max_upload_mb=1, workers=0)
    assert application.state.neighbours.wait(60)
    yield application
    application.state.close()


@pytest.fixture()
def client(app):
    """A test client that holds the token (as a header), talking to 127.0.0.1."""
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8123", headers={"Authorization": "Bearer secret-token"}) as c:
        yield c


def key_of(client, name):
    found = client.get("/api/tracks", params={"q": name}).json()["tracks"]
    return next(t["key"] for t in found if t["name"] == name)


