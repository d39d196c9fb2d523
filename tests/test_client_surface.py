"""What the faces ask of AsyncClient: images, the router's catalogue, the exact
prompt, and a response that carries what a log needs."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from hfinfer import (
    AsyncClient,
    ChatResponse,
    ImageResponse,
    ProviderOffer,
    RenderedPrompt,
    RouterModel,
)
from hfinfer.errors import HFInferenceError, ModelNotSupportedError
from hfinfer.providers.hf_router import HuggingFaceRouter
from hfserver import PNG_1PX, FakeHF, json_reply
from routerserver import FakeRouter, chat_stream, chunk, mapping, serve_router

CHAT = "/v1/chat/completions"


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    HuggingFaceRouter.router_models.clear()
    async with serve_router(monkeypatch) as server:
        server.add_chat_model("org/m")
        yield server
    HuggingFaceRouter.router_models.clear()


# -- ChatResponse ------------------------------------------------------------------


async def test_whole_response_carries_the_call(router: FakeRouter) -> None:
    async with AsyncClient() as client:
        reply = await client.chat("org/m", "Hi", max_tokens=7, provider="together")
    assert reply.messages == [{"role": "user", "content": "Hi"}]
    assert reply.options == {"stream": False, "max_tokens": 7, "provider": "together"}
    assert (reply.route, reply.provider, reply.model) == ("router", "together", "org/m")
    assert reply.duration is not None and reply.duration >= 0
    assert reply.time_to_first_token is not None
    assert reply.time_to_first_token <= reply.duration


async def test_stream_takes_request_id_and_provider_from_the_headers(router: FakeRouter) -> None:
    reply = chat_stream([chunk("a"), chunk("b", finish="stop")])
    reply.headers.update({"x-request-id": "req-42", "x-inference-provider": "nebius"})
    router.script("POST", CHAT, reply)
    async with AsyncClient() as client:
        stream = await client.chat("org/m", "Hi", stream=True)
        assert stream.response.request_id == "req-42"  # known once the headers are in
        assert stream.response.duration is None
        async with stream:
            response = await stream.collect()
    assert (response.text, response.provider) == ("ab", "nebius")
    assert response.duration is not None and response.time_to_first_token is not None


async def test_policy_is_not_a_provider(router: FakeRouter) -> None:
    reply = await AsyncClient().chat("org/m:fastest", "Hi")
    assert reply.provider is None and reply.request_id is None


async def test_to_dict_is_json_ready(router: FakeRouter) -> None:
    reply = await AsyncClient().chat("org/m", "Hi", stop=["x"])
    data = reply.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["text"] == "Hello world!" and data["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert data["messages"] == [{"role": "user", "content": "Hi"}]
    assert data["options"]["stop"] == ["x"] and data["tool_calls"] == []
    expected = {"model", "route", "provider", "request_id", "reasoning", "duration"}
    assert expected <= data.keys() and "time_to_first_token" in data


def test_to_dict_turns_the_unknown_into_text() -> None:
    response = ChatResponse(model="m", route="tgi", options={"extra": object(), "n": (1, 2)})
    data = response.to_dict()
    assert data["options"]["n"] == [1, 2] and isinstance(data["options"]["extra"], str)
    assert data["duration"] is None and data["usage"] is None


# -- image() ------------------------------------------------------------------------


async def test_image_through_the_router(router: FakeRouter) -> None:
    router.models["org/img"] = {
        "id": "org/img",
        "inferenceProviderMapping": mapping(together="text-to-image"),
    }
    encoded = base64.b64encode(PNG_1PX).decode()
    router.image_routes["together"] = lambda request: json_reply({"data": [{"b64_json": encoded}]})
    async with AsyncClient() as client:
        image = await client.image("org/img", "a red dot", width=64, height=32, seed=3)
    assert isinstance(image, ImageResponse) and image.data() == (PNG_1PX, "image/png")
    assert image.options["provider"] == "together" and image.options["seed"] == 3
    sent = router.last("POST", "/together/").json()
    assert (sent["prompt"], sent["width"], sent["height"]) == ("a red dot", 64, 32)


async def test_image_on_the_text_generation_route(hf: FakeHF) -> None:
    hf.add_image_model("org/img")
    client = AsyncClient(api_base=hf.url, route="tgi")
    image = await client.image("org/img", "a cat", negative_prompt="dogs", steps=4, seed=1)
    assert image.data() == (PNG_1PX, "image/png")
    sent = hf.last("POST", "/models/org/img").json()
    assert sent["inputs"] == "a cat"
    assert sent["parameters"]["negative_prompt"] == "dogs"
    assert sent["parameters"]["num_inference_steps"] == 4


async def test_image_of_a_text_model_is_refused(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    with pytest.raises(ModelNotSupportedError, match="not an image"):
        await AsyncClient(api_base=hf.url, route="tgi").image("org/m", "a cat")


# -- models() -----------------------------------------------------------------------


def _entry(model: str) -> dict[str, object]:
    offer = {
        "provider": "together",
        "status": "live",
        "context_length": 8192,
        "pricing": {"input": 0.2, "output": 0.6},
        "supports_tools": True,
        "supports_structured_output": False,
    }
    bare = {"provider": "novita", "context_length": True, "pricing": "free"}
    return {"id": model, "object": "model", "owned_by": "org", "providers": [offer, bare]}


async def test_models_is_the_router_catalogue(router: FakeRouter) -> None:
    router.router_models = [_entry("org/a"), {"id": "org/b"}, {"no": "id"}]
    async with AsyncClient() as client:
        models = await client.models()
        assert await client.models() == models
        assert router.count("GET", "/v1/models") == 1
        router.router_models = [{"id": "org/c"}]
        assert [m.id for m in await client.models(refresh=True)] == ["org/c"]
    assert router.count("GET", "/v1/models") == 2
    first = models[0]
    assert isinstance(first, RouterModel) and [m.id for m in models] == ["org/a", "org/b"]
    assert first.owned_by == "org" and first.raw == _entry("org/a")
    assert first.providers[0] == ProviderOffer("together", "live", 8192, 0.2, 0.6, True, False)
    assert first.providers[1] == ProviderOffer("novita")  # wrong types are not guessed at
    assert models[1].providers == () and models[1].owned_by is None


async def test_models_raises_when_the_router_cannot_answer(monkeypatch) -> None:
    monkeypatch.setenv("HF_ROUTER_URL", "http://127.0.0.1:9")
    with pytest.raises(HFInferenceError):
        await AsyncClient().models()


# -- render_prompt() ----------------------------------------------------------------


async def test_render_prompt_uses_the_model_template(hf: FakeHF) -> None:
    template = "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
    hf.add_text_model("org/m", template=template)
    async with AsyncClient() as client:  # the router's client asks the text-generation route
        rendered = await client.render_prompt("org/m", "Hi")
    assert isinstance(rendered, RenderedPrompt)
    assert (rendered.text, rendered.source) == ("[user]Hi", "chat_template (model info)")
    assert rendered.model == "org/m"
    assert str(rendered) == "[user]Hi"


async def test_render_prompt_is_what_the_route_sends(hf: FakeHF) -> None:
    hf.add_text_model("org/m")
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    client = AsyncClient(api_base=hf.url, route="tgi")
    rendered = await client.render_prompt("org/m", messages)
    await client.chat("org/m", messages)
    assert hf.last("POST", "/models/org/m").json()["inputs"] == rendered.text
    assert rendered.source == "family: llama"
