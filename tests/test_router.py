"""HuggingFaceRouter against the local router: recorded exchanges replayed byte for byte,
plus scripted provider mappings, reasoning, tool calls, errors and images."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from hfinfer.errors import (
    AuthenticationError,
    EndpointGoneError,
    HtmlResponseError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotSupportedError,
    StreamError,
    ValidationError,
)
from hfinfer.protocol.routing import split_model
from hfinfer.providers.hf_router import HuggingFaceRouter
from hfinfer.types import FinishReason, ImageResponse, Reasoning, ToolCalls, Usage
from hfserver import PNG_1PX, Reply, json_reply, load_cassette, running_in_thread
from routerserver import (
    FakeRouter,
    chat_stream,
    chunk,
    clear_router_caches,
    load_tape,
    mapping,
    openai_error,
    serve_router,
    snapshot_stream,
)

USER = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is deep learning?"},
]
HF_STREAM = "TestInferenceClient.test_chat_completion_with_stream[hf-inference,conversational].yaml"
TOGETHER = "TestInferenceClient.test_chat_completion_no_stream[together,conversational].yaml"
TOOLS = "InferenceClientVCRTest.test_chat_completion_with_tool.yaml"
RESPONSE_FORMAT = "InferenceClientVCRTest.test_chat_completion_with_response_format.yaml"
UNPROCESSABLE = "InferenceClientVCRTest.test_chat_completion_unprocessable_entity.yaml"
UNAUTHORIZED = "TestInferenceClient.test_chat_completion_unprocessable_entity.yaml"
CHAT = "/v1/chat/completions"


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    async with serve_router(monkeypatch) as server:
        yield server


async def collect(model: str, messages: Any = USER, **kwargs: Any) -> list[Any]:
    return [c async for c in HuggingFaceRouter.create_async_generator(model, messages, **kwargs)]


def answer(chunks: list[Any]) -> str:
    return "".join(c for c in chunks if isinstance(c, str))


def thoughts(chunks: list[Any]) -> str:
    return "".join(c.token or "" for c in chunks if isinstance(c, Reasoning))


def serve(router: FakeRouter, cassette: str, *, per_event_chunks: bool = False) -> Any:
    """Script a cassette: its Hub answers at their paths, its chat answers on the router's
    chat route. Returns the last recorded exchange."""
    recorded = load_cassette(cassette)
    for item in recorded:
        path = CHAT if item.path.endswith(CHAT) else item.path
        router.script(item.method, path, item.reply(per_event_chunks=per_event_chunks))
    return recorded[-1]


# -- recorded exchanges ------------------------------------------------------------------


@pytest.mark.parametrize("per_event_chunks", [False, True], ids=["one-write", "chunk-per-event"])
async def test_recorded_router_stream(router: FakeRouter, per_event_chunks: bool) -> None:
    serve(router, HF_STREAM, per_event_chunks=per_event_chunks)
    chunks = await collect("meta-llama/Llama-3.1-8B-Instruct", max_tokens=20)
    assert answer(chunks) == (
        "Deep learning is a subset of machine learning that involves the use of artificial "
        "neural networks (ANNs)"
    )
    assert chunks[-1] == FinishReason("length")
    sent = router.last("POST", CHAT).json()
    assert sent == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 20,
    }
    assert router.last("GET", "/api/models/").query == [
        ("expand[]", "inferenceProviderMapping"),
        ("expand[]", "pipeline_tag"),
        ("expand[]", "config"),
    ]


async def test_recorded_provider_answer_with_provider_argument(router: FakeRouter) -> None:
    recorded = serve(router, TOGETHER)
    chunks = await collect("meta-llama/Meta-Llama-3-8B-Instruct", stream=False, provider="together")
    content = json.loads(recorded.body)["choices"][0]["message"]["content"]
    assert answer(chunks) == content
    assert chunks[-2:] == [Usage(26, 597), FinishReason("stop")]
    sent = router.last("POST", CHAT).json()
    assert sent["model"] == "meta-llama/Meta-Llama-3-8B-Instruct:together"
    assert sent["stream"] is False and "stream_options" not in sent


async def test_recorded_tool_calls(router: FakeRouter) -> None:
    model = "meta-llama/Meta-Llama-3-70B-Instruct"
    router.add_chat_model(model)
    serve(router, TOOLS)
    recorded = load_cassette(TOOLS)[0].request_body
    tools = json.loads(recorded)["tools"]
    first = await collect(model, stream=False, tools=tools, tool_choice="auto")
    second = await collect(model, stream=False, tools=tools, tool_choice="get_current_weather")
    for chunks, name in ((first, "get_n_day_weather_forecast"), (second, "get_current_weather")):
        calls = next(c for c in chunks if isinstance(c, ToolCalls))
        assert [c.name for c in calls] == [name]
        assert json.loads(calls.calls[0].arguments)["location"] == "San Francisco, CA"
        assert chunks[-1] == FinishReason("tool_calls")
    sent = router.last("POST", CHAT).json()
    assert sent["tools"] == tools
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_current_weather"}}


async def test_recorded_response_format(router: FakeRouter) -> None:
    model = "meta-llama/Meta-Llama-3-70B-Instruct"
    router.add_chat_model(model)
    serve(router, RESPONSE_FORMAT)
    schema = json.loads(load_cassette(RESPONSE_FORMAT)[0].request_body)["response_format"]
    chunks = await collect(model, stream=False, response_format=schema, max_tokens=500)
    assert json.loads(answer(chunks))["location"] == "park"
    assert chunks[-2:] == [Usage(35, 45), FinishReason("stop")]
    assert router.last("POST", CHAT).json()["response_format"] == schema


async def test_recorded_422_text_plain(router: FakeRouter) -> None:
    router.add_chat_model("meta-llama/Meta-Llama-3-70B-Instruct")
    serve(router, UNPROCESSABLE)
    with pytest.raises(ValidationError, match="Failed to deserialize the JSON body") as caught:
        await collect("meta-llama/Meta-Llama-3-70B-Instruct", stream=False)
    assert caught.value.status == 422


async def test_recorded_401(router: FakeRouter) -> None:
    serve(router, UNAUTHORIZED)
    with pytest.raises(AuthenticationError, match="Invalid username or password"):
        await collect("meta-llama/Meta-Llama-3-70B-Instruct", stream=False, api_key="hf_secret")


async def test_recorded_r1_stream_splits_reasoning(router: FakeRouter) -> None:
    router.add_chat_model("deepseek-ai/DeepSeek-R1")
    router.script("POST", CHAT, load_tape("ae9e11899907").reply(per_event_chunks=True))
    chunks = await collect("deepseek-ai/DeepSeek-R1")
    assert answer(chunks) == "This is a test. Let me know if you need anything else!"
    assert thoughts(chunks).startswith("Okay, let's see.")
    assert chunks[-2:] == [Usage(8, 434), FinishReason("stop")]


# -- provider choice -------------------------------------------------------------------


def test_split_model() -> None:
    assert split_model("org/m:cheapest") == ("org/m", "cheapest")
    assert split_model("org/m") == ("org/m", None)
    assert split_model("org/m:") == ("org/m", None)


@pytest.mark.parametrize("suffix", ["fastest", "cheapest", "preferred", "together"])
async def test_suffix_is_sent_to_the_router(router: FakeRouter, suffix: str) -> None:
    router.add_chat_model("org/m")
    chunks = await collect(f"org/m:{suffix}")
    assert answer(chunks) == "Hello world!"
    assert chunks[-2:] == [Usage(5, 3), FinishReason("stop")]
    assert router.last("POST", CHAT).json()["model"] == f"org/m:{suffix}"


async def test_requested_provider_missing_fails_before_sending(router: FakeRouter) -> None:
    router.add_chat_model(
        "org/m", providers=mapping(together="conversational", fireworks_ai="conversational")
    )
    with pytest.raises(ModelNotSupportedError, match="does not serve org/m") as caught:
        await collect("org/m", provider="novita")
    assert "together (conversational, live), fireworks-ai (conversational, live)" in str(
        caught.value
    )
    assert router.count("POST", CHAT) == 0


async def test_model_no_provider_serves(router: FakeRouter) -> None:
    router.add_chat_model("org/m", providers=mapping(nebius=("conversational", "staging")))
    with pytest.raises(ModelNotSupportedError, match="No Inference Provider serves org/m"):
        await collect("org/m")
    router.add_chat_model("org/n", providers={})
    with pytest.raises(ModelNotSupportedError, match=r"providers listed: none"):
        await collect("org/n")
    assert router.count("POST", CHAT) == 0


async def test_staging_provider_can_be_asked_for_by_name(router: FakeRouter) -> None:
    router.add_chat_model("org/m", providers=mapping(nebius=("conversational", "staging")))
    assert answer(await collect("org/m:nebius")) == "Hello world!"


async def test_text_generation_only_model_is_refused(router: FakeRouter) -> None:
    router.add_chat_model("org/base", providers=mapping(featherless_ai="text-generation"))
    with pytest.raises(ModelNotSupportedError, match="not for chat") as caught:
        await collect("org/base")
    assert caught.value.pipeline_tag == "text-generation"


async def test_router_400_not_supported_is_model_not_supported(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    router.script(
        "POST",
        CHAT,
        openai_error(
            "The requested model 'org/m' is not supported by any provider you have enabled."
        ),
    )
    with pytest.raises(ModelNotSupportedError, match="settings/inference-providers"):
        await collect("org/m")


async def test_unknown_model_is_model_not_found(router: FakeRouter) -> None:
    with pytest.raises(ModelNotFoundError, match="org/nope"):
        await collect("org/nope")


async def test_hub_trouble_leaves_the_choice_to_the_router(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    router.script("GET", "/api/models/org/m", json_reply({"error": "boom"}, 500))
    assert answer(await collect("org/m", max_retries=0)) == "Hello world!"


async def test_provider_argument_conflicts_with_suffix(router: FakeRouter) -> None:
    with pytest.raises(InvalidRequestError, match="give one of them"):
        await collect("org/m:together", provider="novita")


async def test_mapping_is_fetched_once(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    for _ in range(3):
        await collect("org/m")
    assert router.count("GET", "/api/models/org/m") == 1


# -- streams: reasoning, tools, usage, errors ----------------------------------------


async def test_reasoning_content_deltas(router: FakeRouter) -> None:
    router.add_chat_model("org/r1", template="{% if add_generation_prompt %}<think>\n{% endif %}")
    router.script(
        "POST",
        CHAT,
        chat_stream(
            [
                chunk(reasoning="Two plus"),
                chunk(reasoning=" two."),
                chunk("4"),
                chunk(finish="stop"),
            ]
        ),
    )
    chunks = await collect("org/r1")
    # The template opens <think>, but the server separates reasoning: the answer stays an answer.
    assert chunks == [Reasoning("Two plus"), Reasoning(" two."), "4", FinishReason("stop")]


async def test_template_opened_think(router: FakeRouter) -> None:
    router.add_chat_model("org/r1", template="{% if add_generation_prompt %}<think>\n{% endif %}")
    pieces = ["Let me", " think.\n</th", "ink>\n\n", "Four", "."]
    router.script("POST", CHAT, chat_stream([chunk(p) for p in pieces] + [chunk(finish="stop")]))
    chunks = await collect("org/r1")
    assert thoughts(chunks) == "Let me think.\n" and answer(chunks) == "Four."
    # Told otherwise, the same stream is all answer (the stray tag is dropped).
    router.script("POST", CHAT, chat_stream([chunk(p) for p in pieces] + [chunk(finish="stop")]))
    assert answer(await collect("org/r1", reasoning_open=False)) == "Let me think.\nFour."


async def test_tool_calls_in_many_deltas(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    recorded = snapshot_stream("test_tools_llama/test_flash_llama_grammar_tools_choice_stream.json")
    router.script("POST", CHAT, chat_stream(recorded))
    chunks = await collect("org/m", tools=[{"type": "function", "function": {"name": "x"}}])
    assert [type(c) for c in chunks] == [ToolCalls, FinishReason]
    call = chunks[0].calls[0]
    assert call.name == "get_current_weather"
    assert json.loads(call.arguments) == {"format": "fahrenheit", "location": "Brooklyn, NY"}
    assert chunks[1] == FinishReason("tool_calls")


async def test_error_event_mid_stream(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    events = [chunk("Hel"), chunk("lo"), {"error": {"message": "overloaded", "type": "server"}}]
    router.script("POST", CHAT, chat_stream(events, done=False))
    seen: list[Any] = []
    with pytest.raises(StreamError, match="overloaded") as caught:
        async for item in HuggingFaceRouter.create_async_generator("org/m", USER):
            seen.append(item)
    assert seen == ["Hel", "lo"] and caught.value.partial_text == "Hello"


async def test_cut_stream_is_not_retried(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    reply = chat_stream([chunk("Hel"), chunk("lo"), chunk(" there")], done=False)
    assert reply.chunks is not None
    reply.cut_after = len(reply.chunks[0]) + 20  # inside the second event's HTTP chunk
    router.script("POST", CHAT, reply)
    with pytest.raises(StreamError) as caught:
        await collect("org/m")
    assert caught.value.partial_text == "Hel"
    assert router.count("POST", CHAT) == 1


async def test_html_page_is_our_error(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    router.script(
        "POST", CHAT, Reply(200, {"content-type": "text/html"}, b"<html>captive portal</html>")
    )
    with pytest.raises(HtmlResponseError, match="HTML page"):
        await collect("org/m")


# -- models ---------------------------------------------------------------------------


def _served(model: str) -> dict[str, Any]:
    provider = {"provider": "together", "status": "live", "context_length": 8192}
    return {"id": model, "object": "model", "providers": [provider]}


async def test_get_models_lists_the_router_and_caches(router: FakeRouter) -> None:
    router.router_models = [_served("org/a"), _served("org/b")]
    assert await HuggingFaceRouter.get_models_async() == ["org/a", "org/b"]
    assert await HuggingFaceRouter.get_models_async() == ["org/a", "org/b"]
    assert router.count("GET", "/v1/models") == 1
    HuggingFaceRouter.router_models.clear()  # a new process: the disk answers
    assert await HuggingFaceRouter.get_models_async() == ["org/a", "org/b"]
    assert router.count("GET", "/v1/models") == 1
    entries = await HuggingFaceRouter.router_models.fetch()
    assert entries[0]["providers"][0]["context_length"] == 8192


async def test_get_models_falls_back_when_the_router_is_down(monkeypatch) -> None:
    monkeypatch.setenv("HF_ROUTER_URL", "http://127.0.0.1:9")
    models = await HuggingFaceRouter.get_models_async()
    assert HuggingFaceRouter.default_model in models


# -- images through providers ------------------------------------------------------------


IMAGE_CASSETTES = {
    "together": "TestInferenceClient.test_text_to_image_default[together,text-to-image].yaml",
}
#: Recorded before the Hub stopped routing images to these providers (July 2026).
RETIRED_CASSETTES = {
    "nebius": "TestInferenceClient.test_text_to_image_default[nebius,text-to-image].yaml",
    "hyperbolic": "TestInferenceClient.test_text_to_image_default[hyperbolic,text-to-image].yaml",
}
PROMPT = "An astronaut riding a horse on the moon."


@pytest.mark.parametrize("provider", sorted(IMAGE_CASSETTES))
async def test_recorded_provider_images(router: FakeRouter, provider: str) -> None:
    info, generation = load_cassette(IMAGE_CASSETTES[provider])
    router.script("GET", info.path, info.reply())
    router.script("POST", generation.path, generation.reply())
    model = info.path.removeprefix("/api/models/")
    chunks = await collect(f"{model}:{provider}", [], prompt=PROMPT, width=512, height=512)
    assert len(chunks) == 1 and isinstance(chunks[0], ImageResponse)
    image = chunks[0]
    recorded = json.loads(generation.body)
    encoded = (recorded.get("data") or recorded.get("images"))[0]
    body, media_type = image.data()
    assert body == base64.b64decode(encoded.get("b64_json") or encoded.get("image"))
    assert media_type in {"image/jpeg", "image/webp", "image/png"}
    assert image.alt == PROMPT and image.options["provider"] == provider
    sent = router.last("POST", generation.path).json()
    expected = json.loads(generation.request_body)
    for key in expected.keys() - {"model", "model_name"}:
        assert sent[key] == expected[key], key
    mapped = json.loads(info.body)["inferenceProviderMapping"][provider]["providerId"]
    assert sent.get("model", sent.get("model_name")) == mapped


@pytest.mark.parametrize("provider", sorted(RETIRED_CASSETTES))
async def test_retired_image_providers_get_a_clear_error(router: FakeRouter, provider: str) -> None:
    info, generation = load_cassette(RETIRED_CASSETTES[provider])
    router.script("GET", info.path, info.reply())
    model = info.path.removeprefix("/api/models/")
    with pytest.raises(InvalidRequestError, match=f"no longer routes text-to-image to {provider}"):
        await collect(f"{model}:{provider}", [], prompt=PROMPT)
    assert router.count("POST", generation.path) == 0  # nothing sent into the void


async def test_recorded_hf_inference_image(router: FakeRouter) -> None:
    name = "TestInferenceClient.test_text_to_image_default[hf-inference,text-to-image].yaml"
    generation = load_cassette(name)[-1]  # recorded before the Hub listed providers
    model = "CompVis/stable-diffusion-v1-4"
    providers = {"hf-inference": {"status": "live", "providerId": model, "task": "text-to-image"}}
    router.models[model] = {"id": model, "inferenceProviderMapping": providers}
    router.script("POST", generation.path, generation.reply())
    chunks = await collect(model, [{"role": "user", "content": PROMPT}])
    assert chunks[0].data() == (generation.body, "image/jpeg")
    sent = router.last("POST", "/hf-inference/models/").json()
    assert sent["inputs"] == PROMPT and 0 <= sent["parameters"]["seed"] < 2**32


async def test_fal_image_url_is_downloaded_without_the_token(
    router: FakeRouter, monkeypatch
) -> None:
    info, generation, download = load_cassette(
        "TestInferenceClient.test_text_to_image_default[fal-ai,text-to-image].yaml"
    )
    cdn = FakeRouter()
    await cdn.start()
    try:
        cdn.script("GET", download.path, download.reply())
        answer_json = generation.body.replace(
            b"https://v3.fal.media", cdn.url.encode()
        )  # the provider's file host, here a second local server
        router.script("GET", info.path, info.reply())
        router.script(
            "POST", generation.path, Reply(200, {"content-type": "application/json"}, answer_json)
        )
        chunks = await collect(
            "black-forest-labs/FLUX.1-dev:fal-ai", [], prompt=PROMPT, api_key="hf_secret"
        )
    finally:
        await cdn.stop()
    assert chunks[0].data() == (download.body, "image/png")  # the bytes say PNG, fal said jpeg
    assert "authorization" not in cdn.last("GET", "/files/").headers
    assert router.last("POST", "/fal-ai/").headers["authorization"] == "Bearer hf_secret"
    assert router.last("POST", "/fal-ai/").json()["prompt"] == PROMPT


async def test_image_provider_chosen_from_the_mapping(router: FakeRouter) -> None:
    router.models["org/img"] = {
        "id": "org/img",
        "inferenceProviderMapping": mapping(
            nebius="text-to-image", nscale="text-to-image", together="text-to-image"
        ),
    }
    encoded = base64.b64encode(PNG_1PX).decode()
    router.image_routes["nscale"] = lambda request: json_reply({"data": [{"b64_json": encoded}]})
    chunks = await collect("org/img", [], prompt="a red dot", aspect_ratio="16:9", seed=7)
    assert chunks[0].data() == (PNG_1PX, "image/png")  # nebius is no longer routed: skipped
    sent = router.last("POST", "/nscale/").json()
    assert sent == {
        "response_format": "b64_json",
        "prompt": "a red dot",
        "model": "nscale/m",
        "size": "1024x576",
        "seed": 7,
    }


async def test_retired_provider_asked_by_name_is_refused(router: FakeRouter) -> None:
    router.models["org/img"] = {
        "id": "org/img",
        "inferenceProviderMapping": mapping(black_forest_labs="text-to-image"),
    }
    with pytest.raises(InvalidRequestError, match="no longer routes"):
        await collect("org/img", [], prompt="x", provider="black-forest-labs")
    assert router.count("POST", "/") == 0


# -- contract: instances, the blocking twin, secrets, bases -------------------------------


async def test_instance_reuses_its_pool_and_defaults(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    async with HuggingFaceRouter(api_key="hf_secret") as provider:
        first = [c async for c in provider.create_async_generator("org/m", USER)]
        http = provider._http
        second = [c async for c in provider.create_async_generator("org/m", USER, stream=False)]
        assert provider._http is http and http is not None and not http.closed
    assert answer(first) == answer(second) == "Hello world!"
    assert router.last("POST", CHAT).headers["authorization"] == "Bearer hf_secret"
    assert "hf_secret" not in repr(provider)


async def test_api_base_and_base_url(router: FakeRouter, monkeypatch) -> None:
    router.add_chat_model("org/m")
    monkeypatch.setenv("HF_ROUTER_URL", "http://127.0.0.1:9")
    assert answer(await collect("org/m", api_base=router.url)) == "Hello world!"
    assert answer(await collect("org/m", base_url=router.url + "/")) == "Hello world!"


async def test_old_serverless_base_fails_before_any_request(router: FakeRouter) -> None:
    with pytest.raises(EndpointGoneError):
        await collect("org/m", api_base="https://api-inference.huggingface.co")
    assert router.requests == []


async def test_token_never_in_errors(router: FakeRouter) -> None:
    router.add_chat_model("org/m")
    router.script("POST", CHAT, openai_error("bad request", 400))
    with pytest.raises(ValidationError) as caught:
        await collect("org/m", api_key="hf_verysecret")
    assert "hf_verysecret" not in str(caught.value) and "hf_verysecret" not in repr(caught.value)


@pytest.fixture
def router_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    server = FakeRouter()
    server.add_chat_model("org/m")
    with running_in_thread(server):
        for name in ("HF_ENDPOINT", "HF_ROUTER_URL"):
            monkeypatch.setenv(name, server.url)
        clear_router_caches()
        yield server
        clear_router_caches()


def test_create_completion_blocking(router_sync: FakeRouter) -> None:
    chunks = list(HuggingFaceRouter.create_completion("org/m", USER))
    assert chunks == ["Hello", " world", "!", Usage(5, 3), FinishReason("stop")]
    router_sync.router_models = [_served("org/a")]
    assert HuggingFaceRouter.get_models() == ["org/a"]


@pytest.mark.parametrize(
    "model", ["http://127.0.0.1:9", "https://x.invalid/x", "org/m:Not_A-Provider", "a:b/c"]
)
def test_split_model_splits_only_a_provider_name(model: str) -> None:
    assert split_model(model) == (model, None)


@pytest.mark.parametrize("provider", ["hf-inference", "fal-ai", "replicate", "wavespeed"])
@pytest.mark.parametrize(
    "provider_id", ["../../api/whoami-v2", "org/../x", "%2e%2e/x", "m?x=1", "a//b", "/m"]
)
async def test_a_bad_provider_id_from_the_mapping_is_never_sent(
    router: FakeRouter, provider: str, provider_id: str
) -> None:
    entry = {"status": "live", "providerId": provider_id, "task": "text-to-image"}
    router.models["org/img"] = {"id": "org/img", "inferenceProviderMapping": {provider: entry}}
    with pytest.raises(InvalidRequestError, match="not a valid provider model id"):
        await collect("org/img", [], prompt="x", provider=provider)
    assert [r.path for r in router.requests if r.method == "POST"] == []


def test_good_provider_ids_pass() -> None:
    from hfinfer.protocol.repo_ids import check_provider_id

    for good in ("fal-ai/flux/dev", "black-forest-labs/FLUX.1-dev", "fal-ai/flux-pro/v1.1-ultra"):
        assert check_provider_id(good, "fal-ai") == good
