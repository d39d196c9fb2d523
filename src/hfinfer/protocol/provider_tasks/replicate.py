"""replicate: a prediction. ``POST /replicate/v1/models/{id}/predictions`` (or
``/v1/predictions`` with ``version`` when the id is ``owner/name:version``),
``{"input": {"prompt", ...}}`` with ``Prefer: wait``; answers 201 with the
prediction (recorded): ``output`` holds the image URL(s) once there, else its
``urls.get`` is polled until ``status`` is ``succeeded``."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ...errors import ResponseError
from ..repo_ids import check_provider_id
from .base import ImageKnobs, ImageSource, Job, JobState, TextToImage, router_path

__all__ = ["ReplicateImages"]

_PENDING = frozenset({"starting", "processing"})


class ReplicateImages(TextToImage):
    provider: ClassVar[str] = "replicate"

    def path(self, provider_id: str) -> str:
        checked = check_provider_id(provider_id, self.provider)
        if ":" in checked:
            return "/replicate/v1/predictions"
        return f"/replicate/v1/models/{quote(checked, safe='/')}/predictions"

    def headers(self) -> dict[str, str]:
        return {"prefer": "wait"}

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        asked = {
            "prompt": prompt,
            **knobs.size,
            "seed": knobs.seed,
            "negative_prompt": knobs.negative_prompt,
            "num_inference_steps": knobs.steps,
            "guidance_scale": knobs.guidance_scale,
        }
        body: dict[str, Any] = {"input": {k: v for k, v in asked.items() if v is not None}}
        if ":" in provider_id:
            body["version"] = provider_id.split(":", 1)[1]
        return body

    def answer(self, body: Any) -> list[ImageSource] | Job:
        if not isinstance(body, dict):
            raise ResponseError(f"replicate's answer is not a prediction: {str(body)[:200]}")
        output = body.get("output")
        urls = [output] if isinstance(output, str) else output
        if isinstance(urls, list) and urls and all(isinstance(u, str) for u in urls):
            return [ImageSource("url", url) for url in urls]
        self.job_state(body)  # a failed prediction raises here
        link = (body.get("urls") or {}).get("get") if isinstance(body.get("urls"), dict) else None
        if not isinstance(link, str):
            raise ResponseError(f"replicate's prediction has no output nor link: {str(body)[:200]}")
        return Job(router_path("replicate", link))

    def job_state(self, body: Any) -> JobState:
        status = body.get("status") if isinstance(body, dict) else None
        if status == "succeeded":
            return "done"
        if status in _PENDING:
            return "pending"
        error = body.get("error") if isinstance(body, dict) else None
        raise ResponseError(f"replicate's prediction {status or 'failed'}: {error or body}")
