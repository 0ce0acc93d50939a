"""Download a file over HTTP(S), verifying its sha256 while it streams.

The bytes go to a hidden temporary file in the target folder; only once the whole body has
arrived and its sha256 matches is it renamed to the target name. A mismatch, an HTTP error, a
stalled or cut connection therefore never leaves a file under the target name. Cut connections
and server errors are retried a bounded number of times, resuming with a ``Range`` request when
the server allows it.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..base.errors import FCN4Error, DownloadError, IntegrityError
from ..base.files import replace_durably, temporary_beside
from ..base.limits import limit, limit_hint
from ..base.progress import progress_bar, show_progress

__all__ = ["DownloadError", "IntegrityError", "download_file", "sha256_file", "CHUNK_SIZE"]

CHUNK_SIZE = 1 << 20
_RETRY_STATUS = (408, 425, 429, 500, 502, 503, 504)


def sha256_file(path, chunk_size: int = CHUNK_SIZE) -> str:
    """The sha256 of a file, read in chunks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(url: str, target, sha256: str | None = None, *, timeout=(10.0, 60.0),
                  retries: int = 3, backoff: float = 1.0, progress: bool | None = None,
                  session=None, size: int | None = None) -> Path:
    """Fetch ``url`` into ``target``, keeping it only if complete and, given ``sha256``, matching.

    Parameters
    ----------
    url : str
        http(s) address of the file.
    target : path
        Where the verified file ends up; its folder is created.
    sha256 : str, optional
        Expected lower-case hex digest. Without it the file is kept unverified.
    timeout : (float, float)
        Seconds to connect, and seconds of silence mid-stream before the attempt counts as stalled.
    retries : int
        Further attempts after a cut, a stall or a 5xx/429 answer (never after a 4xx).
    progress : bool, optional
        Show a tqdm bar; by default only when stderr is a terminal.
    size : int, optional
        The size the file must have (where a card declares one): more bytes are never read, fewer
        are a truncated download.

    Never more bytes are read than the server's ``Content-Length`` (fewer are a truncated download),
    than ``size``, or than :func:`~fcn4.base.limits.limit` ``download_bytes`` (4 GiB; set
    ``FCN4_LIMIT_DOWNLOAD_BYTES`` to raise it): a server that never stops sending is cut off there,
    and nothing is kept.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    DownloadError
        HTTP error status, stall or cut connection after the last retry, or a body larger than
        allowed (URL and reason named).
    IntegrityError
        The bytes arrived but their sha256 differs from ``sha256``.
    """
    target = Path(target)
    if urlsplit(str(url)).scheme not in ("http", "https"):
        raise DownloadError(url, "only http(s) links are downloaded; fix the card's asset-link, or place the "
                                 f"file by hand at {target}")
    expected = sha256.lower() if sha256 else None
    show = show_progress(progress)
    import requests  # here: a cached checkpoint never pays for importing it
    import urllib3

    http = session or requests.Session()
    cap = limit("download_bytes") if size is None else min(int(size), limit("download_bytes"))
    with temporary_beside(target, ".part") as tmp:
        digest, received, last_error = hashlib.sha256(), 0, None
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            # identity: the bytes counted, limited and hashed are the file's, never a decoded stream's
            headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={received}-"} if received else {})}
            try:
                with http.get(url, stream=True, timeout=timeout, headers=headers) as response:
                    if response.status_code not in (200, 206):
                        reason = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
                        if response.status_code in _RETRY_STATUS:
                            last_error = reason
                            continue
                        raise DownloadError(url, f"{reason}; check the link, or download the file "
                                                 f"by hand and place it at {target}")
                    if received and not _resumes_at(response, received):  # Range ignored: start over
                        digest, received = hashlib.sha256(), 0
                    total = _expected_size(response, received)
                    if total is not None and total > cap:
                        raise DownloadError(url, _too_large(f"the server announces {total:,} bytes", cap, size))
                    # Never more than the server announced, nor than the limit.
                    allowed = cap if total is None else total
                    mode = "ab" if received else "wb"
                    if response.status_code == 206 and not received:
                        raise DownloadError(url, "the server answered a plain request with a partial "
                                                 "body (HTTP 206)")
                    with open(tmp, mode) as handle, progress_bar(total, target.name, "B", show, initial=received, unit_scale=True, unit_divisor=1024) as bar:
                        # The raw bytes, never decompressed: a server that sends a gzip body anyway
                        # cannot inflate it past the counts (its bytes then fail the sha256).
                        for chunk in response.raw.stream(CHUNK_SIZE, decode_content=False):
                            if received + len(chunk) > allowed:
                                if total is not None and allowed == total:
                                    raise DownloadError(url, f"the server sent more than the {total:,} bytes it "
                                                             "announced (Content-Length); nothing was kept")
                                raise DownloadError(url, _too_large(f"more than {allowed:,} bytes arrived", cap, size))
                            handle.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                    if total is not None and received < total:
                        last_error = f"connection closed after {received:,} of {total:,} bytes"
                        continue
                    if size is not None and received < size:
                        last_error = f"connection closed after {received:,} of the file's {size:,} bytes"
                        continue
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    urllib3.exceptions.HTTPError) as exc:  # (the raw stream raises urllib3's own)
                last_error, retry = _describe(exc, received)
                if not retry:
                    raise DownloadError(url, f"{last_error}; connect, or place the file by hand at {target}") from exc
                continue
            except requests.RequestException as exc:  # a redirect to file:// or to a bad URL, too many redirects
                raise DownloadError(url, f"{type(exc).__name__}: {exc}; the link (or where it redirects) cannot be "
                                         f"downloaded: place the file by hand at {target}") from exc
            except OSError as exc:  # writing the file: a full disk, a lost permission
                raise DownloadError(url, f"cannot write {target.parent}: {exc.strerror or exc} (after {received:,} "
                                         "bytes); free space or choose another hub dir (FCN4_HUB_DIR)") from exc
            break
        else:
            raise DownloadError(url, f"{last_error} (gave up after {retries + 1} attempts); "
                                     f"re-run to try again, or place the file by hand at {target}")
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise IntegrityError(url, expected, actual, received)
        replace_durably(tmp, target)
    return target


def _too_large(what: str, cap: int, size: int | None) -> str:
    if size is not None and cap == size:
        return (f"{what}, but the file is declared to have {size:,}; nothing was kept: the link may lead to "
                "another file")
    return (f"{what}, more than the download limit allows ({limit_hint('download_bytes')}); the download was "
            "stopped and nothing was kept")


def _resumes_at(response, offset: int) -> bool:
    return (response.status_code == 206
            and response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"))


def _expected_size(response, received: int) -> int | None:
    length = response.headers.get("Content-Length")
    if length is None or not length.isdigit():
        return None
    return int(length) + (received if response.status_code == 206 else 0)


def _describe(exc: Exception, received: int) -> tuple[str, bool]:
    """What went wrong, in words, and whether another attempt may help."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return "could not connect in time (offline, or the server is down)", True
    text = str(exc)
    if isinstance(exc, requests.Timeout) or "Read timed out" in text:
        return f"the server stopped sending after {received:,} bytes (read timed out)", True
    if isinstance(exc, requests.ConnectionError) and received == 0 and "Connection refused" in text:
        return "connection refused (offline, or the server is down)", True
    if isinstance(exc, requests.ConnectionError) and received == 0 and "resolve" in text.lower():
        return "the host name could not be resolved (offline?)", False  # no DNS: retrying will not help
    return f"connection broken after {received:,} bytes ({type(exc).__name__})", True
