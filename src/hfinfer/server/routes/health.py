"""``GET /health``: the process answers (no upstream is asked)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..edge import json_response

__all__ = ["routes"]

_OK = b'{"status":"ok"}'


async def health(request: Request) -> Response:
    """Always 200 while the process serves: for load balancers and orchestrators."""
    return json_response(_OK)


def routes() -> list[BaseRoute]:
    """The health route (no API key needed)."""
    return [Route("/health", health, methods=["GET"])]
