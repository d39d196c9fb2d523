"""wavespeed: ``POST /wavespeed/api/v3/{providerId}`` with ``{"prompt", ...}``;
answers a task ``{"data": {"id", "status", "urls": {"get"}}}`` whose ``get`` link
is polled until ``data.status`` is ``completed``; ``data.outputs`` then holds the
image URL(s). (From huggingface_hub's provider helper; no recording exists.)"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import ResponseError
from ..repo_ids import check_provider_id
from .base import ImageKnobs, ImageSource, Job, JobState, TextToImage, router_path

__all__ = ["WavespeedImages"]

_PENDING = frozenset({"created", "processing"})


class WavespeedImages(TextToImage):
    provider: ClassVar[str] = "wavespeed"

    def path(self, provider_id: str) -> str:
        checked = check_provider_id(provider_id, self.provider)
        return f"/wavespeed/api/v3/{quote(checked, safe='/')}"

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        return {
            "prompt": prompt,
            **knobs.size,
            "seed": knobs.seed,
            "negative_prompt": knobs.negative_prompt,
            "num_inference_steps": knobs.steps,
            "guidance_scale": knobs.guidance_scale,
        }

    def answer(self, body: Any) -> list[ImageSource] | Job:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ResponseError(f"wavespeed's answer holds no task: {str(body)[:200]}")
        outputs = data.get("outputs")
        if data.get("status") == "completed" and isinstance(outputs, list) and outputs:
            return [ImageSource("url", str(url)) for url in outputs]
        self.job_state(body)
        link = (data.get("urls") or {}).get("get") if isinstance(data.get("urls"), dict) else None
        if not isinstance(link, str):
            raise ResponseError(f"wavespeed's task has no result link: {str(body)[:200]}")
        return Job(router_path("wavespeed", link))

    def job_state(self, body: Any) -> JobState:
        data = body.get("data") if isinstance(body, dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        if status == "completed":
            return "done"
        if status in _PENDING:
            return "pending"
        error = data.get("error") if isinstance(data, dict) else None
        raise ResponseError(f"wavespeed's task {status or 'failed'}: {error or body}")
