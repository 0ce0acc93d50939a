"""A download never takes more bytes than announced or allowed: a server that never stops sending is
cut off at the limit (FCN4_LIMIT_DOWNLOAD_BYTES), nothing is kept, and the error says how to raise it."""
import gzip
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fcn4.hub.download import DownloadError, download_file

FAST = dict(timeout=(2.0, 2.0), backoff=0.01, retries=1)
#: 64 MiB of zeros, gzipped (about 64 KB).
BOMB = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
#: What the endless server ever sends to one client, whatever happens (the test's own bound).
HARD_CAP = 64 << 20


class Hostile:
    """Routes: /endless (no length, sends until the client leaves), /huge (announces 10 GB, sends until
    the client leaves), /liar (announces 1,000 bytes, sends 5,000), /exact (announces and sends 4,000)."""

    def __init__(self):
        self.sent = {}
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                if self.path == "/gzip":  # 64 MiB of zeros in 64 KB: a body that inflates 1000-fold
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(BOMB)))
                    self.end_headers()
                    self.wfile.write(BOMB)
                    return
                if self.path == "/huge":
                    self.send_header("Content-Length", str(10 << 30))
                elif self.path == "/liar":
                    self.send_header("Content-Length", "1000")
                elif self.path == "/exact":
                    self.send_header("Content-Length", "4000")
                self.end_headers()
                if self.path in ("/liar", "/exact"):
                    self.wfile.write(b"x" * (5000 if self.path == "/liar" else 4000))
                    return
                chunk, sent = b"\0" * 65536, 0
                try:
                    while sent < HARD_CAP:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except OSError:  # the client went away: what a bounded download does
                    pass
                finally:
                    hostile.sent[self.path] = hostile.sent.get(self.path, 0) + sent

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"


@pytest.fixture
def hostile():
    server = Hostile()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_an_endless_body_is_cut_off_at_the_limit_and_nothing_is_kept(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("FCN4_LIMIT_DOWNLOAD_BYTES", str(2 << 20))
    url = hostile.url("/endless")
    with pytest.raises(DownloadError) as info:
        download_file(url, tmp_path / "w.ckpt", **FAST)
    message = str(info.value)
    assert url in message and "2,097,152" in message and "FCN4_LIMIT_DOWNLOAD_BYTES" in message
    assert list(tmp_path.iterdir()) == []  # no .part left
    assert hostile.sent.get("/endless", 0) < HARD_CAP  # the client stopped reading, the server noticed


def test_an_announced_size_above_the_limit_is_refused_before_reading(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("FCN4_LIMIT_DOWNLOAD_BYTES", str(1 << 20))
    url = hostile.url("/huge")
    with pytest.raises(DownloadError, match=r"announces 10,737,418,240 bytes.*FCN4_LIMIT_DOWNLOAD_BYTES") as info:
        download_file(url, tmp_path / "w.ckpt", **FAST)
    assert url in str(info.value) and list(tmp_path.iterdir()) == []


def test_never_more_bytes_than_content_length_are_taken(hostile, tmp_path):
    target = download_file(hostile.url("/liar"), tmp_path / "w.bin", **FAST)
    assert target.stat().st_size == 1000


def test_a_declared_size_stops_a_longer_body_and_accepts_the_exact_one(hostile, tmp_path):
    with pytest.raises(DownloadError, match="declared to have 1,000"):
        download_file(hostile.url("/exact"), tmp_path / "w.bin", size=1000, **FAST)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DownloadError, match="declared to have 1,000"):
        download_file(hostile.url("/endless"), tmp_path / "w.bin", size=1000, **FAST)
    assert download_file(hostile.url("/exact"), tmp_path / "w.bin", size=4000, **FAST).stat().st_size == 4000


def test_a_full_disk_during_a_download_names_the_folder(hostile, tmp_path, monkeypatch):
    import errno

    import fcn4.hub.download as download

    real_open = open

    def full(path, mode="r", *args, **kwargs):
        if "b" in mode and ("w" in mode or "a" in mode) and str(path).endswith(".part"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(download, "open", full, raising=False)
    with pytest.raises(DownloadError) as info:
        download_file(hostile.url("/exact"), tmp_path / "w.bin", **FAST)
    assert str(tmp_path) in str(info.value) and "No space left" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_gzip_body_is_taken_as_its_bytes_never_inflated(hostile, tmp_path, monkeypatch):
    """A server may send a compressed body unasked: the bytes counted, limited, hashed and kept are
    the ones on the wire, so a small bomb can neither inflate past the limit nor pass for the file."""
    monkeypatch.setenv("FCN4_LIMIT_DOWNLOAD_BYTES", str(1 << 20))  # far below the inflated 64 MiB
    target = download_file(hostile.url("/gzip"), tmp_path / "w.ckpt", hashlib.sha256(BOMB).hexdigest(), **FAST)
    assert target.read_bytes() == BOMB
