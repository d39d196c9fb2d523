"""zai-org: ``POST /zai-org/api/paas/v4/async/images/generations`` with
``{"model", "prompt", "size": "WxH"}``; answers ``{"id", "task_status"}``, polled
at ``/api/paas/v4/async-result/{id}`` until ``SUCCESS``; ``image_result[0].url``
is then the image. (From huggingface_hub's provider helper; no recording exists.)"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import ResponseError
from .base import ImageKnobs, ImageSource, Job, JobState, TextToImage

__all__ = ["ZaiImages"]


class ZaiImages(TextToImage):
    provider: ClassVar[str] = "zai-org"
    unsupported: ClassVar[frozenset[str]] = frozenset(
        {"negative_prompt", "steps", "guidance_scale"}
    )

    def path(self, provider_id: str) -> str:
        return "/zai-org/api/paas/v4/async/images/generations"

    def headers(self) -> dict[str, str]:
        return {"accept-language": "en-US,en", "x-source-channel": "hugging_face"}

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        # The API takes no seed: knobs.seed is reported back, not sent.
        return {"model": provider_id, "prompt": prompt, "size": knobs.size_text}

    def answer(self, body: Any) -> list[ImageSource] | Job:
        if not isinstance(body, dict):
            raise ResponseError(f"zai-org's answer is not a task: {str(body)[:200]}")
        results = body.get("image_result")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            url = results[0].get("url")
            if isinstance(url, str) and url:
                return [ImageSource("url", url)]
        self.job_state(body)
        task = body.get("id")
        if not isinstance(task, str) or not task:
            raise ResponseError(f"zai-org's answer has no task id: {str(body)[:200]}")
        return Job(f"/zai-org/api/paas/v4/async-result/{quote(task, safe='')}")

    def job_state(self, body: Any) -> JobState:
        status = body.get("task_status") if isinstance(body, dict) else None
        if status == "SUCCESS":
            return "done"
        if status == "PROCESSING":
            return "pending"
        raise ResponseError(f"zai-org's image task {status or 'failed'}: {str(body)[:200]}")
