"""nscale: OpenAI's images route, ``size: "WxH"`` and ``response_format:
"b64_json"``; answers ``{"data": [{"b64_json"}]}``. Its API has no steps nor
guidance setting (huggingface_hub drops them); they are refused here."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import ImageKnobs, TextToImage

__all__ = ["NscaleImages"]


class NscaleImages(TextToImage):
    provider: ClassVar[str] = "nscale"
    unsupported: ClassVar[frozenset[str]] = frozenset({"steps", "guidance_scale"})

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        return {
            "response_format": "b64_json",
            "prompt": prompt,
            "model": provider_id,
            "size": knobs.size_text,
            "seed": knobs.seed,
            "negative_prompt": knobs.negative_prompt,
        }
