"""The gateway's Starlette app: :func:`create_app` and the list of route groups.

A route group is a function returning Starlette routes; :data:`ROUTE_GROUPS`
lists them in order, and ``create_app(config, extra_groups=...)`` appends
more (a later feature adds its own group there). No middleware wraps the
body: each route's :func:`~hfinfer.server.edge.endpoint` does the API-key
check, the request id, the error table and the access log itself.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .config import ServerConfig, load_config
from .edge import json_response
from .gateway import Gateway
from .routes import (
    chat,
    completions,
    embeddings,
    health,
    images,
    metrics,
    models,
    page,
    render,
    responses,
)

__all__ = ["OPTIONS_ENV", "ROUTE_GROUPS", "RouteGroup", "app_from_environment", "create_app"]

RouteGroup = Callable[[], list[BaseRoute]]

#: The route groups of every gateway, in order.
ROUTE_GROUPS: list[RouteGroup] = [
    chat.routes,
    completions.routes,
    embeddings.routes,
    render.routes,
    images.routes,
    models.routes,
    health.routes,
    metrics.routes,
]
#: The Responses API, and the chat page at ``/``.
ROUTE_GROUPS += [responses.routes, page.routes]

#: How ``hfinfer serve`` hands its options to uvicorn's worker processes.
OPTIONS_ENV = "HFINFER_SERVE_OPTIONS"


def create_app(config: ServerConfig, *, extra_groups: Sequence[RouteGroup] = ()) -> Starlette:
    """The gateway for ``config``: OpenAI's routes over hfinfer's client.

    The app opens its clients on startup and closes them on shutdown (its
    lifespan); ``app.state.gateway`` holds them while it runs.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with Gateway(config) as gateway:
            app.state.gateway = gateway
            _freeze_startup_objects()
            yield

    routes = [route for group in (*ROUTE_GROUPS, *extra_groups) for route in group()]
    app = GatewayApp(routes=[*routes, *_method_refusals(routes)], lifespan=lifespan)
    app.router.default = _unknown_route
    return app


def _freeze_startup_objects() -> None:
    """Keep what start-up made (modules, classes, the clients) out of the garbage
    collector's full passes: tens of thousands of objects that live as long as the
    process would otherwise be walked again and again, pausing streams for tens of
    milliseconds on a busy machine."""
    gc.collect()
    gc.freeze()


class GatewayApp(Starlette):
    """Starlette without its default middleware: the router alone.

    Starlette's error middlewares wrap ``send``, which costs a call per streamed
    event; here each route answers its own errors (:class:`~.edge.Endpoint`),
    an unknown path gets :func:`_unknown_route` and a known path with another
    method a route of :func:`_method_refusals`, so nothing is lost.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return self.router


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method_refusals(routes: list[BaseRoute]) -> list[BaseRoute]:
    """For each path, a route answering the methods it does not take with a JSON 405."""
    allowed: dict[str, set[str]] = {}
    for route in routes:
        if isinstance(route, Route) and route.methods:
            allowed.setdefault(route.path, set()).update(route.methods)
    return [
        Route(
            path, _MethodNotAllowed(sorted(methods - {"HEAD"})), methods=sorted(_METHODS - methods)
        )
        for path, methods in allowed.items()
        if _METHODS - methods
    ]


async def _unknown_route(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    response = await _not_found(Request(scope), None)
    await response(scope, receive, send)


class _MethodNotAllowed:
    def __init__(self, allowed: list[str]) -> None:
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = HTTPException(405, headers={"Allow": ", ".join(self.allowed)})
        response = await _method_not_allowed(Request(scope), exc)
        await response(scope, receive, send)


async def _not_found(request: Request, exc: Exception | None) -> Response:
    body = {
        "error": {
            "message": f"No route {request.method} {request.url.path}. The gateway "
            "serves OpenAI's /v1 routes (see GET /v1/models).",
            "type": "invalid_request_error",
            "param": None,
            "code": "unknown_route",
        }
    }
    return json_response(body, 404, {"x-should-retry": "false"})  # fmt: skip


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    allowed = (exc.headers or {}).get("Allow", "") if isinstance(exc, HTTPException) else ""
    body = {
        "error": {
            "message": f"{request.url.path} does not take {request.method}: send "
            f"{allowed or 'another method'} with a JSON body, as OpenAI's API defines it.",
            "type": "invalid_request_error",
            "param": None,
            "code": "method_not_allowed",
        }
    }
    headers = {"x-should-retry": "false", **({"allow": allowed} if allowed else {})}
    return json_response(body, 405, headers)  # fmt: skip


def app_from_environment() -> Starlette:
    """The app ``hfinfer serve`` runs in each worker: options from :data:`OPTIONS_ENV`."""
    options: dict[str, Any] = json.loads(os.environ.get(OPTIONS_ENV) or "{}")
    config_file = options.pop("config", None)
    config = load_config(config_file).with_options(**options)
    _log_access_to_stderr()
    return create_app(config)


def _log_access_to_stderr() -> None:
    logger = logging.getLogger("hfinfer.server.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
