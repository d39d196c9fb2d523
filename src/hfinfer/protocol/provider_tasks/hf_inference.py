"""hf-inference: ``POST /hf-inference/models/{id}``, TGI-style ``{"inputs",
"parameters"}`` (``extra`` goes into ``parameters``); the answer is the image bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from .. import images
from .base import ImageRequest, TextToImage

__all__ = ["HFInferenceImages"]


class HFInferenceImages(TextToImage):
    provider: ClassVar[str] = "hf-inference"
    raw_image: ClassVar[bool] = True

    def path(self, provider_id: str) -> str:
        return f"/hf-inference/models/{quote(provider_id, safe='/:')}"

    def request(
        self,
        provider_id: str,
        prompt: str,
        *,
        seed: int | None = None,
        width: int | None = None,
        height: int | None = None,
        aspect_ratio: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ImageRequest:
        payload = images.image_payload(
            prompt, seed=seed, width=width, height=height, aspect_ratio=aspect_ratio
        )
        payload["parameters"].update(extra or {})
        chosen = int(payload["parameters"]["seed"])
        return ImageRequest(self.path(provider_id), payload, chosen, raw_image=True)
