"""``POST /v1/embeddings``: vectors for texts, through ``AsyncClient.embed``."""

from __future__ import annotations

import base64
import struct
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ...protocol.openai_wire import parse_embedding_request
from ..edge import endpoint, json_response, read_json
from ..exchange import Exchange
from ..gateway import Gateway
from ..resolve import Target, first_answer, resolve_model
from .common import call_options

__all__ = ["routes"]


def _encoded(vector: Any, encoding: str) -> Any:
    values = [float(x) for x in vector]
    if encoding == "float":
        return values
    # OpenAI's base64 form: little-endian float32, what its client decodes.
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


async def embeddings(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], ...}``."""
    config = gateway.config
    data = await read_json(request, config.max_body_bytes)
    wanted = parse_embedding_request(data, max_inputs=config.max_embedding_inputs)
    exchange.model = wanted.model
    options = call_options(request, gateway)
    if wanted.dimensions is not None:
        options["dimensions"] = wanted.dimensions

    async def call(target: Target) -> Any:
        return await target.client.embed(target.model, wanted.inputs, **options)

    answer, target = await first_answer(resolve_model(gateway, wanted.model), call)
    exchange.upstream = target.upstream
    exchange.provider = getattr(answer, "provider", None)
    usage = getattr(answer, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None) or 0
    exchange.prompt_tokens = prompt_tokens or None
    items = [
        {"object": "embedding", "index": i, "embedding": _encoded(v, wanted.encoding_format)}
        for i, v in enumerate(answer.vectors)
    ]
    body = {
        "object": "list",
        "data": items,
        "model": wanted.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return json_response(body)


def routes() -> list[BaseRoute]:
    """The embeddings route."""
    return [Route("/v1/embeddings", endpoint("embeddings", embeddings), methods=["POST"])]
