"""together: OpenAI's images route, with ``response_format: "base64"`` (Together's
word; the recorded request sends it, not ``b64_json``). Answers ``{"data": [{"b64_json"}]}``."""

from __future__ import annotations

from .openai_images import OpenAIImages

__all__ = ["TogetherImages"]


class TogetherImages(OpenAIImages):
    response_format = "base64"

    def __init__(self) -> None:
        super().__init__("together")
