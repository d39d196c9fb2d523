"""One call through an :class:`AsyncClient` made for it: :func:`chat` and :func:`embed`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, overload

from ..types import EmbeddingResponse, Messages
from .answers import ChatResponse
from .async_client import AsyncClient
from .stream import ChatStream

__all__ = ["chat", "embed"]


@overload
async def chat(
    model: str, messages: Messages | str, *, stream: Literal[False] = ..., **kwargs: Any
) -> ChatResponse: ...


@overload
async def chat(
    model: str, messages: Messages | str, *, stream: Literal[True], **kwargs: Any
) -> ChatStream: ...


async def chat(
    model: str, messages: Messages | str, *, stream: bool = False, **kwargs: Any
) -> ChatResponse | ChatStream:
    """One chat call through an :class:`AsyncClient` made for it.

    Client options (``api_key``, ``api_base``, ``router_url``, ``proxy``,
    ``max_retries``, ``route``) are taken from ``kwargs``; the rest go to
    :meth:`AsyncClient.chat`. The call opens and closes its own connections
    (a stream's when it ends or is closed).

    >>> reply = await hfinfer.chat("Qwen/Qwen2.5-72B-Instruct", "Name a prime.")
    >>> reply.text, reply.finish_reason
    """
    client = _client_for_call(kwargs)
    return await client.chat(model, messages, stream=stream, **kwargs)  # type: ignore[call-overload]


async def embed(model: str, inputs: str | Sequence[str], **kwargs: Any) -> EmbeddingResponse:
    """One embeddings call through an :class:`AsyncClient` made for it.

    Client options (``api_key``, ``api_base``, ``router_url``, ``proxy``,
    ``max_retries``, ``route``) are taken from ``kwargs``; the rest go to
    :meth:`AsyncClient.embed`.

    >>> result = await hfinfer.embed("BAAI/bge-small-en-v1.5", ["a cat", "a dog"])
    >>> len(result.vectors), result.dimensions
    """
    client = _client_for_call(kwargs)
    async with client:
        return await client.embed(model, inputs, **kwargs)


def _client_for_call(kwargs: dict[str, Any]) -> AsyncClient:
    """A client made of the client options in ``kwargs``, which are taken out of it."""
    names = ("api_key", "api_base", "router_url", "proxy", "max_retries", "route")
    return AsyncClient(**{name: kwargs.pop(name) for name in names if name in kwargs})
