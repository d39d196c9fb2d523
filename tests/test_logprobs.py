"""Log probabilities (``logprobs=True``): decoded from the upstream, kept by the
client, and written back by ``hfinfer serve`` in OpenAI's shape.

The upstream is the local router (tests/routerserver.py), an OpenAI-compatible
server that answers with ``choices[].logprobs.content``; the gateway runs as a
subprocess (tests/gatewayproc.py) and the official ``openai`` package reads it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from gatewayproc import Gateway, serving_gateway
from hfinfer import AsyncClient, ChatResponse, ChatStream, Logprobs, TokenLogprob
from hfinfer.protocol.openai_chat import ChatChunkDecoder, decode_completion
from hfinfer.types import FinishReason
from hfserver import Reply, running_in_thread
from routerserver import FakeRouter, chat_stream, chunk, completion, json_reply, serve_router

CHAT = "/v1/chat/completions"
USER = [{"role": "user", "content": "Hi"}]
#: (token, logprob, alternatives): what the upstream scores each answer token with.
SCORES = [
    ("Hello", -0.25, [("Hello", -0.25), ("Hi", -1.5)]),
    (" there", -0.5, [(" there", -0.5), (" world", -2.0)]),
    ("!", -0.125, [("!", -0.125), (".", -3.0)]),
]


def _entry(token: str, logprob: float, top: list[tuple[str, float]] | None = None) -> dict:
    out: dict[str, Any] = {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    if top is not None:
        out["top_logprobs"] = [_entry(t, lp) for t, lp in top]
    return out


def _scored_chunk(position: int) -> dict[str, Any]:
    token, logprob, top = SCORES[position]
    event = chunk(token)
    event["choices"][0]["logprobs"] = {"content": [_entry(token, logprob, top)], "refusal": None}
    return event


def scored_completion() -> dict[str, Any]:
    """The whole answer "Hello there!" with each token's log probability."""
    body = completion("Hello there!")
    content = [_entry(token, logprob, top) for token, logprob, top in SCORES]
    body["choices"][0]["logprobs"] = {"content": content, "refusal": None}
    return body


def scored_reply(request: Any) -> Reply:
    """The answer, streamed or whole as asked, with logprobs whether asked or not."""
    if request.json().get("stream"):
        return chat_stream([_scored_chunk(i) for i in range(3)] + [chunk(None, finish="stop")])
    return json_reply(scored_completion())


def _expected() -> list[TokenLogprob]:
    return [
        TokenLogprob(
            token, logprob, tuple(token.encode()),
            tuple(TokenLogprob(t, lp, tuple(t.encode())) for t, lp in top),
        )
        for token, logprob, top in SCORES
    ]  # fmt: skip


# -- the decoder -------------------------------------------------------------------


def test_stream_decoder_yields_logprobs_after_the_text() -> None:
    decoder = ChatChunkDecoder()
    pieces = decoder.feed([json.dumps(_scored_chunk(0)).encode()])
    assert pieces == ["Hello", Logprobs((_expected()[0],))]
    assert str(pieces[1]) == "" and len(pieces[1]) == 1


def test_stream_decoder_without_logprobs_yields_none() -> None:
    plain = chunk("Hello")
    plain["choices"][0]["logprobs"] = None
    decoder = ChatChunkDecoder()
    assert decoder.feed([json.dumps(plain).encode(), json.dumps(chunk("!")).encode()]) == [
        "Hello",
        "!",
    ]


def test_malformed_entries_are_skipped() -> None:
    event = chunk("a")
    event["choices"][0]["logprobs"] = {
        "content": [
            {"token": "a", "logprob": True},  # a bool is no number
            {"token": 3, "logprob": -1.0},
            "junk",
            {"token": "a", "logprob": -1, "bytes": "no", "top_logprobs": [{"x": 1}]},
        ]
    }
    pieces = ChatChunkDecoder().feed([json.dumps(event).encode()])
    assert pieces == ["a", Logprobs((TokenLogprob("a", -1.0, None, ()),))]
    empty = chunk("b")
    empty["choices"][0]["logprobs"] = {"content": []}
    assert ChatChunkDecoder().feed([json.dumps(empty).encode()]) == ["b"]


def test_whole_answer_decoder_yields_logprobs() -> None:
    body = scored_completion()
    pieces, tail = decode_completion(body)
    assert pieces == ["Hello there!", Logprobs(tuple(_expected()))]
    assert tail[-1] == FinishReason("stop")
    body["choices"][0]["logprobs"] = None
    assert decode_completion(body)[0] == ["Hello there!"]


# -- the client --------------------------------------------------------------------


@pytest.fixture
async def scoring_router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    async with serve_router(monkeypatch) as server:
        server.add_chat_model("org/scored")
        server.chat_handlers["org/scored"] = scored_reply
        yield server


async def test_client_whole_answer_keeps_logprobs(scoring_router: FakeRouter) -> None:
    async with AsyncClient() as client:
        reply = await client.chat("org/scored", "Hi", logprobs=True, top_logprobs=2)
    assert isinstance(reply, ChatResponse)
    assert reply.text == "Hello there!"
    assert list(reply.logprobs) == _expected()
    sent = scoring_router.last("POST", CHAT).json()
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2
    written = reply.to_dict()["logprobs"]
    assert [t["token"] for t in written] == ["Hello", " there", "!"]
    assert written[0]["top_logprobs"] == [
        {"token": "Hello", "logprob": -0.25, "bytes": list(b"Hello")},
        {"token": "Hi", "logprob": -1.5, "bytes": list(b"Hi")},
    ]
    json.dumps(reply.to_dict())  # JSON-ready


async def test_client_stream_yields_logprobs(scoring_router: FakeRouter) -> None:
    async with AsyncClient() as client:
        stream = await client.chat("org/scored", "Hi", stream=True, logprobs=True, top_logprobs=2)
        assert isinstance(stream, ChatStream)
        async with stream:
            seen = [c async for c in stream]
    assert "".join(str(c) for c in seen) == "Hello there!"  # they print as nothing
    scores = [c for c in seen if isinstance(c, Logprobs)]
    assert [t for s in scores for t in s] == _expected()
    assert list(stream.response.logprobs) == _expected()


async def test_client_without_logprobs_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serve_router(monkeypatch) as server:
        server.add_chat_model("org/plain", ["Hello"])
        reply = await AsyncClient().chat("org/plain", "Hi")
    assert isinstance(reply, ChatResponse)
    assert reply.logprobs == () and reply.to_dict()["logprobs"] is None


# -- the gateway, read by the openai package ---------------------------------------


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    server = FakeRouter()
    server.add_chat_model("org/scored")
    server.chat_handlers["org/scored"] = scored_reply
    with running_in_thread(server):
        yield server


@pytest.fixture(scope="module")
def gateway(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home: Path = tmp_path_factory.mktemp("logprobs_home")
    env = {"HF_TOKEN": "hf_server_token", "HFINFER_MAX_RETRIES": "0"}
    with serving_gateway(router.url, home, **env) as started:
        yield started


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key="unused", max_retries=0, timeout=60)


def _check_tokens(content: Any) -> None:
    assert content is not None
    assert [(t.token, t.logprob) for t in content] == [(s[0], s[1]) for s in SCORES]
    assert content[1].bytes == list(b" there")
    assert [(t.token, t.logprob) for t in content[1].top_logprobs] == SCORES[1][2]


def test_gateway_whole_answer_has_logprobs(client: openai.OpenAI, router: FakeRouter) -> None:
    reply = client.chat.completions.create(
        model="org/scored", messages=USER, logprobs=True, top_logprobs=2
    )
    choice = reply.choices[0]
    assert choice.message.content == "Hello there!"
    assert choice.logprobs is not None
    _check_tokens(choice.logprobs.content)
    sent = router.last("POST", CHAT).json()
    assert sent["logprobs"] is True and sent["top_logprobs"] == 2


def test_gateway_stream_has_logprobs(client: openai.OpenAI) -> None:
    events = list(
        client.chat.completions.create(
            model="org/scored", messages=USER, stream=True, logprobs=True, top_logprobs=2
        )
    )
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert text == "Hello there!"
    content = [
        token
        for e in events
        if e.choices and e.choices[0].logprobs is not None
        for token in e.choices[0].logprobs.content or []
    ]
    _check_tokens(content)
    assert events[0].choices[0].delta.role == "assistant"
    assert events[-1].choices[0].finish_reason == "stop"


def test_gateway_writes_no_logprobs_unasked(client: openai.OpenAI) -> None:
    # The upstream sends them anyway: the caller did not ask, so none are written.
    reply = client.chat.completions.create(model="org/scored", messages=USER)
    assert reply.choices[0].logprobs is None
    events = list(client.chat.completions.create(model="org/scored", messages=USER, stream=True))
    assert all(e.choices[0].logprobs is None for e in events if e.choices)
    assert "".join(e.choices[0].delta.content or "" for e in events if e.choices) == (
        "Hello there!"
    )
