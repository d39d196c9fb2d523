"""fal-ai: ``POST /fal-ai/{providerId}`` with ``image_size``, ``seed``,
``negative_prompt``, ``num_inference_steps``, ``guidance_scale``; answers
``{"images": [{"url", "content_type"}]}`` (recorded), an URL to download.

With ``queue=True`` the request goes to fal's queue (``?_subdomain=queue``),
which answers a ticket ``{"request_id", "status", "response_url"}``: the status
is polled at ``{response_url}/status`` until ``COMPLETED``, then the result is
read at ``response_url``.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from ...errors import ResponseError
from .base import ImageKnobs, ImageSource, Job, JobState, TextToImage, image_sources

__all__ = ["FalImages"]

_QUEUE = "?_subdomain=queue"
_PENDING = frozenset({"IN_QUEUE", "IN_PROGRESS"})


class FalImages(TextToImage):
    provider: ClassVar[str] = "fal-ai"

    def __init__(self, *, queue: bool = False) -> None:
        self.queue = queue

    def path(self, provider_id: str) -> str:
        return f"/fal-ai/{quote(provider_id, safe='/:')}" + (_QUEUE if self.queue else "")

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        return {
            "prompt": prompt,
            "image_size": knobs.size if knobs.width and knobs.height else None,
            "seed": knobs.seed,
            "negative_prompt": knobs.negative_prompt,
            "num_inference_steps": knobs.steps,
            "guidance_scale": knobs.guidance_scale,
        }

    def answer(self, body: Any) -> list[ImageSource] | Job:
        if isinstance(body, dict) and "images" not in body and body.get("request_id"):
            where = urlsplit(str(body.get("response_url") or ""))
            if not where.path:
                raise ResponseError(f"fal's queue ticket has no response_url: {str(body)[:200]}")
            return Job(f"/fal-ai{where.path}/status{_QUEUE}", f"/fal-ai{where.path}{_QUEUE}")
        return image_sources(body)

    def job_state(self, body: Any) -> JobState:
        status = body.get("status") if isinstance(body, dict) else None
        if status == "COMPLETED":
            return "done"
        if status in _PENDING:
            return "pending"
        raise ResponseError(f"fal's queue reports {status!r}: {str(body)[:200]}")
