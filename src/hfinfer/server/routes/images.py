"""``POST /v1/images/generations`` (and the files it hands out as URLs)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...protocol.openai_wire import ImageRequest, parse_image_request
from ...types import ImageResponse
from ..edge import endpoint, json_response, read_json, unless_caller_leaves
from ..errors import EdgeError
from ..exchange import Exchange, new_request_id
from ..gateway import Gateway
from ..resolve import Target, first_answer, resolve_model
from .common import call_options

__all__ = ["routes"]


async def _draw(target: Target, image: ImageRequest, index: int, options: dict[str, Any]) -> Any:
    seed = image.options.get("seed")
    extra = dict(image.options)
    if isinstance(seed, int) and not isinstance(seed, bool):
        extra["seed"] = seed + index  # n images of one seed would be one image n times
    return await target.client.image(
        target.model, image.prompt, width=image.width, height=image.height, **extra, **options
    )


async def generate(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """``{"created", "data": [{"b64_json"} | {"url"}]}``: ``n`` images of the prompt."""
    config = gateway.config
    data = await read_json(request, config.max_body_bytes)
    image = parse_image_request(data, max_n=config.max_n, max_side=config.max_image_side)
    exchange.model = image.model
    options = call_options(request, gateway)

    async def call(target: Target) -> list[ImageResponse]:
        # The first image picks the target; the rest go to the one that answered.
        first = await _draw(target, image, 0, options)
        rest = [_draw(target, image, i, options) for i in range(1, image.n)]
        return [first, *await asyncio.gather(*rest)]

    targets = resolve_model(gateway, image.model)
    made, target = await unless_caller_leaves(request, first_answer(targets, call))
    exchange.upstream = target.upstream
    items = [_item(gateway, request, answer, image.response_format) for answer in made]
    return json_response({"created": int(time.time()), "data": items})


def _item(gateway: Gateway, request: Request, answer: ImageResponse, fmt: str) -> dict[str, Any]:
    try:
        body, media_type = answer.data()
    except ValueError:
        if fmt == "url":
            return {"url": answer.url, "revised_prompt": answer.alt}
        raise EdgeError(502, "The upstream answered with an image URL, not image data.",
                        kind="server_error", code="upstream_error") from None  # fmt: skip
    if fmt == "url":
        key = gateway.images.put(body, media_type)
        return {"url": f"{str(request.base_url).rstrip('/')}/v1/images/files/{key}"}
    import base64

    return {"b64_json": base64.b64encode(body).decode("ascii")}


async def image_file(request: Request) -> Response:
    """An image made for a ``response_format: "url"`` request, while it is kept."""
    gateway: Gateway = request.app.state.gateway
    found = gateway.images.get(request.path_params["key"])
    if found is None:
        body = {"error": {"message": "This image URL expired or never existed.",
                          "type": "invalid_request_error", "param": None,
                          "code": "image_not_found"}}  # fmt: skip
        return json_response(body, 404, {"x-should-retry": "false"})
    content, media_type = found
    headers = {"cache-control": "private", "x-request-id": new_request_id()}
    return Response(content, media_type=media_type, headers=headers)


def routes() -> list[BaseRoute]:
    """The image routes."""
    return [
        Route("/v1/images/generations", endpoint("images", generate), methods=["POST"]),
        Route("/v1/images/files/{key}", image_file, methods=["GET"]),
    ]
