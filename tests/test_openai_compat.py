"""The reference client agrees: the official ``openai`` package, pointed at the same local
router routes, sees the same answers as hfinfer for the same recorded bytes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from hfinfer.errors import StreamError
from hfinfer.providers.hf_router import HuggingFaceRouter
from hfinfer.types import FinishReason, Reasoning, ToolCalls, Usage
from hfserver import Reply, load_cassette
from routerserver import FakeRouter, chat_stream, chunk, load_tape, serve_router, snapshot_stream

CHAT = "/v1/chat/completions"
MODEL = "org/m"
MESSAGES = [{"role": "user", "content": "What is deep learning?"}]
STREAMS = [
    "TestInferenceClient.test_chat_completion_with_stream[hf-inference,conversational].yaml",
    "TestInferenceClient.test_chat_completion_with_stream[together,conversational].yaml",
    "TestInferenceClient.test_chat_completion_with_stream[cerebras,conversational].yaml",
    "TestOpenAICompatibility.test_with_stream_true.yaml",
    "test_async_chat_completion_with_stream.yaml",
    "InferenceClientVCRTest.test_chat_completion_with_stream.yaml",
]
# Chat finish reasons in OpenAI's words, as hfinfer reports them (TGI says "eos_token").
WORDS = {"eos_token": "stop", "stop_sequence": "stop"}


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    async with serve_router(monkeypatch) as server:
        server.add_chat_model(MODEL)
        yield server


def twice(router: FakeRouter, reply: Reply) -> None:
    """The same recorded answer for each client."""
    router.script("POST", CHAT, reply, Reply(reply.status, reply.headers, reply.body, reply.chunks))


async def with_openai(router: FakeRouter, **kwargs: Any) -> dict[str, Any]:
    """What the reference client sees: text, finish reason, usage, tool-call arguments."""
    seen: dict[str, Any] = {"text": "", "finish": None, "usage": None, "tools": {}}
    async with openai.AsyncOpenAI(
        base_url=router.url + "/v1", api_key="x", max_retries=0
    ) as client:
        if not kwargs.get("stream"):
            answer = await client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)
            message = answer.choices[0].message
            usage = answer.usage
            return {
                "text": message.content,
                "finish": answer.choices[0].finish_reason,
                "usage": Usage(usage.prompt_tokens, usage.completion_tokens) if usage else None,
                "tools": {},
            }
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, **kwargs)
        async with stream:
            async for part in stream:
                _take_openai_chunk(seen, part)
    return seen


def _take_openai_chunk(seen: dict[str, Any], part: Any) -> None:
    if part.usage is not None:
        seen["usage"] = Usage(part.usage.prompt_tokens, part.usage.completion_tokens)
    for choice in part.choices[:1]:
        seen["text"] += choice.delta.content or ""
        seen["finish"] = choice.finish_reason or seen["finish"]
        for call in choice.delta.tool_calls or []:
            seen["tools"].setdefault(call.index, "")
            seen["tools"][call.index] += call.function.arguments or ""


async def with_hfinfer(**kwargs: Any) -> list[Any]:
    generator = HuggingFaceRouter.create_async_generator(MODEL, MESSAGES, **kwargs)
    return [c async for c in generator]


def summary(chunks: list[Any]) -> dict[str, Any]:
    usage = next((c for c in chunks if isinstance(c, Usage)), None)
    calls = next((c for c in chunks if isinstance(c, ToolCalls)), None)
    return {
        "text": "".join(c for c in chunks if isinstance(c, str)),
        "finish": chunks[-1].reason if isinstance(chunks[-1], FinishReason) else None,
        "usage": usage,
        "tools": {i: c.arguments for i, c in enumerate(calls or ())},
    }


@pytest.mark.parametrize("name", STREAMS)
async def test_recorded_streams(router: FakeRouter, name: str) -> None:
    twice(router, load_cassette(name)[-1].reply(per_event_chunks=True))
    reference = await with_openai(router, stream=True, stream_options={"include_usage": True})
    ours = summary(await with_hfinfer())
    reference["finish"] = WORDS.get(reference["finish"], reference["finish"])
    assert ours == reference
    posts = [r.json() for r in router.requests if r.path == CHAT]
    assert [p["stream_options"] for p in posts] == [{"include_usage": True}] * 2


async def test_recorded_whole_answer(router: FakeRouter) -> None:
    name = "TestInferenceClient.test_chat_completion_no_stream[together,conversational].yaml"
    twice(router, load_cassette(name)[-1].reply())
    reference = await with_openai(router)
    assert summary(await with_hfinfer(stream=False)) == reference


async def test_recorded_tool_call_stream(router: FakeRouter) -> None:
    recorded = snapshot_stream("test_tools_llama/test_flash_llama_grammar_tools_openai.json")
    twice(router, chat_stream(recorded))
    reference = await with_openai(router, stream=True)
    ours = summary(await with_hfinfer())
    assert ours["tools"] == reference["tools"] and json.loads(ours["tools"][0])["location"]
    assert ours["text"] == reference["text"] == ""


async def test_recorded_reasoning_stream(router: FakeRouter) -> None:
    twice(router, load_tape("ae9e11899907").reply(per_event_chunks=True))
    reference = await with_openai(router, stream=True)
    chunks = await with_hfinfer()
    raw = reference["text"]  # the reference client leaves <think> in the answer
    thought = "".join(c.token or "" for c in chunks if isinstance(c, Reasoning))
    assert raw.index("<think>") == 0
    assert thought.strip() == raw[len("<think>") : raw.index("</think>")].strip()
    assert summary(chunks)["text"] == raw[raw.index("</think>") + len("</think>") :].strip()
    assert summary(chunks)["usage"] == reference["usage"] == Usage(8, 434)


async def test_error_event_is_an_error_for_both(router: FakeRouter) -> None:
    events = [chunk("Hel"), {"error": {"message": "model overloaded", "type": "server_error"}}]
    twice(router, chat_stream(events, done=False))
    with pytest.raises(openai.APIError, match="model overloaded"):
        await with_openai(router, stream=True)
    with pytest.raises(StreamError, match="model overloaded"):
        await with_hfinfer()
