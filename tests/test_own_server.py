"""A server of the user's own (llama.cpp, vLLM, ollama, TGI): no Hub in the way.

Each test runs a local OpenAI-compatible or TGI-protocol server and, as the
Hub, a server that refuses, stalls or answers 404: the calls must work
without asking it anything, send the model name as given, send the key to
the user's server only, and word errors for that server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import hfinfer
from hfinfer import AsyncClient, ChoiceChunk, HuggingFaceRouter
from hfinfer.cli.main import cli
from hfinfer.errors import (
    AuthenticationError,
    ConnectionError,
    InvalidRequestError,
    ModelNotFoundError,
)
from hfinfer.types import FinishReason, Usage
from hfserver import running_in_thread
from ownserver import BadHub, FakeOpenAI, FakeTGI

ENV_TOKEN = "hf_env_secret_token"
CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(params=["refuse", "stall", "404"])
async def bad_hub(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BadHub]:
    """The Hub (HF_ENDPOINT) misbehaving; HF_TOKEN is set, so a leak would show."""
    async with BadHub(request.param) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
        yield hub


@pytest.fixture
async def hub_404(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BadHub]:
    async with BadHub("404") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
        yield hub


@pytest.fixture
async def own() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def posts(server: Any) -> list[str]:
    return [r.path for r in server.requests if r.method == "POST"]


def no_env_token(server: Any) -> None:
    for request in server.requests:
        assert ENV_TOKEN not in str(request.headers), request.path


async def bounded(awaitable: Any) -> Any:
    # A call that hangs on a stalled Hub fails the test instead of stalling the suite.
    return await asyncio.wait_for(awaitable, 60)


# -- the library: AsyncClient, hfinfer.chat, HuggingFaceRouter(api_base=...) ----------------


async def test_client_chats_with_local_model_names_and_never_asks_the_hub(
    own: FakeOpenAI, bad_hub: BadHub
) -> None:
    async with AsyncClient(api_base=own.url, api_key="sk-own") as client:
        reply = await bounded(client.chat("qwen2.5:7b", "Hi"))
        stream = await bounded(client.chat("tiny-llama", "Hi", stream=True))
        async with stream:
            streamed = await bounded(stream.collect())
    assert (reply.text, reply.route, reply.finish_reason) == (
        "[qwen2.5:7b] choice 0",
        "openai",
        "stop",
    )
    assert streamed.text == "[tiny-llama] choice 0" and streamed.usage == Usage(4, 3)
    assert bad_hub.requests == []
    assert [r.json()["model"] for r in own.chat_requests()] == ["qwen2.5:7b", "tiny-llama"]
    assert {r.headers.get("authorization") for r in own.requests} == {"Bearer sk-own"}
    no_env_token(own)


async def test_router_class_with_an_own_base_skips_the_hub(
    own: FakeOpenAI, bad_hub: BadHub
) -> None:
    chunks = [
        chunk
        async for chunk in HuggingFaceRouter.create_async_generator(
            "qwen2.5:7b", USER, api_base=own.url
        )
    ]
    assert "".join(c for c in chunks if isinstance(c, str)) == "[qwen2.5:7b] choice 0"
    assert chunks[-1] == FinishReason("stop")
    assert bad_hub.requests == []
    assert own.last("POST", CHAT).json()["model"] == "qwen2.5:7b"  # the colon is kept
    # The environment's HF token is for Hugging Face: the user's server gets none.
    assert "authorization" not in own.last("POST", CHAT).headers


async def test_router_instance_with_own_base_and_key(own: FakeOpenAI, hub_404: BadHub) -> None:
    async with HuggingFaceRouter(api_base=own.url + "/v1", api_key="sk-own") as router:
        text = await router.create_async("tiny-llama", USER)
    assert text == "[tiny-llama] choice 0"
    assert own.last("POST", CHAT).headers["authorization"] == "Bearer sk-own"
    assert hub_404.requests == []


async def test_chat_discovers_an_openai_server_once_per_base(
    own: FakeOpenAI, hub_404: BadHub
) -> None:
    first = await hfinfer.chat("tiny-llama", "Hi", api_base=own.url)
    second = await hfinfer.chat("qwen2.5:7b", "Hi", api_base=own.url + "/v1/")
    assert (first.route, first.text) == ("openai", "[tiny-llama] choice 0")
    assert second.text == "[qwen2.5:7b] choice 0"
    assert own.count("GET", "/v1/models") == 1  # found out once, remembered
    assert own.count("POST", CHAT) == 2 and own.count("GET", "/info") == 0
    assert hub_404.requests == []


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_bases_with_or_without_v1(own: FakeOpenAI, hub_404: BadHub, suffix: str) -> None:
    reply = await hfinfer.chat("tiny-llama", "Hi", api_base=own.url + suffix, route="openai")
    assert reply.text == "[tiny-llama] choice 0"
    assert [r.path for r in own.requests] == [CHAT]  # a named route needs no discovery


async def test_tgi_server_is_discovered_by_info(hub_404: BadHub) -> None:
    async with FakeTGI() as tgi:
        first = await hfinfer.chat("whatever-name", "Hi", api_base=tgi.url)
        second = await hfinfer.chat("whatever-name", "Hi", api_base=tgi.url, stream=True)
        async with second:
            streamed = await second.collect()
        assert (first.route, first.text, streamed.text) == ("tgi", "From TGI", "From TGI")
        assert tgi.count("GET", "/v1/models") == 1 and tgi.count("GET", "/info") == 1
        assert posts(tgi) == ["/", "/"] and "Hi" in tgi.last("POST", "/").json()["inputs"]
    assert hub_404.requests == []


async def test_tgi_with_its_messages_api_gets_the_openai_route(hub_404: BadHub) -> None:
    async with FakeTGI(messages_api=True) as tgi:
        reply = await hfinfer.chat("tgi", "Hi", api_base=tgi.url)
        assert (reply.route, reply.text) == ("openai", "[org/tiny] choice 0")
        assert posts(tgi) == [CHAT]
    assert hub_404.requests == []


async def test_route_tgi_named_speaks_tgi_even_when_openai_is_there(hub_404: BadHub) -> None:
    async with FakeTGI(messages_api=True) as tgi:
        reply = await hfinfer.chat("tgi", "Hi", api_base=tgi.url + "/v1", route="tgi")
        assert (reply.route, reply.text) == ("tgi", "From TGI")
        assert tgi.count("GET", "/v1/models") == 0 and tgi.count("POST", CHAT) == 0
    assert hub_404.requests == []


async def test_unknown_route_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="route"):
        AsyncClient(api_base="http://127.0.0.1:9", route="grpc")  # type: ignore[arg-type]


# -- credentials and errors worded for the user's server ---------------------------------------


async def test_env_token_reaches_an_own_server_only_when_opted_in(
    own: FakeOpenAI, hub_404: BadHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    await hfinfer.chat("tiny-llama", "Hi", api_base=own.url, route="openai")
    assert "authorization" not in own.last("POST", CHAT).headers
    monkeypatch.setenv("HFINFER_TOKEN_HOSTS", "127.0.0.1")
    await hfinfer.chat("tiny-llama", "Hi", api_base=own.url, route="openai")
    assert own.last("POST", CHAT).headers["authorization"] == f"Bearer {ENV_TOKEN}"


async def test_401_from_own_server_has_no_hugging_face_advice(hub_404: BadHub) -> None:
    async with FakeOpenAI(api_key="sk-right") as locked:
        with pytest.raises(AuthenticationError) as caught:
            await hfinfer.chat("tiny-llama", "Hi", api_base=locked.url, route="openai")
        message = str(caught.value)
        assert locked.url in message and "api_key" in message
        for hf_word in ("hf auth login", "HF_TOKEN", "Hub", "gated"):
            assert hf_word not in message
        reply = await hfinfer.chat(
            "tiny-llama", "Hi", api_base=locked.url, api_key="sk-right", route="openai"
        )
        assert reply.text == "[tiny-llama] choice 0"


async def test_unknown_model_on_own_server_names_the_server(
    own: FakeOpenAI, hub_404: BadHub
) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await hfinfer.chat("llama3", "Hi", api_base=own.url)
    message = str(caught.value)
    assert "llama3" in message and own.url in message
    assert "Hub" not in message and "owner/name" not in message
    assert "tiny-llama" in message  # what the server does serve
    assert hub_404.requests == []


async def test_unreachable_own_server_is_a_connection_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_ROUTER_URL", "http://router.invalid")  # 127.0.0.1:9 is no router here
    with pytest.raises(ConnectionError, match=r"127\.0\.0\.1:9"):
        await hfinfer.chat("tiny-llama", "Hi", api_base="http://127.0.0.1:9", max_retries=0)


# -- n > 1 and engine parameters ---------------------------------------------------------------


async def test_n2_stream_keeps_the_choices_apart(own: FakeOpenAI, hub_404: BadHub) -> None:
    stream = await hfinfer.chat("tiny-llama", "Hi", api_base=own.url, stream=True, n=2)
    async with stream:
        chunks = [c async for c in stream]
    assert own.last("POST", CHAT).json()["n"] == 2
    assert "".join(c for c in chunks if isinstance(c, str)) == "[tiny-llama] choice 0"
    others = [c for c in chunks if isinstance(c, ChoiceChunk)]
    assert {c.index for c in others} == {1}
    assert "".join(c.chunk for c in others if isinstance(c.chunk, str)) == "[tiny-llama] choice 1"
    assert str(others[0]) == ""  # printing every chunk prints the first answer only
    response = stream.response
    assert [c.text for c in response.choices] == ["[tiny-llama] choice 0", "[tiny-llama] choice 1"]
    assert [c.finish_reason for c in response.choices] == ["stop", "stop"]
    assert response.text == "[tiny-llama] choice 0"


async def test_n2_whole_answer_holds_both_choices(own: FakeOpenAI, hub_404: BadHub) -> None:
    reply = await hfinfer.chat("tiny-llama", "Hi", api_base=own.url, n=2)
    assert [c.text for c in reply.choices] == ["[tiny-llama] choice 0", "[tiny-llama] choice 1"]
    assert [c.index for c in reply.choices] == [0, 1] and reply.usage == Usage(4, 6)


async def test_n2_on_the_tgi_route_is_refused_before_sending(hub_404: BadHub) -> None:
    async with FakeTGI() as tgi:
        with pytest.raises(InvalidRequestError, match="n=2"):
            await hfinfer.chat("m", "Hi", api_base=tgi.url, route="tgi", n=2)
        assert tgi.count("POST", "/") == 0


async def test_engine_parameters_are_sent_and_dropped_ones_named(
    own: FakeOpenAI, hub_404: BadHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    knobs = {"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "typical_p": 0.9}
    await hfinfer.chat("tiny-llama", "Hi", api_base=own.url, frobnicate=1, **knobs)
    body = own.last("POST", CHAT).json()
    assert {k: body[k] for k in knobs} == knobs
    assert "frobnicate" not in body
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("frobnicate" in message for message in warned), warned


async def test_engine_parameters_on_the_tgi_route(
    hub_404: BadHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with FakeTGI() as tgi:
        await hfinfer.chat(
            "m", "Hi", api_base=tgi.url, route="tgi", top_k=20, repetition_penalty=1.1, min_p=0.1
        )
        parameters = tgi.last("POST", "/").json()["parameters"]
    assert parameters["top_k"] == 20 and parameters["repetition_penalty"] == 1.1
    assert "min_p" not in parameters  # TGI has no min_p: dropped, and said so
    assert any("min_p" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def own_sync(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    hub = BadHub("404")
    with running_in_thread(hub), running_in_thread(FakeOpenAI()) as server:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
        monkeypatch.delenv("HFINFER_API_BASE")
        yield server
        assert hub.requests == []
        no_env_token(server)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_chat_with_an_own_server(own_sync: FakeOpenAI) -> None:
    code, out, err = run("chat", "Hi", "-m", "qwen2.5:7b", "--api-base", own_sync.url + "/v1")
    assert code == 0, err
    assert out == "[qwen2.5:7b] choice 0\n"
    code, out, err = run(
        "chat", "Hi", "-m", "tiny-llama", "--api-base", own_sync.url, "--route", "openai",
        "--api-key", "sk-own", "--no-stream",
    )  # fmt: skip
    assert code == 0, err
    assert out == "[tiny-llama] choice 0\n"
    assert own_sync.last("POST", CHAT).headers["authorization"] == "Bearer sk-own"


def test_cli_without_a_model_takes_the_one_the_server_lists(own_sync: FakeOpenAI) -> None:
    code, out, err = run("chat", "Hi", "--api-base", own_sync.url)
    assert code == 0, err
    assert out == "[tiny-llama] choice 0\n"


def test_cli_401_from_own_server_is_one_line_without_hf_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_in_thread(FakeOpenAI(api_key="sk-right")) as locked:
        code, out, err = run("chat", "Hi", "-m", "tiny-llama", "--api-base", locked.url)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "error:" in err and "hf auth login" not in err


def test_cli_route_tgi(monkeypatch: pytest.MonkeyPatch) -> None:
    with running_in_thread(FakeTGI(messages_api=True)) as tgi:
        code, out, err = run("chat", "Hi", "-m", "m", "--api-base", tgi.url, "--route", "tgi")
        assert code == 0, err
        assert out == "From TGI\n" and posts(tgi) == ["/"]


async def test_concurrent_first_calls_ask_the_server_once(own: FakeOpenAI, hub_404: BadHub) -> None:
    async with AsyncClient(api_base=own.url) as client:
        replies = await asyncio.gather(*(client.chat("tiny-llama", "Hi") for _ in range(5)))
    assert {r.text for r in replies} == {"[tiny-llama] choice 0"}
    assert own.count("GET", "/v1/models") == 1 and own.count("POST", CHAT) == 5


async def test_complete_on_an_own_tgi_server_and_refused_on_an_openai_one(
    own: FakeOpenAI, hub_404: BadHub
) -> None:
    async with FakeTGI() as tgi:
        reply = await AsyncClient(api_base=tgi.url).complete("m", "Once upon a time")
        assert reply.text == "From TGI" and tgi.last("POST", "/").json()["inputs"] == (
            "Once upon a time"
        )
    with pytest.raises(InvalidRequestError, match="chat"):
        await AsyncClient(api_base=own.url, api_key="sk-own").complete("tiny-llama", "Once")
    assert posts(own) == [] and hub_404.requests == []


async def test_render_prompt_for_an_own_server_keeps_its_key_off_the_hub(
    own: FakeOpenAI, hub_404: BadHub
) -> None:
    with pytest.raises(ModelNotFoundError):  # the Hub (404 here) has no such model
        await AsyncClient(api_base=own.url, api_key="sk-own").render_prompt("org/m", "Hi")
    assert hub_404.requests, "render_prompt reads the model's template from the Hub"
    assert all("sk-own" not in str(r.headers) for r in hub_404.requests)
