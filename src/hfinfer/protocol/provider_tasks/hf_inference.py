"""hf-inference: ``POST /hf-inference/models/{id}``, TGI-style ``{"inputs",
"parameters"}`` (``extra`` goes into ``parameters``); the answer is the image bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

from .base import ImageKnobs, ImageRequest, TextToImage

__all__ = ["HFInferenceImages"]


class HFInferenceImages(TextToImage):
    provider: ClassVar[str] = "hf-inference"
    raw_image: ClassVar[bool] = True

    def path(self, provider_id: str) -> str:
        return f"/hf-inference/models/{quote(provider_id, safe='/:')}"

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        parameters = {
            "seed": knobs.seed,
            **knobs.size,
            "negative_prompt": knobs.negative_prompt,
            "num_inference_steps": knobs.steps,
            "guidance_scale": knobs.guidance_scale,
        }
        return {
            "inputs": prompt,
            "parameters": {k: v for k, v in parameters.items() if v is not None},
        }

    def request(self, provider_id: str, prompt: str, **asked: Any) -> ImageRequest:
        # ``extra`` goes into ``parameters`` here, not at the root.
        extra: Mapping[str, Any] = asked.pop("extra", None) or {}
        request = super().request(provider_id, prompt, **asked)
        request.payload["parameters"].update(extra)
        return request
