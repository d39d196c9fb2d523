"""Embeddings (``feature-extraction``) requests and answers, one small pure builder
per provider: what to send for a batch of inputs and how to read the vectors
back. No I/O.

Two protocols cover today's providers: OpenAI's ``/v1/embeddings``
(``{"input": [...], "model"}`` → ``{"data": [{"embedding", "index"}], "usage"}``;
together, deepinfra, scaleway and any OpenAI-compatible server) and
hf-inference's feature-extraction pipeline, which is TEI's (``{"inputs": [...]}``
→ one vector per input, or one per token, then mean-pooled here).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import InvalidRequestError, ResponseError
from ..repo_ids import check_provider_id

__all__ = [
    "EmbeddingAnswer",
    "EmbeddingRequest",
    "FeatureExtraction",
    "HFInferenceEmbeddings",
    "OpenAIEmbeddings",
    "TEIEmbeddings",
    "check_inputs",
    "mean_pool",
]


@dataclass(frozen=True)
class EmbeddingRequest:
    """What to send: ``path`` below the provider's base and the JSON ``payload``."""

    path: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class EmbeddingAnswer:
    """The vectors of one answer, in input order, and the tokens it reports."""

    vectors: list[list[float]]
    prompt_tokens: int | None = None


class FeatureExtraction:
    """One provider's embeddings request. ``max_batch`` caps the inputs per request
    (longer lists are split by the caller); ``dimensions`` and ``encoding_format``
    are refused where the protocol has no such field."""

    provider: ClassVar[str] = ""
    task: ClassVar[str] = "feature-extraction"
    max_batch: ClassVar[int] = 32
    supports_dimensions: ClassVar[bool] = False

    def path(self, provider_id: str) -> str:
        raise NotImplementedError

    def payload(
        self, provider_id: str, inputs: list[str], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        raise NotImplementedError

    def request(
        self,
        provider_id: str,
        inputs: Sequence[str],
        *,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> EmbeddingRequest:
        """The request for one batch of ``inputs`` (:attr:`max_batch` at most is what
        the provider takes; the caller splits longer lists)."""
        texts = check_inputs(inputs)
        options: dict[str, Any] = {}
        if dimensions is not None:
            if not self.supports_dimensions:
                raise InvalidRequestError(
                    f"{self.provider or 'this server'} does not take dimensions=; leave it out"
                )
            if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
                raise InvalidRequestError(f"dimensions must be a positive int, got {dimensions!r}")
            options["dimensions"] = dimensions
        if encoding_format is not None:
            options["encoding_format"] = self.check_encoding(encoding_format)
        body = {**self.payload(provider_id, texts, options), **(extra or {})}
        return EmbeddingRequest(self.path(provider_id), body)

    def check_encoding(self, encoding_format: str) -> str:
        raise InvalidRequestError(
            f"{self.provider or 'this server'} answers floats only; leave encoding_format out"
        )

    def answer(self, body: Any, count: int) -> EmbeddingAnswer:
        """The vectors of the answer to a request of ``count`` inputs."""
        raise NotImplementedError


class OpenAIEmbeddings(FeatureExtraction):
    """OpenAI's ``/v1/embeddings``: ``{"input", "model", "dimensions"?, "encoding_format"?}``
    → ``{"data": [{"embedding", "index"}], "usage": {"prompt_tokens"}}`` (sambanova's
    recorded answer; together, deepinfra, scaleway and own servers speak it too)."""

    max_batch: ClassVar[int] = 128
    supports_dimensions: ClassVar[bool] = True

    def __init__(self, provider: str = "", route: str = "/v1/embeddings") -> None:
        self.provider = provider  # type: ignore[misc]  # one builder serves many names
        self.route = route

    def path(self, provider_id: str) -> str:
        return self.route

    def payload(
        self, provider_id: str, inputs: list[str], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"input": inputs, "model": provider_id, **options}

    def check_encoding(self, encoding_format: str) -> str:
        if encoding_format not in ("float", "base64"):
            raise InvalidRequestError(
                f"encoding_format must be 'float' or 'base64', got {encoding_format!r}"
            )
        return encoding_format

    def answer(self, body: Any, count: int) -> EmbeddingAnswer:
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list):
            raise ResponseError(f"The embeddings answer has no data list: {str(body)[:200]}")
        ordered = sorted(
            (item for item in data if isinstance(item, Mapping)),
            key=lambda item: item.get("index", 0) if isinstance(item.get("index"), int) else 0,
        )
        vectors = [_vector(item.get("embedding")) for item in ordered]
        usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
        tokens = usage.get("prompt_tokens", usage.get("total_tokens"))
        return _checked(vectors, count, tokens if isinstance(tokens, int) else None)


class HFInferenceEmbeddings(FeatureExtraction):
    """hf-inference's pipeline: ``POST /models/{id}/pipeline/feature-extraction``
    with ``{"inputs": [...]}`` (its options, e.g. ``normalize``, at the root) → one
    vector per input, or per token for a model without pooling (mean-pooled here)."""

    provider: ClassVar[str] = "hf-inference"

    def path(self, provider_id: str) -> str:
        checked = check_provider_id(provider_id, self.provider)
        return f"/models/{quote(checked, safe='/')}/pipeline/feature-extraction"

    def payload(
        self, provider_id: str, inputs: list[str], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"inputs": inputs, **options}

    def answer(self, body: Any, count: int) -> EmbeddingAnswer:
        if not isinstance(body, list):
            raise ResponseError(f"The feature-extraction answer is not a list: {str(body)[:200]}")
        return _checked([mean_pool(item) for item in body], count, None)


class TEIEmbeddings(HFInferenceEmbeddings):
    """A text-embeddings-inference server of the user's own: ``POST {base}/embed``,
    the same body and answer as hf-inference's pipeline."""

    provider: ClassVar[str] = ""

    def path(self, provider_id: str) -> str:
        return "/embed"


def check_inputs(inputs: Any) -> list[str]:
    """The inputs as a non-empty list of strings (one string is a list of one)."""
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, Sequence) or not inputs:
        raise InvalidRequestError("inputs must be a string or a non-empty list of strings")
    for index, text in enumerate(inputs):
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"inputs[{index}] must be a string, got {type(text).__name__}"
            )
    return list(inputs)


def mean_pool(value: Any) -> list[float]:
    """One vector from a vector, or the mean of a (possibly nested) list of token vectors."""
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]  # [[...]]: a batch of one, or a single token row
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        rows = [mean_pool(v) for v in value]
        width = len(rows[0])
        if any(len(row) != width for row in rows):
            raise ResponseError("The token vectors of one input differ in length")
        return [sum(column) / len(rows) for column in zip(*rows, strict=True)]
    return _vector(value)


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):  # encoding_format="base64": little-endian float32s
        raw = base64.b64decode(value)
        if len(raw) % 4:
            raise ResponseError("A base64 embedding is not a whole number of float32s")
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not isinstance(value, list) or not value:
        raise ResponseError(f"An embedding is not a list of numbers: {str(value)[:120]}")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise ResponseError(f"An embedding holds something other than numbers: {str(value)[:120]}")
    return [float(x) for x in value]


def _checked(vectors: list[list[float]], count: int, tokens: int | None) -> EmbeddingAnswer:
    if len(vectors) != count:
        raise ResponseError(f"Asked for {count} embeddings, the answer holds {len(vectors)}")
    return EmbeddingAnswer(vectors, tokens)
