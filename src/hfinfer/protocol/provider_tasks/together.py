"""together: OpenAI's images route with ``response_format: "base64"`` (Together's
word; the recorded request sends it, not ``b64_json``), ``steps`` for the number
of steps. Answers ``{"data": [{"b64_json"}]}``."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import ImageKnobs, TextToImage

__all__ = ["TogetherImages"]


class TogetherImages(TextToImage):
    provider: ClassVar[str] = "together"

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        return {
            "prompt": prompt,
            "model": provider_id,
            **knobs.size,
            "seed": knobs.seed,
            "response_format": "base64",
            "steps": knobs.steps,
            "negative_prompt": knobs.negative_prompt,
            "guidance_scale": knobs.guidance_scale,
        }
