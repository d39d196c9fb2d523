"""Embeddings and sentence similarity: through the router's mapping, or on the
server at ``api_base`` in the protocol it speaks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidRequestError
from ..types import EmbeddingResponse
from .connection import Connection

__all__ = ["embed_inputs", "similarity_scores"]


async def embed_inputs(
    conn: Connection, model: str, inputs: str | Sequence[str], provider: str | None,
    options: dict[str, Any],
) -> EmbeddingResponse:  # fmt: skip
    """:meth:`AsyncClient.embed`, for the client's connection (``options``, which this
    call may change, hold ``dimensions`` and ``encoding_format``)."""
    target = conn.target
    if target.kind == "router":
        return await conn.provider.embed(model, inputs, provider=provider, **options)
    if provider is not None:
        raise InvalidRequestError(
            f"provider= chooses among the router's providers; this client talks to "
            f"{target.base} (leave provider out)"
        )
    from ..providers.embeddings import embed_on

    if target.kind == "hf-inference":
        server: Any = await conn.text_route()
        options.setdefault("protocol", "hf-inference")
    else:  # a server of one's own (or an Inference Endpoint): the protocol it speaks
        server = await conn.chat_provider()
        options.setdefault("protocol", "openai" if conn.route == "openai" else "tei")
    return await embed_on(server, model, inputs, **options)


async def similarity_scores(
    conn: Connection, model: str, sentence: str, others: Sequence[str], provider: str | None,
    options: dict[str, Any],
) -> list[float]:  # fmt: skip
    """:meth:`AsyncClient.similarity`, for the client's connection."""
    if conn.target.kind == "router":
        return await conn.provider.similarity(
            model, sentence, others, provider=provider, **options
        )
    from ..protocol.provider_tasks import check_inputs, cosine

    texts = check_inputs(others)
    if not isinstance(sentence, str) or not sentence:
        raise InvalidRequestError("similarity() needs a sentence to compare the others with")
    result = await embed_inputs(conn, model, [sentence, *texts], provider, options)
    first, *rest = result.vectors
    return [cosine(first, vector) for vector in rest]
