"""``hfinfer serve`` end to end: chat completions through the official ``openai`` client.

One gateway subprocess for the module, in front of a local router (the Hub
and the router's routes, tests/routerserver.py) on a thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from gatewayproc import Gateway, serving_gateway
from hfserver import Reply, running_in_thread
from routerserver import FakeRouter, chat_stream, chunk, completion, json_reply, mapping

SERVER_TOKEN = "hf_server_side_secret_token"
USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    server = FakeRouter()
    server.add_chat_model("org/chat", ["Hello", " there", "!"])
    with running_in_thread(server):
        yield server


@pytest.fixture(scope="module")
def gateway(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gateway_home")
    env = {"HF_TOKEN": SERVER_TOKEN, "HFINFER_MAX_RETRIES": "0"}
    with serving_gateway(router.url, home, **env) as started:
        yield started


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key="unused", max_retries=0, timeout=60)


def test_whole_answer(client: openai.OpenAI, router: FakeRouter) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="org/chat",
        messages=USER,
        max_tokens=50,
        temperature=0.5,
        seed=7,
        top_p=0.9,
        stop=["\n"],
        frequency_penalty=0.1,
        presence_penalty=0.2,
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "Hello there!"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.total_tokens == 8
    assert reply.model == "org/chat"
    assert raw.headers["x-request-id"]
    sent = router.last("POST", "/v1/chat/completions")
    body = sent.json()
    assert body["max_tokens"] == 50 and body["temperature"] == 0.5 and body["seed"] == 7
    assert body["top_p"] == 0.9 and body["stop"] == ["\n"]
    assert body["frequency_penalty"] == 0.1 and body["presence_penalty"] == 0.2
    # The server's token goes upstream, never back to the caller.
    assert sent.headers["authorization"] == f"Bearer {SERVER_TOKEN}"
    assert SERVER_TOKEN not in raw.text


def test_stream_with_usage(client: openai.OpenAI) -> None:
    events = list(
        client.chat.completions.create(
            model="org/chat", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert text == "Hello there!"
    assert events[0].choices[0].delta.role == "assistant"
    finish = [
        e.choices[0].finish_reason for e in events if e.choices and e.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    # Exactly one usage chunk, the last one, without choices.
    usage = [e for e in events if e.usage is not None]
    assert usage == [events[-1]] and events[-1].choices == []
    assert events[-1].usage is not None and events[-1].usage.completion_tokens == 3


def test_stream_without_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    events = list(client.chat.completions.create(model="org/chat", messages=USER, stream=True))
    assert all(e.usage is None for e in events)
    assert events[-1].choices[0].finish_reason == "stop"


async def test_async_client_stream_and_whole(gateway: Gateway) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key="unused", max_retries=0, timeout=60)
    async with client:
        whole = await client.chat.completions.create(model="org/chat", messages=USER)
        assert whole.choices[0].message.content == "Hello there!"
        stream = await client.chat.completions.create(model="org/chat", messages=USER, stream=True)
        pieces = [e.choices[0].delta.content async for e in stream if e.choices]
    assert "".join(p or "" for p in pieces) == "Hello there!"


def test_image_parts_and_unknown_fields_pass_through(
    client: openai.OpenAI, router: FakeRouter
) -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    client.chat.completions.create(
        model="org/chat",
        messages=[{"role": "user", "content": parts}],
        extra_body={"top_k": 5, "repetition_penalty": 1.1},
        response_format={"type": "json_object"},
        reasoning_effort="low",
    )
    body = router.last("POST", "/v1/chat/completions").json()
    assert body["messages"][0]["content"] == parts
    assert body["top_k"] == 5 and body["repetition_penalty"] == 1.1
    assert body["response_format"] == {"type": "json_object"}
    assert body["reasoning_effort"] == "low"


def test_max_completion_tokens_is_max_tokens(client: openai.OpenAI, router: FakeRouter) -> None:
    client.chat.completions.create(model="org/chat", messages=USER, max_completion_tokens=33)
    assert router.last("POST", "/v1/chat/completions").json()["max_tokens"] == 33


def test_tool_call_deltas(client: openai.OpenAI, router: FakeRouter) -> None:
    calls = [
        {
            "index": 0,
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": '},
        },
        {"index": 0, "function": {"arguments": '"Paris"}'}},
    ]
    router.add_chat_model("org/tools")
    router.chat_handlers["org/tools"] = lambda request: chat_stream(
        [
            chunk(None, tool_calls=calls[:1]),
            chunk(None, tool_calls=calls[1:]),
            chunk(None, finish="tool_calls"),
        ]
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    events = list(
        client.chat.completions.create(
            model="org/tools", messages=USER, tools=tools, tool_choice="auto", stream=True
        )
    )
    deltas = [d for e in events if e.choices for d in (e.choices[0].delta.tool_calls or [])]
    assert deltas and deltas[0].index == 0 and deltas[0].id == "call_a"
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == '{"city": "Paris"}'
    assert events[-1].choices[0].finish_reason == "tool_calls"
    sent = router.last("POST", "/v1/chat/completions").json()
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"


def test_tool_calls_whole(client: openai.OpenAI, router: FakeRouter) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    router.add_chat_model("org/tools2")
    router.chat_handlers["org/tools2"] = lambda request: json_reply(
        completion(None, finish="tool_calls", tool_calls=[call])
    )
    reply = client.chat.completions.create(model="org/tools2", messages=USER)
    message = reply.choices[0].message
    assert message.tool_calls is not None and message.tool_calls[0].id == "c1"
    assert reply.choices[0].finish_reason == "tool_calls"


def test_reasoning_content_in_deltas(client: openai.OpenAI, router: FakeRouter) -> None:
    router.add_chat_model("org/thinker")
    router.chat_handlers["org/thinker"] = lambda request: chat_stream(
        [chunk(None, reasoning="Let me think."), chunk("42"), chunk(None, finish="stop")]
    )
    events = list(client.chat.completions.create(model="org/thinker", messages=USER, stream=True))
    raw = [e.choices[0].delta.model_dump() for e in events if e.choices]
    assert "".join(d.get("reasoning_content") or "" for d in raw) == "Let me think."
    assert "".join(d.get("content") or "" for d in raw) == "42"


def test_provider_suffix_reaches_the_router(client: openai.OpenAI, router: FakeRouter) -> None:
    router.add_chat_model(
        "org/multi", providers=mapping(together="conversational", cerebras="conversational")
    )
    client.chat.completions.create(model="org/multi:cerebras", messages=USER)
    assert router.last("POST", "/v1/chat/completions").json()["model"] == "org/multi:cerebras"


def test_n_above_the_bound_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="org/chat", messages=USER, n=5)
    assert caught.value.body["param"] == "n"


def _two_answers(request: object) -> Reply:
    first, second = chunk("A"), chunk("B")
    second["choices"][0]["index"] = 1
    end_first, end_second = chunk(None, finish="stop"), chunk(None, finish="length")
    end_second["choices"][0]["index"] = 1
    return chat_stream([first, second, end_second, end_first])


def _two_whole(request: object) -> Reply:
    body = completion("A")
    body["choices"].append({"index": 1, "message": {"role": "assistant", "content": "B"},
                            "finish_reason": "length"})  # fmt: skip
    return json_reply(body)


def test_n_answers_stay_apart(client: openai.OpenAI, router: FakeRouter) -> None:
    router.add_chat_model("org/two")
    router.chat_handlers["org/two"] = lambda request: (
        _two_answers(request) if request.json().get("stream") else _two_whole(request)
    )
    events = list(client.chat.completions.create(model="org/two", messages=USER, n=2, stream=True))
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for event in events:
        for choice in event.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert texts == {0: "A", 1: "B"} and finishes == {0: "stop", 1: "length"}
    assert router.last("POST", "/v1/chat/completions").json()["n"] == 2
    whole = client.chat.completions.create(model="org/two", messages=USER, n=2)
    assert [(c.index, c.message.content, c.finish_reason) for c in whole.choices] == [
        (0, "A", "stop"), (1, "B", "length")
    ]  # fmt: skip


def test_access_log_line_has_no_prompt(client: openai.OpenAI, gateway: Gateway) -> None:
    secret_prompt = "a prompt that must not be logged 7f3a"
    client.chat.completions.create(
        model="org/chat", messages=[{"role": "user", "content": secret_prompt}]
    )
    lines = [json.loads(x) for x in gateway.output().splitlines() if x.startswith("{")]
    assert lines, "no access-log line"
    last = lines[-1]
    assert last["route"] == "chat" and last["model"] == "org/chat" and last["status"] == 200
    assert last["completion_tokens"] == 3 and last["request_id"]
    assert {"duration_ms", "ttft_ms", "provider", "prompt_tokens"} <= set(last)
    assert secret_prompt not in gateway.output()
    assert SERVER_TOKEN not in gateway.output()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
