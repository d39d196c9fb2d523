"""Images through today's text-to-image providers: a URL to fetch, a job to poll,
each provider's own settings, and a clear error where the Hub no longer routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hfinfer import AsyncClient, Timeouts
from hfinfer.errors import InvalidRequestError, ResponseError, TimeoutError
from hfinfer.protocol import provider_tasks
from hfinfer.protocol.provider_tasks import Job
from hfserver import PNG_1PX, FakeHF, Reply, json_reply, load_cassette
from routerserver import FakeRouter, mapping, serve_router

REPLICATE = "TestInferenceClient.test_text_to_image_default[replicate,text-to-image].yaml"
PROMPT = "An astronaut riding a horse on the moon."


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    async with serve_router(monkeypatch) as server:
        yield server


@pytest.fixture
async def cdn() -> AsyncIterator[FakeHF]:
    """A provider's file host: a second local server."""
    async with FakeHF() as server:
        server.script("GET", "/out-0.png", Reply(200, {"content-type": "image/png"}, PNG_1PX))
        yield server


def draws(router: FakeRouter, model: str, **providers: str) -> None:
    router.models[model] = {"id": model, "inferenceProviderMapping": mapping(**providers)}


async def image(model: str, **kwargs: Any) -> Any:
    async with AsyncClient(api_key="hf_secret") as client:
        return await client.image(model, PROMPT, poll_interval=0.01, **kwargs)


# -- replicate ---------------------------------------------------------------------------


async def test_recorded_replicate_prediction(router: FakeRouter, cdn: FakeHF) -> None:
    info, prediction, download = load_cassette(REPLICATE)
    router.script("GET", info.path, info.reply())
    cdn.script("GET", download.path, download.reply())
    body = prediction.body.replace(b"https://replicate.delivery", cdn.url.encode())
    router.script("POST", prediction.path, Reply(201, {"content-type": "application/json"}, body))
    result = await image("ByteDance/SDXL-Lightning:replicate", seed=5)
    assert result.data() == (download.body, "image/png")
    assert result.options["provider"] == "replicate"
    sent = router.last("POST", "/replicate/v1/predictions")
    assert sent.headers["prefer"] == "wait"
    mapped = json.loads(info.body)["inferenceProviderMapping"]["replicate"]["providerId"]
    assert sent.json()["version"] == mapped.split(":", 1)[1]  # owner/name:version
    assert sent.json()["version"] == json.loads(prediction.request_body)["version"]
    assert sent.json()["input"] == {"prompt": PROMPT, "seed": 5}
    assert "authorization" not in cdn.last("GET", download.path).headers  # token stays home


async def test_replicate_job_is_polled_until_it_succeeds(router: FakeRouter, cdn: FakeHF) -> None:
    draws(router, "org/img", replicate="text-to-image")
    link = "https://api.replicate.com/v1/predictions/p1"
    started = {"id": "p1", "status": "starting", "output": None, "urls": {"get": link}}
    router.image_routes["replicate"] = lambda request: json_reply(started, 201)
    router.script(
        "GET",
        "/replicate/v1/predictions/p1",
        json_reply({**started, "status": "processing"}),
        json_reply({**started, "status": "succeeded", "output": [f"{cdn.url}/out-0.png"]}),
    )
    result = await image("org/img", width=512, height=256, steps=4, negative_prompt="rain")
    assert result.data() == (PNG_1PX, "image/png")
    assert router.count("GET", "/replicate/v1/predictions/p1") == 2
    sent = router.last("POST", "/replicate/v1/models/replicate/m/predictions").json()
    assert sent["input"] == {
        "prompt": PROMPT,
        "width": 512,
        "height": 256,
        "seed": result.options["seed"],
        "negative_prompt": "rain",
        "num_inference_steps": 4,
    }
    polled = router.last("GET", "/replicate/v1/predictions/p1")
    assert polled.headers["authorization"] == "Bearer hf_secret"  # the router, not the provider


async def test_a_failed_prediction_is_our_error(router: FakeRouter) -> None:
    draws(router, "org/img", replicate="text-to-image")
    failed = {"id": "p1", "status": "failed", "output": None, "error": "NSFW content detected"}
    router.image_routes["replicate"] = lambda request: json_reply(failed, 201)
    with pytest.raises(ResponseError, match="NSFW content detected"):
        await image("org/img")


async def test_a_job_that_never_ends_times_out(router: FakeRouter) -> None:
    draws(router, "org/img", replicate="text-to-image")
    link = "https://api.replicate.com/v1/predictions/p1"
    pending = {"id": "p1", "status": "processing", "output": None, "urls": {"get": link}}
    router.image_routes["replicate"] = lambda request: json_reply(pending, 201)
    router.script("GET", "/replicate/v1/predictions/p1", *[json_reply(pending)] * 100)
    async with AsyncClient() as client:
        with pytest.raises(TimeoutError, match="total timeout") as caught:
            await client.image("org/img", PROMPT, poll_interval=0.05, timeout=Timeouts(total=1.0))
    assert caught.value.phase == "total"


# -- fal-ai's queue, wavespeed, zai-org (shapes from huggingface_hub's helpers) ----------


async def test_fal_queue_is_polled_then_read(router: FakeRouter, cdn: FakeHF) -> None:
    draws(router, "org/img", fal_ai="text-to-image")
    ticket = {
        "request_id": "r1",
        "status": "IN_QUEUE",
        "response_url": "https://queue.fal.run/fal-ai/m/requests/r1",
        "status_url": "https://queue.fal.run/fal-ai/m/requests/r1/status",
    }
    router.image_routes["fal-ai"] = lambda request: json_reply(ticket)
    status = "/fal-ai/fal-ai/m/requests/r1/status"
    router.script(
        "GET",
        status,
        json_reply({"status": "IN_PROGRESS"}),
        json_reply({"status": "COMPLETED"}),
    )
    done = {"images": [{"url": f"{cdn.url}/out-0.png", "content_type": "image/png"}]}
    router.script("GET", "/fal-ai/fal-ai/m/requests/r1", json_reply(done))
    result = await image("org/img", queue=True, guidance_scale=3.5)
    assert result.data() == (PNG_1PX, "image/png")
    posted = router.last("POST", "/fal-ai/fal_ai/m")
    assert ("_subdomain", "queue") in posted.query
    assert posted.json()["guidance_scale"] == 3.5
    assert router.count("GET", status) == 2
    assert ("_subdomain", "queue") in router.last("GET", "/fal-ai/fal-ai/m/requests/r1").query


async def test_wavespeed_task(router: FakeRouter, cdn: FakeHF) -> None:
    draws(router, "org/img", wavespeed="text-to-image")
    link = "https://api.wavespeed.ai/api/v3/predictions/t1/result"
    created = {"data": {"id": "t1", "status": "created", "urls": {"get": link}, "outputs": []}}
    router.image_routes["wavespeed"] = lambda request: json_reply(created)
    done = {"data": {"id": "t1", "status": "completed", "outputs": [f"{cdn.url}/out-0.png"]}}
    router.script(
        "GET",
        "/wavespeed/api/v3/predictions/t1/result",
        json_reply({"data": {"id": "t1", "status": "processing", "urls": {"get": link}}}),
        json_reply(done),
    )
    result = await image("org/img", width=640, height=480)
    assert result.data() == (PNG_1PX, "image/png")
    sent = router.last("POST", "/wavespeed/api/v3/wavespeed/m").json()
    assert (sent["prompt"], sent["width"], sent["height"]) == (PROMPT, 640, 480)


async def test_wavespeed_failure(router: FakeRouter) -> None:
    draws(router, "org/img", wavespeed="text-to-image")
    failed = {"data": {"id": "t1", "status": "failed", "error": "out of memory"}}
    router.image_routes["wavespeed"] = lambda request: json_reply(failed)
    with pytest.raises(ResponseError, match="out of memory"):
        await image("org/img")


async def test_zai_task(router: FakeRouter, cdn: FakeHF) -> None:
    draws(router, "org/img", zai_org="text-to-image")
    png = f"{cdn.url}/out-0.png"
    router.image_routes["zai-org"] = lambda request: json_reply(
        {"id": "z1", "task_status": "PROCESSING"}
    )
    router.script(
        "GET",
        "/zai-org/api/paas/v4/async-result/z1",
        json_reply(
            {
                "id": "z1",
                "task_status": "SUCCESS",
                "image_result": [{"url": png}],
            }
        ),
    )
    result = await image("org/img", aspect_ratio="16:9")
    assert result.data() == (PNG_1PX, "image/png")
    sent = router.last("POST", "/zai-org/api/paas/v4/async/images/generations")
    assert sent.json() == {"model": "zai_org/m", "prompt": PROMPT, "size": "1024x576"}
    assert sent.headers["x-source-channel"] == "hugging_face"
    with pytest.raises(InvalidRequestError, match="no negative_prompt"):
        await image("org/img", negative_prompt="x")


# -- each provider's own settings, pure --------------------------------------------------


def test_together_calls_steps_steps() -> None:
    request = provider_tasks.text_to_image("together").request(
        "t/m", "a cat", seed=1, steps=8, negative_prompt="dogs", width=64, height=64
    )
    assert request.payload == {
        "prompt": "a cat",
        "model": "t/m",
        "width": 64,
        "height": 64,
        "seed": 1,
        "response_format": "base64",
        "steps": 8,
        "negative_prompt": "dogs",
    }


def test_nscale_refuses_what_it_has_no_field_for() -> None:
    builder = provider_tasks.text_to_image("nscale")
    with pytest.raises(InvalidRequestError, match="no steps"):
        builder.request("n/m", "a cat", steps=4)
    assert "size" not in builder.request("n/m", "a cat", seed=2).payload
    assert builder.request("n/m", "a cat", width=64, height=32).payload["size"] == "64x32"


def test_hf_inference_keeps_settings_in_parameters() -> None:
    request = provider_tasks.text_to_image("hf-inference").request(
        "org/m", "a cat", seed=3, steps=20, guidance_scale=7.5, extra={"scheduler": "x"}
    )
    assert request.raw_image and request.payload == {
        "inputs": "a cat",
        "parameters": {
            "seed": 3,
            "num_inference_steps": 20,
            "guidance_scale": 7.5,
            "scheduler": "x",
        },
    }


def test_bad_settings_are_refused_before_sending() -> None:
    builder = provider_tasks.text_to_image("fal-ai")
    for bad in ({"steps": 0}, {"steps": True}, {"guidance_scale": "high"}, {"seed": -1}):
        with pytest.raises(InvalidRequestError):
            builder.request("f/m", "a cat", **bad)
    with pytest.raises(InvalidRequestError):
        builder.request("f/m", "   ")


def test_replicate_version_ids_and_job_links() -> None:
    builder = provider_tasks.text_to_image("replicate")
    versioned = builder.request("owner/name:abc123", "a cat", seed=1)
    assert versioned.path == "/replicate/v1/predictions"
    assert versioned.payload["version"] == "abc123"
    plain = builder.request("owner/name", "a cat", seed=1)
    assert plain.path == "/replicate/v1/models/owner/name/predictions"
    assert "version" not in plain.payload
    link = {"status": "starting", "urls": {"get": "https://api.replicate.com/v1/predictions/x"}}
    assert builder.answer(link) == Job("/replicate/v1/predictions/x")


def test_every_today_provider_has_a_builder_and_the_retired_none() -> None:
    today = {"fal-ai", "hf-inference", "nscale", "replicate", "together", "wavespeed", "zai-org"}
    spoken = {p for p in provider_tasks.PROVIDERS if provider_tasks.speaks(p, "text-to-image")}
    assert spoken == today
    for gone in provider_tasks.RETIRED["text-to-image"]:
        with pytest.raises(InvalidRequestError, match="no longer routes"):
            provider_tasks.text_to_image(gone)
    with pytest.raises(InvalidRequestError, match="does not speak"):
        provider_tasks.text_to_image("some-new-provider")
