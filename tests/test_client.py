"""AsyncClient and hfinfer.chat: one call, whichever route serves the model."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hfinfer.client import AsyncClient, ChatResponse, ChatStream, chat, choose_route
from hfinfer.errors import InvalidRequestError, ModelNotFoundError
from hfinfer.types import FinishReason, Reasoning, ToolCall, Usage
from ownserver import FakeTGI
from routerserver import FakeRouter, chat_stream, chunk, serve_router

CHAT = "/v1/chat/completions"


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    async with serve_router(monkeypatch) as server:
        server.add_chat_model("org/m")
        yield server


@pytest.fixture
async def tgi() -> AsyncIterator[FakeTGI]:
    """A second server: text-generation-inference of the user's own."""
    async with FakeTGI() as server:
        yield server


def test_choose_route() -> None:
    router = "https://router.huggingface.co"
    assert choose_route(None, router) == "router"
    assert choose_route(router + "/", router) == "router"
    assert choose_route(router + "/v1", router) == "router"
    assert choose_route(router + "/hf-inference", router) == "tgi"
    # Another server: its protocol is asked once ("auto") unless named.
    assert choose_route("https://xyz.endpoints.huggingface.cloud", router) == "auto"
    assert choose_route("http://localhost:8000/v1", router) == "auto"
    assert choose_route("http://localhost:8000/v1", router, "openai") == "openai"
    assert choose_route("http://localhost:8080", router, "tgi") == "tgi"
    assert choose_route("http://localhost:8080", router, "router") == "openai"


async def test_chat_whole_answer(router: FakeRouter) -> None:
    reply = await AsyncClient().chat("org/m", "Hi")
    assert isinstance(reply, ChatResponse)
    assert (reply.text, reply.route, reply.finish_reason) == ("Hello world!", "router", "stop")
    assert reply.usage == Usage(5, 3) and str(reply) == "Hello world!"
    assert router.last("POST", CHAT).json()["messages"] == [{"role": "user", "content": "Hi"}]


async def test_chat_stream_with_reasoning_and_tools(router: FakeRouter) -> None:
    call = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
    events = [
        chunk(reasoning="hmm"),
        chunk("ok"),
        chunk(tool_calls=[call]),
        chunk(finish="tool_calls"),
    ]
    router.script("POST", CHAT, chat_stream(events))
    async with AsyncClient() as client:
        stream = await client.chat("org/m", "Hi", stream=True, provider="together")
        assert isinstance(stream, ChatStream)
        async with stream:
            seen = [c async for c in stream]
    assert seen[:2] == [Reasoning("hmm"), "ok"] and seen[-1] == FinishReason("tool_calls")
    response = stream.response
    assert (response.reasoning, response.text) == ("hmm", "ok")
    assert response.tool_calls == (ToolCall("c1", "f", "{}"),)
    assert router.last("POST", CHAT).json()["model"] == "org/m:together"


async def test_abandoned_stream_is_closed(router: FakeRouter) -> None:
    router.script("POST", CHAT, chat_stream([chunk(w) for w in "abcdef"], delay=0.01))
    stream = await chat("org/m", "Hi", stream=True)
    async with stream:
        first = await stream.__anext__()
    assert first == "a" and stream.response.text == "a"
    await stream.aclose()  # a second close is harmless


async def test_api_base_of_a_text_generation_server(router: FakeRouter, tgi: FakeTGI) -> None:
    reply = await chat("org/m", "Hi", api_base=tgi.url)
    assert (reply.text, reply.route, reply.finish_reason) == ("From TGI", "tgi", "stop")
    assert tgi.last("POST", "/").json()["stream"] is False
    assert router.count("POST", CHAT) == 0 and router.count("GET", "/api/") == 0


async def test_route_can_be_forced(router: FakeRouter) -> None:
    router.add_text_model("org/m", tokens=["Compat"])
    reply = await chat("org/m", "Hi", route="tgi", api_base=router.url)
    assert reply.text == "Compat" and reply.route == "tgi"
    reply = await chat("org/m", "Hi", route="router")
    assert reply.text == "Hello world!"
    with pytest.raises(InvalidRequestError):
        AsyncClient(route="other")  # type: ignore[arg-type]


async def test_router_url_argument(router: FakeRouter, monkeypatch) -> None:
    monkeypatch.setenv("HF_ROUTER_URL", "http://127.0.0.1:9")
    async with AsyncClient(router_url=router.url, api_key="hf_secret") as client:
        assert (await client.chat("org/m", "Hi")).text == "Hello world!"
        assert (await client.chat("org/m", "Hi again")).text == "Hello world!"
        assert "hf_secret" not in repr(client)
    assert router.last("POST", CHAT).headers["authorization"] == "Bearer hf_secret"


async def test_refused_stream_raises_at_the_call(router: FakeRouter) -> None:
    with pytest.raises(ModelNotFoundError):
        await chat("org/nope", "Hi", stream=True)
    assert router.count("POST", CHAT) == 0
