"""Providers that speak OpenAI's images route (``/{provider}/v1/images/generations``),
recorded from the live router for nebius; any provider without a builder of
its own is asked this way too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import TextToImage

__all__ = ["OpenAIImages"]


class OpenAIImages(TextToImage):
    """``{"prompt", "model", "width", "height", "seed", "response_format": "b64_json"}``;
    answers ``{"data": [{"b64_json"} | {"url"}]}``."""

    #: Together says "base64" where OpenAI says "b64_json" (its recording sends it).
    response_format = "b64_json"

    def __init__(self, provider: str) -> None:
        self.provider = provider  # type: ignore[misc]  # one builder serves many names

    def payload(
        self, provider_id: str, prompt: str, seed: int, size: Mapping[str, int | None]
    ) -> dict[str, Any]:
        return {
            "prompt": prompt,
            "model": provider_id,
            **size,
            "seed": seed,
            "response_format": self.response_format,
        }
