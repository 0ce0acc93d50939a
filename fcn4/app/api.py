"""The JSON API behind the page (the same is scriptable; docs/guides/app.md lists it), and the audio.

``GET /api/store``, ``GET /api/tracks``, ``GET /api/tracks/{key}``, ``GET /api/tracks/{key}/neighbours``,
``POST /api/tag`` (the file's bytes as the body), ``GET /audio/{key}`` (HTTP ranges). Tracks are named
by their key, never by a path: a ``path`` in a request is refused (400).
"""
from __future__ import annotations

import logging
import os

import anyio
import numpy as np
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..base.errors import FCN4Error, SettingError, StoreError, UnsafePathError
from ..library.keys import file_key
from .audio import Unsatisfiable, Vanished, audio_headers, byte_range, content_type, open_track, read_blocks
from .catalog import MAX_LIMIT
from .neighbours import MAX_NEIGHBOURS
from .uploads import TooLarge, TooMany, check_name

__all__ = ["ROUTES", "error"]

log = logging.getLogger("fcn4.app")
_NO_PATHS = ("path", "file", "filename")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _handled(handler):
    """``handler`` with the app's errors as JSON: a bad parameter 400, an unknown key 404, a link 403."""
    async def wrapped(request):
        asked = [name for name in _NO_PATHS if name in request.query_params]
        if asked:
            return error(400, f"the parameter {asked[0]!r} is refused: tracks are named by their key (see "
                              "/api/tracks), never by a path")
        try:
            return await handler(request)
        except KeyError as exc:
            return error(404, f"no track with the key {exc.args[0]} in this store (keys change when a file "
                              "changes: reload the table)")
        except UnsafePathError as exc:
            return error(403, str(exc))
        except Vanished as exc:
            return error(404, str(exc))
        except (SettingError, ValueError) as exc:
            return error(400, str(exc))
        except StoreError as exc:  # the store cannot answer this (no embeddings, a damaged part): said
            return error(409, str(exc))
        except FCN4Error as exc:
            return error(500, str(exc))
    wrapped.__name__ = handler.__name__
    return wrapped


def _number(request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise SettingError(f"{name} must be a whole number from {low} to {high}, got {text[:40]!r}")
    return value


def _linked(app, row: int) -> dict:
    found = app.state.catalog.summary(row)
    found["audio"] = f"/audio/{found['key']}"
    found["page"] = f"/track/{found['key']}"
    return found


@_handled
async def store(request):
    catalog, uploads = request.app.state.catalog, request.app.state.uploads
    settings = catalog.settings
    return JSONResponse({"folder": str(catalog.store.folder), "weights": settings.weights, "sha256": settings.sha256,
                         "labels": list(catalog.labels), "window": settings.window, "embeddings": settings.embeddings,
                         "tracks": len(catalog), "failed": catalog.failed, "thresholds": catalog.thresholds,
                         "max_upload_bytes": uploads.max_bytes, "neighbours_ready": request.app.state.neighbours.ready})


@_handled
async def tracks(request):
    catalog, q = request.app.state.catalog, request.query_params
    query = q.get("q", "")[:500]
    page = await anyio.to_thread.run_sync(lambda: catalog.page(
        query=query, tag=q.get("tag") or None, at_least=q.get("min"), sort=q.get("sort", "path"),
        descending=q.get("order", "asc") == "desc", offset=_number(request, "offset", 0, 0, 1 << 40),
        limit=_number(request, "limit", 50, 1, MAX_LIMIT)))
    return JSONResponse({"total": page.total, "offset": page.offset, "limit": len(page.rows),
                         "tracks": [_linked(request.app, int(r)) for r in page.rows]})


@_handled
async def track(request):
    catalog = request.app.state.catalog
    row = catalog.row(request.path_params["key"])
    found = await anyio.to_thread.run_sync(catalog.track, row)
    found["audio"] = f"/audio/{found['key']}"
    found["neighbours"] = f"/api/tracks/{found['key']}/neighbours" if catalog.settings.embeddings else None
    return JSONResponse(found)


@_handled
async def neighbours(request):
    app = request.app
    catalog = app.state.catalog
    row = catalog.row(request.path_params["key"])
    k = _number(request, "k", 10, 1, MAX_NEIGHBOURS)

    def search():
        near = app.state.neighbours
        return near.search(near.vector_of(row), k, exclude=catalog.paths[row].as_py())
    found = await anyio.to_thread.run_sync(search)
    return JSONResponse({"key": catalog.summary(row)["key"], "neighbours": [
        {**_linked(app, r), "similarity": round(score, 5)} for r, score in found]})


@_handled
async def tag_file(request):
    app = request.app
    uploads = app.state.uploads
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > uploads.max_bytes:
        return error(413, uploads.limit_message())
    name = check_name(request.query_params.get("name") or request.headers.get("x-filename"))
    try:
        with uploads.receiving(name) as (path, write):
            async for chunk in request.stream():
                write(chunk)
            found = await anyio.to_thread.run_sync(uploads.tag, path, name)
    except TooLarge as exc:
        return error(413, str(exc))
    except TooMany as exc:
        return error(429, str(exc))
    embedding = found.pop("embedding", None)
    if found.get("error"):
        return JSONResponse(found, status_code=422)
    found["neighbours"] = []
    if embedding is not None and app.state.neighbours.available:
        k = _number(request, "k", 10, 1, MAX_NEIGHBOURS)
        near = await anyio.to_thread.run_sync(app.state.neighbours.search, np.asarray(embedding), k)
        found["neighbours"] = [{**_linked(app, r), "similarity": round(score, 5)} for r, score in near]
    return JSONResponse(found)


@_handled
async def audio(request):
    catalog = request.app.state.catalog
    row = catalog.row(request.path_params["key"])
    path = catalog.paths[row].as_py()
    fd, size = open_track(path)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-store", **audio_headers(path)}
    handed = False  # the fd is closed here unless the response took it (read_blocks closes it)
    try:
        info = os.fstat(fd)
        if file_key(path, info.st_size, info.st_mtime_ns) != int(catalog.keys[row]):
            return error(409, f"{path} has changed since the store was written (its size or time differs from "
                              "the one its key was made of): rerun the job to tag it again")
        try:
            wanted = byte_range(request.headers.get("range"), size)
        except Unsatisfiable as exc:
            return Response(str(exc), status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"},
                            media_type="text/plain")
        first, last = (0, size - 1) if wanted is None else wanted
        count = max(0, last - first + 1)
        headers["Content-Length"] = str(count)
        status = 200
        if wanted is not None:
            status = 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = StreamingResponse(read_blocks(fd, first, count), status_code=status, headers=headers,
                                     media_type=content_type(path))
        handed = True
        return response
    finally:
        if not handed:
            os.close(fd)


def _routes():
    from starlette.routing import Route

    return [
        Route("/api/store", store),
        Route("/api/tracks", tracks),
        Route("/api/tracks/{key}", track),
        Route("/api/tracks/{key}/neighbours", neighbours),
        Route("/api/tag", tag_file, methods=["POST"]),
        Route("/audio/{key:path}", audio),
    ]


ROUTES = _routes()
