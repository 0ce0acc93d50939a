"""The JSON API and the audio, through a test client: every refusal with its status and a message."""
import contextlib
import os
import re

import pytest

from .conftest import key_of


def test_every_request_needs_the_token(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8123") as bare:
        for url in ("/", "/api/tracks", "/api/store", "/audio/0000000000000000", "/static/app.js"):
            response = bare.get(url)
            assert response.status_code == 403 and "token" in response.json()["error"], url
        assert bare.get("/api/tracks", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert bare.get("/api/tracks", params={"token": "secret-tokeN"}).status_code == 403
        assert bare.post("/api/tag", content=b"x").status_code == 403
        # the printed URL: the page moves the token into a cookie and out of the address bar
        first = bare.get("/?token=secret-token&x=1", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/?x=1"
        assert "HttpOnly" in first.headers["set-cookie"] and "SameSite=Strict" in first.headers["set-cookie"]
        assert bare.get("/api/tracks").status_code == 200  # the cookie now


def test_another_host_name_is_refused_even_with_the_token(client):
    # a page elsewhere whose name resolves to 127.0.0.1 (DNS rebinding) never reads the library
    response = client.get("/api/tracks", headers={"Host": "evil.example:8123"})
    assert response.status_code == 403 and "127.0.0.1" in response.json()["error"]


def test_a_page_on_another_port_or_site_cannot_use_the_api_with_the_cookie(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8123") as browser:
        browser.get("/?token=secret-token", follow_redirects=False)  # the cookie, as the user's browser holds it
        for headers in ({"Origin": "http://127.0.0.1:9999"}, {"Origin": "null"}, {"Origin": "https://127.0.0.1:8123"},
                        {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}):
            for method, url in (("POST", "/api/tag?name=a.wav"), ("GET", "/api/tracks"), ("GET", "/audio/0000000000000000")):
                response = browser.request(method, url, headers=headers, content=b"x" if method == "POST" else None)
                assert response.status_code == 403 and "another" in response.json()["error"], (headers, url)
        assert browser.get("/api/tracks", headers={"Host": "127.0.0.1:9999"}).status_code == 403
        own = {"Origin": "http://127.0.0.1:8123", "Sec-Fetch-Site": "same-origin"}
        assert browser.get("/api/tracks", headers=own).status_code == 200
        assert browser.get("/api/tracks", headers={"Sec-Fetch-Site": "none"}).status_code == 200


def test_another_apps_malformed_cookie_does_not_hide_ours(app):
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1:8123") as bare:
        ours = bare.get("/?token=secret-token", follow_redirects=False).headers["set-cookie"].split(";")[0]
        bare.cookies.clear()
        for header in (f"a=b; flag-without-value; {ours}", f'other="unterminated; {ours}; z=1'):
            assert bare.get("/api/tracks", headers={"Cookie": header}).status_code == 200, header


def test_the_table_is_paged_sorted_searched_and_filtered(client):
    everything = client.get("/api/tracks").json()
    assert everything["total"] == 6 and len(everything["tracks"]) == 6
    paths = [t["path"] for t in everything["tracks"]]
    assert paths == sorted(paths)
    longest = client.get("/api/tracks", params={"sort": "duration", "order": "desc", "limit": 2}).json()
    assert longest["total"] == 6 and [t["duration"] for t in longest["tracks"]] == [40.0, 40.0]
    second = client.get("/api/tracks", params={"offset": 5, "limit": 2}).json()
    assert second["total"] == 6 and [t["path"] for t in second["tracks"]] == paths[5:]
    found = client.get("/api/tracks", params={"q": "ONE.wav"}).json()
    assert sorted(t["name"] for t in found["tracks"]) == ["copy of one.wav", "gone.wav", "one.wav"]
    assert [t["name"] for t in client.get("/api/tracks", params={"q": "of one"}).json()["tracks"]] == ["copy of one.wav"]
    # a tag over a number: exactly the tracks whose stored probability reaches it
    tag = "quiet"
    values = {t["key"]: next(x["probability"] for x in client.get(f"/api/tracks/{t['key']}").json()["tags"]
                             if x["tag"] == tag) for t in everything["tracks"]}
    ranked = sorted(values.values())
    cut = (ranked[3] + ranked[4]) / 2
    kept = client.get("/api/tracks", params={"tag": tag, "min": cut}).json()
    assert {t["key"] for t in kept["tracks"]} == {k for k, v in values.items() if v >= cut}
    assert 0 < kept["total"] < 6


@pytest.mark.parametrize("params, named", [
    ({"tag": "no such tag"}, "no tag"), ({"tag": "quiet", "min": "2"}, "threshold"),
    ({"tag": "quiet", "min": "card"}, "no thresholds"), ({"sort": "size"}, "sort"), ({"limit": "0"}, "limit"),
    ({"offset": "-1"}, "offset"), ({"limit": "x"}, "limit")])
def test_a_bad_table_parameter_is_named(client, params, named):
    response = client.get("/api/tracks", params=params)
    assert response.status_code == 400 and named in response.json()["error"]


def test_a_track_has_every_tag_its_taggram_and_its_clip(client, app):
    track = client.get(f"/api/tracks/{key_of(client, 'one.wav')}").json()
    labels = app.state.catalog.labels
    assert sorted(t["tag"] for t in track["tags"]) == sorted(labels)
    assert [t["tag"] for t in track["tags"][:3]] == track["top_tags"]
    taggram = track["taggram"]
    assert taggram["labels"] == list(labels) and len(taggram["values"]) == len(labels)
    assert len(taggram["starts"]) == len(taggram["values"][0]) >= 2   # 40 s: two windows
    start, end = track["clip"]
    assert 0 < start < end < track["duration"] and end - start == pytest.approx(29.12, abs=0.01)


def test_neighbours_put_the_near_duplicate_first(client):
    found = client.get(f"/api/tracks/{key_of(client, 'one.wav')}/neighbours", params={"k": 3}).json()["neighbours"]
    assert [n["name"] for n in found][0] == "copy of one.wav" and len(found) == 3
    assert "one.wav" not in [n["name"] for n in found]
    assert found[0]["similarity"] >= found[1]["similarity"] >= found[2]["similarity"]


@pytest.mark.parametrize("url", ["/api/tracks?path=/etc/passwd", "/api/tracks?file=/etc/passwd",
                                 "/audio/..%2F..%2F..%2Fetc%2Fpasswd", "/audio/%2Fetc%2Fpasswd",
                                 "/api/tracks/not-a-key", "/audio/0000000000000000?path=/etc/passwd",
                                 "/track/..%2Fetc"])
def test_a_path_in_a_request_is_refused(client, url):
    response = client.get(url)
    assert response.status_code == 400 and "key" in response.json()["error"]
    assert b"root:" not in response.content


def test_a_key_not_in_the_store_is_404(client):
    for url in ("/api/tracks/0123456789abcdef", "/api/tracks/0123456789abcdef/neighbours",
                "/audio/0123456789abcdef", "/track/0123456789abcdef"):
        response = client.get(url)
        assert response.status_code == 404 and "0123456789abcdef" in response.json()["error"], url


def test_audio_is_the_stored_file_with_ranges(client, library):
    key, path = key_of(client, "one.wav"), library[1]["one.wav"]
    data = open(path, "rb").read()
    whole = client.get(f"/audio/{key}")
    assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav"
    part = client.get(f"/audio/{key}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(f"/audio/{key}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    rest = client.get(f"/audio/{key}", headers={"Range": f"bytes={len(data) - 5}-"})
    assert rest.status_code == 206 and rest.content == data[-5:]
    for past in (f"bytes={len(data)}-", f"bytes={len(data) + 100}-{len(data) + 200}", "bytes=5-2", "bytes=0-1,4-5"):
        refused = client.get(f"/audio/{key}", headers={"Range": past})
        assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{len(data)}", past


def test_audio_is_never_sniffed_or_run_and_a_file_not_audio_is_a_download(client):
    from fcn4.app.audio import audio_headers, content_type

    response = client.get(f"/audio/{key_of(client, 'one.wav')}")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("sandbox")
    assert "content-disposition" not in response.headers
    for name in ("x.html", "y.js", "z.svg", "w.xhtml", "noext"):  # a stranger's store may name them
        assert content_type(name) == "application/octet-stream" and audio_headers(name)["Content-Disposition"] == \
            "attachment", name
    assert content_type("a.MP3") == "audio/mpeg" and "Content-Disposition" not in audio_headers("a.flac")


def test_a_range_of_thousands_of_digits_is_416_and_leaks_no_file_descriptor(client):
    key = key_of(client, "one.wav")
    client.get(f"/audio/{key}", headers={"Range": "bytes=" + "9" * 5000 + "-"})
    before = len(os.listdir("/proc/self/fd"))
    for header in ("bytes=" + "9" * 5000 + "-", "bytes=-" + "1" * 5000, "bytes=0-" + "7" * 40):
        response = client.get(f"/audio/{key}", headers={"Range": header})
        assert response.status_code == 416 and "one range of bytes" in response.text
    assert len(os.listdir("/proc/self/fd")) == before


def test_audio_changed_since_the_store_was_written_says_so(client, library):
    key, path = key_of(client, "one.wav"), library[1]["one.wav"]
    before = os.stat(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    try:
        response = client.get(f"/audio/{key}")
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert response.status_code == 409 and "one.wav has changed since the store was written" in response.json()["error"]
    assert client.get(f"/audio/{key}").status_code == 200


def test_a_vanished_file_says_so(client):
    response = client.get(f"/audio/{key_of(client, 'gone.wav')}")
    assert response.status_code == 404
    assert "gone.wav" in response.json()["error"] and "vanished" in response.json()["error"]


def test_a_file_swapped_for_a_link_is_refused(client, library):
    assert os.path.islink(library[1]["swapped.wav"])
    response = client.get(f"/audio/{key_of(client, 'swapped.wav')}")
    assert response.status_code == 403 and "symbolic link" in response.json()["error"]


def test_an_upload_too_large_is_refused_and_nothing_is_left(client, app):
    limit = app.state.uploads.max_bytes
    declared = client.post("/api/tag", content=b"\0" * (limit + 1))
    assert declared.status_code == 413 and "--max-upload-mb" in declared.json()["error"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(limit // 65536 + 2):
            yield b"\0" * 65536
    streamed = client.post("/api/tag?name=big.wav", content=chunks())
    assert streamed.status_code == 413
    assert os.listdir(app.state.uploads.folder) == []
    assert os.stat(app.state.uploads.folder).st_mode & 0o077 == 0   # a private folder


@pytest.mark.slow
def test_a_dropped_file_is_tagged_with_the_stores_weights(client, app, library):
    data = open(library[1]["query.wav"], "rb").read()
    app.state.uploads.max_bytes = len(data) + 1
    try:
        response = client.post("/api/tag?name=../../query.wav", content=data)
    finally:
        app.state.uploads.max_bytes = 1 << 20
    found = response.json()
    assert response.status_code == 200, found
    assert found["name"] == "query.wav" and len(found["tags"]) == len(app.state.catalog.labels)
    assert {n["name"] for n in found["neighbours"][:2]} == {"one.wav", "copy of one.wav"}
    assert os.listdir(app.state.uploads.folder) == []


def test_a_dropped_file_is_tagged_with_the_stores_inference_settings(app, monkeypatch):
    from fcn4.app.uploads import Uploads
    from fcn4.inference import tagger

    given = {}

    def spy(weights, **options):
        given.update(options)
        raise RuntimeError("stop here")
    monkeypatch.setattr(tagger, "Tagger", spy)
    uploads = Uploads(app.state.uploads.settings, workers=0)
    try:
        with pytest.raises(RuntimeError, match="stop here"):
            uploads._tagger_for_store()
    finally:
        uploads.close()
    assert given["settings"] == app.state.uploads.settings.inference and given["settings"].window == "track"


def test_uploads_write_whole_name_a_full_disk_and_are_bounded_at_once(app, monkeypatch):
    import errno

    from fcn4.app import uploads as module
    from fcn4.base.errors import StorageError

    uploads = module.Uploads(app.state.uploads.settings, workers=0)
    real, calls = os.write, []
    try:
        with uploads.receiving("a.wav") as (path, write), monkeypatch.context() as patch:
            patch.setattr(module.os, "write", lambda fd, data: calls.append(1) or real(fd, bytes(data)[:3]))
            write(b"0123456789")
            assert path.read_bytes() == b"0123456789" and len(calls) == 4  # short writes looped
        with pytest.raises(StorageError, match=re.escape(str(uploads.folder))), \
                uploads.receiving("a.wav") as (path, write), monkeypatch.context() as patch:
            patch.setattr(module.os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
            write(b"x")
        with contextlib.ExitStack() as held:
            for _ in range(module.MAX_RECEIVING):
                held.enter_context(uploads.receiving("a.wav"))
            with pytest.raises(module.TooMany, match="uploads are being received"), uploads.receiving("b.wav"):
                pass
        with uploads.receiving("c.wav"):  # each one done gave its place back
            pass
        assert os.listdir(uploads.folder) == []
    finally:
        uploads.close()


@pytest.mark.slow
def test_a_file_that_is_no_audio_is_named_unusable(client, app):
    response = client.post("/api/tag?name=notes.mp3", content=b"ID3 this is no audio at all" * 10)
    assert response.status_code == 422 and response.json()["error"]
    assert os.listdir(app.state.uploads.folder) == []


def test_the_store_is_described(client, app):
    found = client.get("/api/store").json()
    assert found["tracks"] == 6 and found["window"] == "track" and found["embeddings"] is True
    assert found["labels"] == list(app.state.catalog.labels) and found["thresholds"] is None


def test_neighbours_through_an_ivf_index_read_back_the_stored_vectors(app):
    from fcn4.app.neighbours import Neighbours

    catalog = app.state.catalog
    near = Neighbours(catalog, exact=False).start()
    assert near.wait(60)
    row = next(r for r in range(len(catalog)) if catalog.summary(r)["name"] == "one.wav")
    vector = near.vector_of(row)
    stored = catalog.embedding(row)
    assert abs(float(vector @ stored) / float((stored @ stored) ** 0.5) - 1) < 1e-5   # the same direction
    found = near.search(vector, 2, exclude=catalog.paths[row].as_py())
    assert catalog.summary(found[0][0])["name"] == "copy of one.wav"


@pytest.mark.slow
def test_a_store_of_tags_alone_has_no_neighbours_and_says_so(tmp_path, checkpoint, library):
    from starlette.testclient import TestClient

    from .conftest import SETTINGS
    from fcn4.app.server import create_app
    from fcn4.inference.tagger import Tagger
    from fcn4.library.store import Store, StoreSettings

    with Tagger(checkpoint, workers=0) as tagger:
        store = Store.open_for(tmp_path / "tags", StoreSettings.for_run(tagger, SETTINGS, embeddings=False))
    app = create_app(store, token="t", workers=0)
    try:
        with TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": "Bearer t"}) as client:
            assert client.get("/api/tracks").json()["total"] == 0
            assert client.get("/").status_code == 200
            refused = client.get("/api/tracks/0123456789abcdef/neighbours")
            assert refused.status_code == 404
    finally:
        app.state.close()


def test_the_cards_thresholds_filter_the_table_where_the_weights_have_them(library, monkeypatch):
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    import fcn4.hub.weights
    from fcn4.app import catalog as catalog_module
    from fcn4.app.server import create_app
    from fcn4.library.store import Store

    settings = Store(library[0]).settings
    given = {tag: 0.99 for tag in settings.labels}
    given["quiet"] = 0.8
    monkeypatch.setattr(fcn4.hub.weights, "resolve", lambda name: SimpleNamespace(thresholds=given,
                                                                                  sha256=settings.sha256))
    assert catalog_module.card_thresholds(settings) == given
    app = create_app(library[0], token="t", workers=0)
    try:
        with TestClient(app, base_url="http://127.0.0.1", headers={"Authorization": "Bearer t"}) as client:
            by_card = client.get("/api/tracks", params={"tag": "quiet", "min": "card"}).json()
            by_default = client.get("/api/tracks", params={"tag": "quiet"}).json()   # the card's, unasked
            by_number = client.get("/api/tracks", params={"tag": "quiet", "min": 0.8}).json()
            assert by_card == by_default == by_number and 0 < by_card["total"] < 6
            track = client.get(f"/api/tracks/{by_card['tracks'][0]['key']}").json()
            assert next(t for t in track["tags"] if t["tag"] == "quiet")["threshold"] == 0.8
            assert client.get("/api/store").json()["thresholds"]["quiet"] == 0.8
    finally:
        app.state.close()
    # other weights under the store's name (another sha256), or thresholds out of range: none used
    monkeypatch.setattr(fcn4.hub.weights, "resolve", lambda name: SimpleNamespace(thresholds=given, sha256="0" * 64))
    assert catalog_module.card_thresholds(settings) is None
    monkeypatch.setattr(fcn4.hub.weights, "resolve", lambda name: SimpleNamespace(
        thresholds={**given, "quiet": 1.5}, sha256=settings.sha256))
    assert catalog_module.card_thresholds(settings) is None


def test_thresholds_are_read_from_the_cards_thresholds_section(library, monkeypatch, tmp_path):
    from types import SimpleNamespace

    import fcn4.hub.weights
    from fcn4.app.catalog import card_thresholds
    from fcn4.hub.cards import SAMPLE_CARD, with_thresholds
    from fcn4.library.store import Store

    settings = Store(library[0]).settings
    given = {tag: round(0.1 + 0.01 * i, 3) for i, tag in enumerate(settings.labels)}
    card = tmp_path / "card.md"
    card.write_text(with_thresholds(SAMPLE_CARD, given), encoding="utf-8")
    monkeypatch.setattr(fcn4.hub.weights, "resolve",
                        lambda name: SimpleNamespace(card_path=str(card), sha256=settings.sha256))
    assert card_thresholds(settings) == given
    card.write_text(SAMPLE_CARD, encoding="utf-8")   # a card without them: none, and the table works as before
    assert card_thresholds(settings) is None
