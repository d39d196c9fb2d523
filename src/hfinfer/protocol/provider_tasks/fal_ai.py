"""fal-ai: ``POST /fal-ai/{providerId}`` with ``image_size``; answers
``{"images": [{"url", "content_type"}]}``, an URL to download."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from .base import TextToImage

__all__ = ["FalImages"]


class FalImages(TextToImage):
    provider: ClassVar[str] = "fal-ai"

    def path(self, provider_id: str) -> str:
        return f"/fal-ai/{quote(provider_id, safe='/:')}"

    def payload(
        self, provider_id: str, prompt: str, seed: int, size: Mapping[str, int | None]
    ) -> dict[str, Any]:
        image_size = dict(size) if size["width"] and size["height"] else None
        return {"prompt": prompt, "image_size": image_size, "seed": seed}
