"""hyperbolic: OpenAI's images route, but the model goes in ``model_name``
(``model`` is refused with a 422, recorded too); answers ``{"images": [{"image"}]}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .base import TextToImage

__all__ = ["HyperbolicImages"]


class HyperbolicImages(TextToImage):
    provider: ClassVar[str] = "hyperbolic"

    def payload(
        self, provider_id: str, prompt: str, seed: int, size: Mapping[str, int | None]
    ) -> dict[str, Any]:
        return {"prompt": prompt, "model_name": provider_id, **size, "seed": seed}
