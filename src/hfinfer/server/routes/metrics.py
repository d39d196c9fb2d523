"""``GET /metrics``: Prometheus text format (behind the API key, when there is one)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..auth import authorize
from ..edge import error_response
from ..exchange import Exchange, new_request_id
from ..gateway import Gateway
from ..metrics import CONTENT_TYPE_LATEST

__all__ = ["routes"]


async def metrics(request: Request) -> Response:
    """This process's counters and histograms."""
    gateway: Gateway = request.app.state.gateway
    try:
        authorize(request, gateway.config)
    except Exception as exc:
        return error_response(exc, Exchange("metrics"))
    headers = {"x-request-id": new_request_id()}
    return Response(gateway.metrics.render(), headers=headers, media_type=CONTENT_TYPE_LATEST)


def routes() -> list[BaseRoute]:
    """The metrics route."""
    return [Route("/metrics", metrics, methods=["GET"])]
