"""Calls that hfinfer hands on with little of its own: a Responses API body relayed
to the router, and a Hub dataset's Parquet listing and files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..types import RelayedResponse
from .connection import Connection

__all__ = ["dataset_parquet_urls", "download_to", "relay_to_router"]


async def dataset_parquet_urls(conn: Connection, repo: str, config: str, split: str) -> list[str]:
    """:meth:`AsyncClient.dataset_parquet_files`, with the client's key and proxy."""
    from ..hub import datasets

    options = conn.options
    return await datasets.parquet_urls(
        repo, config, split, api_key=options["api_key"], proxy=options["proxy"]
    )


async def download_to(conn: Connection, url: str, target: str | Path) -> Path:
    """:meth:`AsyncClient.download_file`, with the client's key and proxy."""
    from ..hub import datasets

    options = conn.options
    return await datasets.download(
        url, Path(target), api_key=options["api_key"], proxy=options["proxy"]
    )


async def relay_to_router(
    conn: Connection, body: dict[str, Any], *, api_key: str | None, bill_to: str | None
) -> RelayedResponse:
    """:meth:`AsyncClient.relay_responses`: refused on any route but the router's."""
    if conn.route != "router":
        raise InvalidRequestError("Only the router serves the Responses API; this client "
                                  f"speaks {conn.route!r}")  # fmt: skip
    from ..providers.hf_responses import relay_responses

    return await relay_responses(conn.provider, body, api_key=api_key, bill_to=bill_to)
