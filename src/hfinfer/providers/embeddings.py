"""The embeddings exchange, shared by every route: split the inputs into the
batches a server takes, ask for each in turn, and gather the vectors in input
order with the tokens read; and :func:`embed_on`, a server spoken to directly
(hf-inference's route, TEI, an OpenAI-compatible server) through a provider's pool."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import InvalidRequestError
from ..http.session import Exchange, HttpClient
from ..protocol.provider_tasks import (
    FeatureExtraction,
    HFInferenceEmbeddings,
    OpenAIEmbeddings,
    TEIEmbeddings,
    check_inputs,
)
from ..types import EmbeddingResponse, Usage
from .pooled import PooledProvider, call_client

__all__ = ["EmbeddingProtocol", "embed_batches", "embed_on"]

#: How a server is asked for embeddings: hf-inference's pipeline
#: (``{base}/models/{id}/pipeline/feature-extraction``), TEI's ``{base}/embed``,
#: or OpenAI's ``{base}/v1/embeddings``.
EmbeddingProtocol = Literal["hf-inference", "tei", "openai"]


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


async def embed_on(
    provider: PooledProvider,
    model: str,
    inputs: str | Sequence[str],
    *,
    protocol: str = "hf-inference",
    dimensions: int | None = None,
    encoding_format: str | None = None,
    batch_size: int | None = None,
    **kwargs: Any,
) -> EmbeddingResponse:
    """Embeddings from ``provider``'s own base (its ``api_base``), spoken as
    ``protocol``; a model given as a URL is a TEI endpoint. A key given for a
    server that is not Hugging Face's is sent to that server only."""
    name = model.rstrip("/") if isinstance(model, str) else ""
    endpoint = name if name.startswith(("http://", "https://")) else None
    call = provider._options(kwargs, server=endpoint)
    base = endpoint or call.api_base
    builder: FeatureExtraction
    if endpoint is not None or protocol == "tei":
        builder, name = TEIEmbeddings(), "" if endpoint else name
    elif protocol == "openai":
        builder = OpenAIEmbeddings(
            route="/embeddings" if base.endswith("/v1") else "/v1/embeddings"
        )
    elif protocol == "hf-inference":
        builder = HFInferenceEmbeddings()
    else:
        raise InvalidRequestError(
            f"protocol must be 'hf-inference', 'tei' or 'openai', got {protocol!r}"
        )
    if not isinstance(builder, TEIEmbeddings) and not name:
        raise InvalidRequestError("embed() needs a model id, e.g. 'BAAI/bge-small-en-v1.5'")
    async with call_client(provider, call) as http:
        return await embed_batches(
            http, base, builder, name, inputs, model=name or base,
            provider="hf-inference" if type(builder) is HFInferenceEmbeddings else None,
            dimensions=dimensions, encoding_format=encoding_format, batch_size=batch_size,
            extra={**call.extra, **kwargs}, exchange=call.exchange,
        )  # fmt: skip
