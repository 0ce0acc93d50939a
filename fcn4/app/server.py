"""``fcn4 app``: a page over a store, served on 127.0.0.1 only, behind a random token (as Jupyter does).

The URL printed at the start carries the token (``?token=...``); the first page opened with it moves
it into a cookie (HttpOnly, SameSite=Strict, named for this server) and drops it from the address
bar, so the page's own requests carry it. A request without the token, or naming another host than
this machine (DNS rebinding), is refused (403). Scripts send it as ``Authorization: Bearer TOKEN``.

>>> with serving("my_store", port=0) as server:          # doctest: +SKIP
...     print(server.url)
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from ..base.errors import SettingError
from ..library.extra import require
from ..library.store import Store
from .catalog import Catalog
from .neighbours import Neighbours
from .uploads import MAX_UPLOAD_MB, Uploads

__all__ = ["create_app", "serving", "serve", "Running", "HOST", "EXTRA"]

log = logging.getLogger("fcn4.app")
HOST = "127.0.0.1"
EXTRA = "pip install 'fcn4-mindspore[app]'"
_HERE = Path(__file__).parent
_LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
_CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def require_app() -> None:
    """Say what to install when the ``[app]`` extra is missing (and the store's: pyarrow, faiss)."""
    import importlib.util

    from ..base.errors import MissingExtra

    missing = [m for m in ("starlette", "uvicorn", "jinja2") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"`fcn4 app` needs {', '.join(missing)}, not installed here: {EXTRA}")
    require("pyarrow", "faiss")


class TokenGate:
    """ASGI middleware: every request needs the token (query ``token``, the cookie, or ``Authorization:
    Bearer``) and a Host naming this machine; a page opened with ``?token=`` is redirected without it,
    the token set as a cookie."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token
        self.cookie = "fcn4-" + hashlib.sha256(token.encode()).hexdigest()[:12]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "").rsplit(":", 1)[0] if not headers.get("host", "").startswith("[") \
            else headers["host"].split("]")[0] + "]"
        if host not in _LOCAL_NAMES:
            return await _refuse(send, 403, f"this server answers requests to {HOST} only, not to {host[:80]!r}")
        foreign = _cross_site(scope, headers)
        if foreign:
            return await _refuse(send, 403, foreign)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get("token")
        held = _cookie(headers.get("cookie", ""), self.cookie)
        bearer = headers.get("authorization", "")
        bearer = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        if not any(t is not None and secrets.compare_digest(t.encode(), self.token.encode())
                   for t in (given, held, bearer)):
            return await _refuse(send, 403, "this server needs its token: open the URL `fcn4 app` printed "
                                            "(it ends in ?token=...), or send `Authorization: Bearer TOKEN`")
        if given is not None and scope["method"] == "GET" and not scope["path"].startswith(("/api/", "/audio/")):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope["path"] + (f"?{rest}" if rest else "")
            set_cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", location.encode("latin-1")), (b"set-cookie", set_cookie.encode("latin-1")),
                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
            return await send({"type": "http.response.body", "body": b""})

        async def secured(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer")]
            await send(message)
        return await self.app(scope, receive, secured)


_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _cookie(header: str, name: str) -> str | None:
    """The value of the cookie ``name`` in a Cookie header, found by hand: ``SimpleCookie.load`` stops
    at the first malformed cookie, and another app on 127.0.0.1 may have set one before ours."""
    for part in header[:16384].split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None


def _cross_site(scope, headers: dict) -> str | None:
    """Why a request comes from another site, or None. Another port of 127.0.0.1 is another origin (the
    cookie's SameSite is blind to ports): the Host header's port must be this server's, and a request
    that changes something or reads the API must come from this very origin (``Origin``,
    ``Sec-Fetch-Site``) when the browser says where it comes from."""
    server = scope.get("server")
    given = headers.get("host", "")
    port = given.rsplit(":", 1)[1] if given.rsplit("]", 1)[-1].count(":") else ""
    if server and server[1] is not None and (port or "80") != str(server[1]):
        return f"this server answers on port {server[1]} only, not on {(port or '80')[:12]!r} (the Host header)"
    if scope["method"] in _SAFE_METHODS and not scope["path"].startswith(("/api/", "/audio/")):
        return None  # a page opened from a link elsewhere: it still needs the token
    site, origin = headers.get("sec-fetch-site"), headers.get("origin")
    if site is not None and site not in ("same-origin", "none"):
        return f"a request from another site ({site[:20]}) is refused: open the app's own page"
    if origin is not None and origin != f"{scope.get('scheme', 'http')}://{given}":
        return f"a request from another origin ({origin[:80]!r}) is refused: open the app's own page"
    return None


async def _refuse(send, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(store, *, token: str | None = None, max_upload_mb: float = MAX_UPLOAD_MB, workers: int = 1,
               tagger_factory=None):
    """The ASGI app over ``store`` (a folder or :class:`~fcn4.library.store.Store`); ``app.state.token`` is
    its token (random unless given). Close it with ``app.state.close()`` (the upload folder, the tagger)."""
    require_app()
    import jinja2
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from .api import ROUTES, error
    from .pages import page_routes

    if not (isinstance(max_upload_mb, (int, float)) and 0 < max_upload_mb <= 1 << 20):
        raise SettingError(f"--max-upload-mb must be a number of MiB > 0, got {max_upload_mb!r}")
    store = store if isinstance(store, Store) else Store(store)
    token = token or secrets.token_urlsafe(24)
    catalog = Catalog(store)
    uploads = Uploads(store.settings, max_bytes=int(max_upload_mb * (1 << 20)), workers=workers,
                      tagger_factory=tagger_factory)
    neighbours = Neighbours(catalog).start()
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_HERE / "templates")), autoescape=True)

    async def not_found(request, exc):
        return error(getattr(exc, "status_code", 404), getattr(exc, "detail", None) or "not found")

    app = Starlette(routes=[*ROUTES, *page_routes(templates),
                            Mount("/static", app=StaticFiles(directory=str(_HERE / "static")), name="static")],
                    middleware=[Middleware(TokenGate, token=token)], exception_handlers={404: not_found, 405: not_found})
    app.state.catalog, app.state.uploads, app.state.neighbours, app.state.token = catalog, uploads, neighbours, token
    app.state.close = uploads.close
    return app


@dataclass
class Running:
    """A server made by :func:`start`: its ``url`` (with the token), ``app``, uvicorn ``server``, bound ``socket``."""
    url: str
    port: int
    app: object
    server: object
    socket: object


@contextlib.contextmanager
def serving(store, *, port: int = 0, **options):
    """Serve ``store`` on 127.0.0.1:``port`` (0: a free one) on a thread for the block; stopped after."""
    running = start(store, port=port, **options)
    thread = threading.Thread(target=running.server.run, kwargs={"sockets": [running.socket]},
                              name="fcn4-app", daemon=True)
    thread.start()
    try:
        while not running.server.started and thread.is_alive():
            thread.join(0.02)
        yield running
    finally:
        running.server.should_exit = True
        thread.join(10)
        running.app.state.close()


def start(store, *, port: int = 0, log_level: str = "warning", **options) -> Running:
    """The app and its uvicorn server, its socket bound to 127.0.0.1:``port`` (not yet serving)."""
    import uvicorn

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SettingError(f"--port must be 0 (a free port) to 65535, got {port!r}")
    app = create_app(store, **options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(128)  # connections wait in the backlog from now on, before uvicorn serves them
    except OSError as exc:
        sock.close()
        app.state.close()
        raise SettingError(f"cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port, or 0 "
                           "for a free one") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, host=HOST, port=bound, log_level=log_level, access_log=False,
                            server_header=False, date_header=False)
    server = uvicorn.Server(config)
    return Running(f"http://{HOST}:{bound}/?token={app.state.token}", bound, app, server, sock)


def serve(running: Running) -> None:
    """Serve until Ctrl-C or SIGTERM: open requests finish, the upload folder is removed.

    uvicorn runs on a thread; this (main) thread holds the signals. A native library loaded with the
    tagger (on the first dropped file) may install its own C handler for SIGINT, which would end the
    process without this cleanup: the handlers are installed again after every tagged file.
    """
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=running.server.run, kwargs={"sockets": [running.socket]}, name="fcn4-app",
                              daemon=True)
    tagged = running.app.state.uploads.tagged
    try:
        for sig in previous:
            signal.signal(sig, stop)
        thread.start()
        while thread.is_alive():
            thread.join(0.25)
            if tagged.is_set():
                tagged.clear()
                for sig in previous:
                    signal.signal(sig, stop)
    except KeyboardInterrupt:
        pass
    finally:
        running.server.should_exit = True
        thread.join(30)
        running.app.state.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        log.info("stopped")
