"""The two pages (server-side templates, plain JavaScript and CSS from the package: nothing from a CDN):
the library (``/``) and a track (``/track/{key}``); both take a dropped audio file."""
from __future__ import annotations

from starlette.responses import HTMLResponse, Response

from ..base.errors import SettingError
from .api import error

__all__ = ["page_routes"]


def page_routes(templates):
    """Routes of the pages, rendered by the Jinja2 ``templates`` (autoescaped: paths are strangers' text)."""
    from starlette.routing import Route

    def render(name: str, request, **values) -> HTMLResponse:
        catalog = request.app.state.catalog
        html = templates.get_template(name).render(
            store=str(catalog.store.folder), tracks=len(catalog), failed=catalog.failed,
            weights=catalog.settings.weights, labels=catalog.labels, thresholds=bool(catalog.thresholds),
            window=catalog.settings.window, embeddings=catalog.settings.embeddings,
            max_upload=request.app.state.uploads.max_bytes, **values)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def library(request):
        return render("library.html", request)

    async def track(request):
        catalog = request.app.state.catalog
        try:
            row = catalog.row(request.path_params["key"])
        except SettingError as exc:
            return error(400, str(exc))
        except KeyError:
            return error(404, f"no track with the key {request.path_params['key'][:40]} in this store")
        return render("track.html", request, track=catalog.summary(row))

    async def favicon(request):
        return Response(status_code=204)

    return [Route("/", library), Route("/track/{key:path}", track), Route("/favicon.ico", favicon)]
