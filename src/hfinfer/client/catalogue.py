"""What there is to ask: the Hub's word on one model, the router's catalogue, and
the Hub's list of models an Inference Provider serves for a task."""

from __future__ import annotations

from typing import Any

from ..http.session import HttpClient
from ..providers.hf_router import HuggingFaceRouter
from ..types import ModelInfo, RouterModel
from .connection import Connection

__all__ = ["hub_models_for_task", "model_info_of", "router_models"]


async def model_info_of(conn: Connection, model: str) -> ModelInfo:
    """:meth:`AsyncClient.model_info`: the router's provider when the client has
    one, else a router made for the question."""
    if conn.route == "router":
        return await conn.provider.model_info(model)
    async with HuggingFaceRouter(**conn.options) as router:
        return await router.model_info(model)


async def router_models(conn: Connection, *, refresh: bool) -> list[RouterModel]:
    """:meth:`AsyncClient.models`: the router's catalogue, cached."""
    entries = await HuggingFaceRouter.router_models.fetch(
        api_base=conn.router_url,
        api_key=conn.options["api_key"],
        proxy=conn.options["proxy"],
        refresh=refresh,
        strict=True,
    )
    return [RouterModel.from_entry(e) for e in entries if isinstance(e.get("id"), str)]


async def hub_models_for_task(
    conn: Connection, task: str, *, search: str | None, limit: int
) -> list[dict[str, Any]]:
    """:meth:`AsyncClient.hub_models`: the Hub's listing, most trending first."""
    from ..hub.metadata import Hub

    params = {
        "pipeline_tag": task,
        "inference_provider": "all",
        "search": search,
        "sort": "trendingScore",
        "limit": limit,
        "expand[]": "inferenceProviderMapping",
    }
    async with HttpClient(conn.settings()) as http:
        return await Hub(http).list_models(**params)
