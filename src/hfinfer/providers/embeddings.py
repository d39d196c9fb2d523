"""The embeddings exchange, shared by every route: split the inputs into the
batches a server takes, ask for each in turn, and gather the vectors in input
order with the tokens read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidRequestError
from ..http.session import Exchange, HttpClient
from ..protocol.provider_tasks import FeatureExtraction, check_inputs
from ..types import EmbeddingResponse, Usage

__all__ = ["embed_batches"]


async def embed_batches(
    http: HttpClient,
    base: str,
    builder: FeatureExtraction,
    provider_id: str,
    inputs: str | Sequence[str],
    *,
    model: str,
    provider: str | None,
    dimensions: int | None = None,
    encoding_format: str | None = None,
    batch_size: int | None = None,
    extra: Mapping[str, Any] | None = None,
    exchange: Exchange | None = None,
) -> EmbeddingResponse:
    """One vector per input from ``base`` + the builder's path, ``batch_size``
    inputs per request (default: what the provider takes)."""
    texts = check_inputs(inputs)
    size = builder.max_batch if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidRequestError(f"batch_size must be a positive int, got {batch_size!r}")
    vectors: list[list[float]] = []
    tokens: int | None = None
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        request = builder.request(
            provider_id, batch, dimensions=dimensions, encoding_format=encoding_format,
            extra=extra,
        )  # fmt: skip
        async with http.open(
            "POST",
            f"{base}{request.path}",
            json=request.payload,
            model=model,
            exchange=exchange,
            expect="json",
        ) as response:
            answer = builder.answer(await http.read_json(response), len(batch))
        vectors += answer.vectors
        if answer.prompt_tokens is not None:
            tokens = (tokens or 0) + answer.prompt_tokens
    usage = None if tokens is None else Usage(prompt_tokens=tokens, completion_tokens=0)
    return EmbeddingResponse(vectors, model, provider, usage)
