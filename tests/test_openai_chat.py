"""OpenAI's chat protocol, pure: request bodies, recorded chunks and answers, tool-call deltas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hfinfer.errors import InvalidRequestError, ResponseError, StreamError
from hfinfer.protocol.openai_chat import (
    ChatChunkDecoder,
    ToolCallAssembler,
    build_chat_request,
    decode_completion,
    finish_reason,
)
from hfinfer.protocol.sse import SSEParser
from hfinfer.types import FinishReason, Reasoning, ToolCall, ToolCalls, Usage
from hfserver import load_cassette
from routerserver import snapshot_stream

HF_STREAM = "TestInferenceClient.test_chat_completion_with_stream[hf-inference,conversational].yaml"
TGI14_STREAM = "InferenceClientVCRTest.test_chat_completion_with_stream.yaml"
TOGETHER_STREAM = (
    "TestInferenceClient.test_chat_completion_with_stream[together,conversational].yaml"
)
CEREBRAS_STREAM = (
    "TestInferenceClient.test_chat_completion_with_stream[cerebras,conversational].yaml"
)
TOOLS = "InferenceClientVCRTest.test_chat_completion_with_tool.yaml"
RESPONSE_FORMAT = "InferenceClientVCRTest.test_chat_completion_with_response_format.yaml"
MESSAGES = [{"role": "user", "content": "Hi"}]


def run(body: bytes, cut: int | None = None) -> tuple[list[Any], ChatChunkDecoder]:
    """Parse a recorded stream body, ``cut`` bytes at a time (all at once by default)."""
    parser, state, out = SSEParser(), ChatChunkDecoder(), []
    step = cut or len(body)
    for start in range(0, len(body), step):
        out.extend(state.feed(parser.feed(body[start : start + step])))
    out.extend(state.feed(parser.close()))
    return out, state


def events(chunks: list[dict[str, Any]], done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


# -- requests -------------------------------------------------------------------


def test_streamed_request_asks_for_usage_and_leaves_out_nones() -> None:
    body = build_chat_request(
        "org/m:together", MESSAGES, stream=True, max_tokens=20, temperature=None, top_p=None
    )
    assert body == {
        "model": "org/m:together",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 20,
    }
    assert "stream_options" not in build_chat_request("m", MESSAGES, stream=False)


def test_options_are_normalised_and_extra_wins() -> None:
    body = build_chat_request(
        "m",
        MESSAGES,
        stream=False,
        temperature=0,
        stop="###",
        seed=7,
        tool_choice="get_weather",
        tools=[{"name": "get_weather", "parameters": {"type": "object"}}],
        response_format={"type": "json_object"},
        extra={"seed": 8, "top_k": 5},
    )
    assert body["temperature"] == 0.0 and body["stop"] == ["###"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert body["seed"] == 8 and body["top_k"] == 5
    assert (
        build_chat_request("m", MESSAGES, stream=False, tool_choice="auto")["tool_choice"] == "auto"
    )


@pytest.mark.parametrize(
    "options",
    [
        {"max_tokens": 0},
        {"temperature": 2.5},
        {"top_p": 0},
        {"stop": [1]},
        {"seed": "7"},
        {"response_format": "json"},
        {"tools": {"name": "x"}},
    ],
)
def test_invalid_options_are_our_error(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        build_chat_request("m", MESSAGES, stream=False, **options)


# -- recorded streams -----------------------------------------------------------


@pytest.mark.parametrize("cut", [None, 1, 7, 100])
def test_router_stream_recorded_from_tgi_3(cut: int | None) -> None:
    body = load_cassette(HF_STREAM)[-1].body
    out, state = run(body, cut)
    assert "".join(out) == (
        "Deep learning is a subset of machine learning that involves the use of artificial "
        "neural networks (ANNs)"
    )
    assert state.done and state.finish() == [FinishReason("length")]


def test_tgi_1_4_stream_without_space_and_without_done() -> None:
    out, state = run(load_cassette(TGI14_STREAM)[-1].body)
    assert "".join(out).startswith("Deep learning is a subfield of machine learning")
    assert not state.done and state.finish() == [FinishReason("length")]


@pytest.mark.parametrize("name", [TOGETHER_STREAM, CEREBRAS_STREAM])
def test_provider_streams_report_usage_in_the_last_chunk(name: str) -> None:
    out, state = run(load_cassette(name)[-1].body)
    assert "".join(out).startswith("Deep learning is a sub")
    usage, reason = state.finish()
    assert isinstance(usage, Usage) and usage.completion_tokens == 20
    assert reason == FinishReason("length")


def test_usage_only_chunk_and_reasoning_deltas() -> None:
    body = events(
        [
            {"choices": [{"delta": {"role": "assistant", "reasoning_content": "Think"}}]},
            {"choices": [{"delta": {"reasoning": " more"}}]},
            {"choices": [{"delta": {"content": "Done"}, "finish_reason": "eos_token"}]},
            {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
        ]
    )
    out, state = run(body)
    assert out == [Reasoning("Think"), Reasoning(" more"), "Done"]
    assert state.finish() == [Usage(3, 4), FinishReason("stop")]


def test_error_event_keeps_what_came_before() -> None:
    body = events(
        [
            {"choices": [{"delta": {"content": "Hel"}}]},
            {"error": {"message": "upstream overloaded", "type": "server_error"}},
            {"choices": [{"delta": {"content": "never"}}]},
        ],
        done=False,
    )
    out, state = run(body)
    assert out == ["Hel"]
    assert state.error is not None and state.error.partial_text == "Hel"
    assert state.error.error_type == "server_error" and "upstream overloaded" in str(state.error)
    with pytest.raises(StreamError):
        state.finish()


def test_tgi_error_event_and_malformed_event() -> None:
    _, state = run(events([{"error": "Request failed", "error_type": "generation"}], done=False))
    assert state.error is not None and state.error.error_type == "generation"
    _, state = run(b'data: {"choices": [{"delta": {"content": "a"}}]}\n\ndata: {not json\n\n')
    assert state.error is not None and "Malformed" in str(state.error)
    assert state.error.partial_text == "a"


def test_cut_stream_is_an_error_on_finish() -> None:
    _, state = run(events([{"choices": [{"delta": {"content": "Hi"}}]}], done=False))
    with pytest.raises(StreamError, match="ended before") as caught:
        state.finish()
    assert caught.value.partial_text == "Hi"


# -- tool calls -----------------------------------------------------------------


def test_tool_call_deltas_recorded_from_tgi() -> None:
    chunks = snapshot_stream("test_tools_llama/test_flash_llama_grammar_tools_openai.json")
    for cut in (None, 5):
        out, state = run(events(chunks), cut)
        assert out == []
        calls, reason = state.finish()
        assert isinstance(calls, ToolCalls) and len(calls) == 1
        call = calls.calls[0]
        assert (call.id, call.name) == ("0", "get_current_weather")
        assert json.loads(call.arguments) == {"location": "Brooklyn, NY", "format": "fahrenheit"}
        assert reason == FinishReason("tool_calls")


def test_interleaved_calls_are_joined_by_index() -> None:
    assembler = ToolCallAssembler()
    assembler.add([{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}])
    assembler.add([{"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y"'}}])
    assembler.add([{"index": 0, "function": {"arguments": '{"x": 1}'}}])
    assembler.add([{"index": 1, "function": {"arguments": ": 2}"}}])
    assert assembler.result() == ToolCalls(
        (ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", '{"y": 2}'))
    )
    assert ToolCallAssembler().result() is None


# -- whole answers ----------------------------------------------------------------


def test_recorded_tool_answer_with_object_arguments_and_integer_id() -> None:
    answer = json.loads(load_cassette(TOOLS)[0].body)
    pieces, (calls, usage, reason) = decode_completion(answer)
    assert pieces == []
    assert calls == ToolCalls(
        (
            ToolCall(
                "0",
                "get_n_day_weather_forecast",
                '{"format":"fahrenheit","location":"San Francisco, CA","num_days":3}',
            ),
        )
    )
    assert usage == Usage(246, 27) and reason == FinishReason("tool_calls")


def test_recorded_response_format_answer() -> None:
    [text], (usage, reason) = decode_completion(json.loads(load_cassette(RESPONSE_FORMAT)[0].body))
    assert json.loads(text)["animals"] == ["puppy", "cat", "raccoon"]
    assert usage == Usage(35, 45) and reason == FinishReason("stop")


def test_answer_with_reasoning_content() -> None:
    answer = {
        "choices": [
            {
                "message": {"content": "4", "reasoning_content": "2+2"},
                "finish_reason": "length",
            }
        ]
    }
    assert decode_completion(answer) == ([Reasoning("2+2"), "4"], [FinishReason("length")])


def test_unexpected_answer_is_our_error() -> None:
    with pytest.raises(ResponseError, match="no choices"):
        decode_completion({"object": "list"})


def test_finish_reason_words() -> None:
    assert [finish_reason(r) for r in ("eos_token", "stop_sequence", "length", "", None)] == [
        "stop",
        "stop",
        "length",
        None,
        None,
    ]
