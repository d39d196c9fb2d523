"""Sentence similarity, pure: hf-inference's pipeline
(``POST /models/{id}/pipeline/sentence-similarity`` with ``{"inputs":
{"source_sentence", "sentences"}}`` → one score per sentence, recorded), and
cosine similarity for providers that only embed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import InvalidRequestError, ResponseError
from ..repo_ids import check_provider_id
from .embeddings import EmbeddingRequest, check_inputs

__all__ = ["SentenceSimilarity", "cosine"]


class SentenceSimilarity:
    """hf-inference's sentence-similarity pipeline."""

    provider: ClassVar[str] = "hf-inference"
    task: ClassVar[str] = "sentence-similarity"

    def request(self, provider_id: str, sentence: str, others: Sequence[str]) -> EmbeddingRequest:
        if not isinstance(sentence, str) or not sentence:
            raise InvalidRequestError("similarity() needs a sentence to compare the others with")
        texts = check_inputs(others)
        checked = check_provider_id(provider_id, self.provider)
        path = f"/models/{quote(checked, safe='/')}/pipeline/sentence-similarity"
        return EmbeddingRequest(path, {"inputs": {"source_sentence": sentence, "sentences": texts}})

    def answer(self, body: Any, count: int) -> list[float]:
        if not isinstance(body, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in body
        ):
            raise ResponseError(f"The similarity answer is not a list of scores: {str(body)[:200]}")
        if len(body) != count:
            raise ResponseError(f"Asked for {count} scores, the answer holds {len(body)}")
        return [float(x) for x in body]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of the angle between two vectors (0.0 when one is all zeros)."""
    if len(a) != len(b):
        raise ResponseError(f"Vectors of {len(a)} and {len(b)} dimensions cannot be compared")
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norms if norms else 0.0
