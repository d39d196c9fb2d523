"""Images through the router: one text-to-image request to the provider the
route names (its own wire format, from :mod:`hfinfer.protocol.provider_tasks`),
a queued job polled until done, and the images read from the answer, a data
URL or a download (the token sent to the router only)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from urllib.parse import urlsplit

from ..errors import ResponseError, TimeoutError
from ..http.session import HttpClient, Response
from ..hub.metadata import LIST_RETRY
from ..protocol import images, provider_tasks
from ..protocol.routing import Plan
from ..types import ImageResponse, decode_data_url
from .pooled import CallOptions, GenerationRequest, last_user_text

__all__ = ["POLL_INTERVAL", "generate_image"]

logger = logging.getLogger(__name__)

#: Image settings taken from the call's keywords (``steps`` is ``num_inference_steps``).
_IMAGE_KNOBS = {"negative_prompt": "negative_prompt", "num_inference_steps": "steps",
                "steps": "steps", "guidance_scale": "guidance_scale"}  # fmt: skip
#: Seconds between two looks at a queued job (``poll_interval=`` to change).
POLL_INTERVAL = 1.0


async def generate_image(
    http: HttpClient, call: CallOptions, plan: Plan, asked: GenerationRequest
) -> ImageResponse:
    """The image ``plan`` names, made by its provider from ``asked``'s prompt (or last
    user message) and image settings; a queued job is polled every ``poll_interval=``
    seconds within the total timeout."""
    assert plan.provider is not None and plan.provider_id is not None
    prompt = asked.prompt if asked.prompt is not None else last_user_text(asked.messages)
    options = asked.options
    knobs = {_IMAGE_KNOBS[k]: options.pop(k) for k in list(options) if k in _IMAGE_KNOBS}
    interval = float(options.pop("poll_interval", POLL_INTERVAL))
    queue = bool(options.pop("queue", False))
    if options:
        logger.warning("not sent (an image call does not use them): %s", ", ".join(sorted(options)))
    builder = provider_tasks.text_to_image(plan.provider)
    if queue and isinstance(builder, provider_tasks.FalImages):
        builder = provider_tasks.FalImages(queue=True)
    request = builder.request(
        plan.provider_id, prompt, seed=asked.seed, width=asked.width,
        height=asked.height, aspect_ratio=asked.aspect_ratio, extra=call.extra, **knobs,
    )  # fmt: skip
    headers = dict(request.headers)
    if request.raw_image:
        headers["accept"] = "image/png"
    found: list[tuple[bytes, str]] = []
    answer: list[provider_tasks.ImageSource] | provider_tasks.Job = []
    async with http.open(
        "POST",
        f"{call.api_base}{request.path}",
        json=request.payload,
        model=plan.router_model,
        headers=headers or None,
        exchange=call.exchange,
        expect="image" if request.raw_image else "json",
    ) as response:
        if request.raw_image:
            found.append(await _image_body(http, response))
        else:
            answer = builder.answer(await http.read_json(response))
    if isinstance(answer, provider_tasks.Job):
        answer = await _wait_for_job(http, call, builder, answer, interval)
    # Downloads start once the answer is closed, so its connection is free for them.
    found += [await _fetch_source(http, source, call.api_base) for source in answer]
    reported = {"seed": request.seed, "model": plan.router_model, "provider": plan.provider}
    urls = [images.image_response(body, kind, prompt).url for body, kind in found]
    return ImageResponse(urls, prompt, reported)


async def _wait_for_job(
    http: HttpClient,
    call: CallOptions,
    builder: provider_tasks.TextToImage,
    job: provider_tasks.Job,
    interval: float,
) -> list[provider_tasks.ImageSource]:
    """Poll a queued image job until it is done (within the total timeout), then
    read its images."""
    limit = http.settings.timeouts.total
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    while True:
        body = await http.get_json(f"{call.api_base}{job.status_path}", retry=LIST_RETRY)
        if builder.job_state(body) == "done":
            break
        if deadline is not None and loop.time() + interval > deadline:
            raise TimeoutError(
                f"{builder.provider} did not finish the image within {limit} s (total timeout); "
                "raise timeout= for slow models.",
                phase="total",
                seconds=limit,
            )
        await asyncio.sleep(interval)
    if job.result_path is not None:
        body = await http.get_json(f"{call.api_base}{job.result_path}", retry=LIST_RETRY)
    answer = builder.answer(body)
    if isinstance(answer, provider_tasks.Job):
        raise ResponseError(f"{builder.provider} called its job done but sent no image")
    return answer


async def _image_body(http: HttpClient, response: Response) -> tuple[bytes, str]:
    """The bytes of an answer opened with ``expect="image"``, and their media type."""
    content_type = response.headers.get("content-type", "")
    body = await http.read_body(response)
    return body, provider_tasks.sniff_media_type(body, content_type)


async def _fetch_source(
    http: HttpClient, source: provider_tasks.ImageSource, router: str
) -> tuple[bytes, str]:
    if source.kind == "base64":
        body = provider_tasks.decode_base64_image(source.value)
        return body, provider_tasks.sniff_media_type(body)
    if source.value.startswith("data:"):
        return decode_data_url(source.value)
    # The token goes to the router only, never to a provider's file host.
    same_host = urlsplit(source.value)[:2] == urlsplit(router)[:2]
    settings = http.settings if same_host else replace(http.settings, token=None, bill_to=None)
    downloader = http if same_host else HttpClient(settings, session=http.session())
    async with downloader.open("GET", source.value, expect="image") as response:
        return await _image_body(downloader, response)
