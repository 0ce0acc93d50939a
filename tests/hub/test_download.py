import hashlib
import time

import pytest

from fcn4.hub.download import DownloadError, IntegrityError, download_file, sha256_file

BODY = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(BODY).hexdigest()
FAST = dict(timeout=(2.0, 0.5), backoff=0.01)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_good_download_is_verified_and_renamed_into_place(server, tmp_path):
    url = server.add("/w.ckpt", BODY)
    target = download_file(url, tmp_path / "w.ckpt", SHA, **FAST)
    assert target.read_bytes() == BODY and sha256_file(target) == SHA
    assert leftovers(tmp_path) == ["w.ckpt"]


def test_wrong_bytes_raise_an_integrity_error_and_leave_no_file(server, tmp_path):
    url = server.add("/w.ckpt", BODY[:-1] + b"x")
    with pytest.raises(IntegrityError) as info:
        download_file(url, tmp_path / "w.ckpt", SHA, **FAST)
    message = str(info.value)
    assert url in message and SHA in message and hashlib.sha256(BODY[:-1] + b"x").hexdigest() in message
    assert leftovers(tmp_path) == []


def test_a_failed_download_never_replaces_a_good_file(server, tmp_path):
    (tmp_path / "w.ckpt").write_bytes(b"the good one")
    url = server.add("/w.ckpt", b"tampered", behaviour="ok")
    with pytest.raises(IntegrityError):
        download_file(url, tmp_path / "w.ckpt", hashlib.sha256(b"other").hexdigest(), **FAST)
    assert (tmp_path / "w.ckpt").read_bytes() == b"the good one"
    assert leftovers(tmp_path) == ["w.ckpt"]


def test_a_body_that_always_ends_early_fails_after_bounded_retries(server, tmp_path):
    url = server.add("/w.ckpt", BODY, behaviour="truncate")
    with pytest.raises(DownloadError, match=r"gave up after 3 attempts") as info:
        download_file(url, tmp_path / "w.ckpt", SHA, retries=2, **FAST)
    assert url in str(info.value) and "bytes" in str(info.value)
    assert len(server.routes["/w.ckpt"].requests) == 3
    assert leftovers(tmp_path) == []


def test_404_fails_at_once_with_the_status_and_url(server, tmp_path):
    url = server.url("/missing.ckpt")
    with pytest.raises(DownloadError, match=r"HTTP 404") as info:
        download_file(url, tmp_path / "w.ckpt", SHA, **FAST)
    assert url in str(info.value) and str(tmp_path / "w.ckpt") in str(info.value)
    assert not isinstance(info.value, IntegrityError) and leftovers(tmp_path) == []


def test_a_server_error_is_retried_then_succeeds(server, tmp_path):
    url = server.add("/w.ckpt", BODY, behaviour="status", status=500, times=1)
    download_file(url, tmp_path / "w.ckpt", SHA, **FAST)
    assert (tmp_path / "w.ckpt").read_bytes() == BODY
    assert len(server.routes["/w.ckpt"].requests) == 2


def test_a_server_error_that_persists_names_the_status(server, tmp_path):
    url = server.add("/w.ckpt", BODY, behaviour="status", status=503, times=99)
    with pytest.raises(DownloadError, match=r"HTTP 503.*gave up after 2 attempts"):
        download_file(url, tmp_path / "w.ckpt", SHA, retries=1, **FAST)
    assert leftovers(tmp_path) == []


def test_a_stalled_server_times_out_quickly_and_leaves_nothing(server, tmp_path):
    url = server.add("/w.ckpt", BODY, behaviour="stall", stall_seconds=3)
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"read timed out|stopped sending"):
        download_file(url, tmp_path / "w.ckpt", SHA, retries=0, **FAST)
    assert time.perf_counter() - start < 2.5
    assert leftovers(tmp_path) == []


def test_a_cut_connection_resumes_with_a_range_request(server, tmp_path):
    body = BODY * 5  # cut at 2.5 MiB: every byte received is kept (the raw stream hands on partial chunks)
    url = server.add("/w.ckpt", body, behaviour="cut-once")
    download_file(url, tmp_path / "w.ckpt", hashlib.sha256(body).hexdigest(), **FAST)
    assert (tmp_path / "w.ckpt").read_bytes() == body
    assert server.routes["/w.ckpt"].requests == [None, f"bytes={5 * len(BODY) // 2}-"]


def test_a_rerun_after_a_cut_succeeds(server, tmp_path):
    url = server.add("/w.ckpt", BODY, behaviour="cut-once")
    with pytest.raises(DownloadError, match="connection"):
        download_file(url, tmp_path / "w.ckpt", SHA, retries=0, **FAST)
    assert leftovers(tmp_path) == []
    download_file(url, tmp_path / "w.ckpt", SHA, retries=0, **FAST)
    assert sha256_file(tmp_path / "w.ckpt") == SHA


def test_an_unreachable_host_says_so(tmp_path):
    with pytest.raises(DownloadError, match="refused|offline") as info:
        download_file("http://127.0.0.1:9/w.ckpt", tmp_path / "w.ckpt", SHA, retries=0, **FAST)
    assert "http://127.0.0.1:9/w.ckpt" in str(info.value)


def test_only_http_links_are_fetched_redirects_included(server, tmp_path):
    target = tmp_path / "w.ckpt"
    with pytest.raises(DownloadError, match="only http"):
        download_file("file:///etc/passwd", target)
    url = server.add("/moved.ckpt", b"", behaviour="redirect", location="file:///etc/passwd")
    with pytest.raises(DownloadError, match=r"moved\.ckpt.*cannot be downloaded: place the file by hand"):
        download_file(url, target, retries=0)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_url_and_the_folder(server, tmp_path, monkeypatch):
    import builtins
    import errno

    url = server.add("/w.ckpt", b"x" * 1000)
    real_open = builtins.open

    def full(path, mode="r", *args, **kwargs):
        if "b" in mode and ("w" in mode or "a" in mode):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full)
    with pytest.raises(DownloadError) as raised:
        download_file(url, tmp_path / "w.ckpt", retries=0)
    assert url in str(raised.value) and str(tmp_path) in str(raised.value) and "No space left" in str(raised.value)
