"""The chat page at ``/``: static files shipped in the package (``server/page``).

The page talks only to this gateway (its own ``/v1/models`` and
``/v1/chat/completions``), so it needs no network beyond it and no API key to
load: the key, when the gateway has one, is asked for by the page and sent
with its API calls.
"""

from __future__ import annotations

from importlib.resources import files

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["routes"]

#: The files of the page and their media types; nothing else is served.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "markdown.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_HEADERS = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
_cache: dict[str, bytes] = {}


def _read(name: str) -> bytes:
    body = _cache.get(name)
    if body is None:
        body = _cache[name] = (files("hfinfer.server") / "page" / name).read_bytes()
    return body


async def index(request: Request) -> Response:
    """``GET /``: the chat page."""
    return Response(_read("index.html"), 200, _HEADERS, media_type=PAGE_FILES["index.html"])


async def asset(request: Request) -> Response:
    """``GET /page/{name}``: the page's script and style sheet."""
    name = request.path_params["name"]
    if name not in PAGE_FILES:
        return Response(b"Not found", 404, _HEADERS, media_type="text/plain")
    return Response(_read(name), 200, _HEADERS, media_type=PAGE_FILES[name])


def routes() -> list[BaseRoute]:
    """The page's routes."""
    return [Route("/", index, methods=["GET"]), Route("/page/{name}", asset, methods=["GET"])]
