"""``GET /v1/models`` and ``GET /v1/models/{id}``: what this gateway serves.

The router's catalogue (each entry as the router sent it, so its
``providers`` block, with status, context length, prices and tool support,
is kept), filtered by the allow-list, then the config's aliases and the
models of its own upstreams.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..edge import endpoint, json_response
from ..errors import EdgeError
from ..exchange import Exchange
from ..gateway import Gateway

__all__ = ["routes"]


def _allowed(gateway: Gateway, model_id: str) -> bool:
    allowed = gateway.config.models
    return not allowed or model_id in allowed


async def catalogue(gateway: Gateway) -> list[dict[str, Any]]:
    """Every model entry this gateway lists, in OpenAI's ``model`` shape."""
    config = gateway.config
    entries: list[dict[str, Any]] = [
        {"id": name, "object": "model", "created": 0, "owned_by": "hfinfer",
         "hfinfer": {"use": list(alias.use)}}
        for name, alias in config.aliases.items()
    ]  # fmt: skip
    for upstream in config.upstreams.values():
        entries += [
            {"id": model, "object": "model", "created": 0, "owned_by": upstream.name}
            for model in upstream.models
            if model not in config.aliases
        ]
    listed = {entry["id"] for entry in entries}
    for model in await gateway.router.models():
        if model.id not in listed and _allowed(gateway, model.id):
            entry = {**model.raw, "id": model.id, "object": "model"}
            entry.setdefault("created", 0)
            entry.setdefault("owned_by", model.owned_by or model.id.partition("/")[0])
            entries.append(entry)
    return entries


async def list_models(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """``{"object": "list", "data": [...]}``."""
    return json_response({"object": "list", "data": await catalogue(gateway)})


async def one_model(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """One entry; ids hold slashes (``org/name``), so the path is taken whole."""
    model_id = request.path_params["model_id"]
    exchange.model = model_id
    for entry in await catalogue(gateway):
        if entry["id"] == model_id:
            return json_response(entry)
    raise EdgeError(404, f"The model {model_id!r} is not served by this gateway.",
                    code="model_not_found", param="model")  # fmt: skip


def routes() -> list[BaseRoute]:
    """The model-list routes."""
    return [
        Route("/v1/models", endpoint("models", list_models), methods=["GET"]),
        Route("/v1/models/{model_id:path}", endpoint("models", one_model), methods=["GET"]),
    ]
