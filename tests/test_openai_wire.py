"""protocol/openai_wire.py: request parsing and event encoding, pure (no server)."""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from hfinfer.protocol import openai_wire as wire
from hfinfer.types import ToolCall, Usage


def _event(data: bytes) -> dict:
    assert data.startswith(b"data: ") and data.endswith(b"\n\n")
    return json.loads(data[6:])


def test_chunk_events_are_openai_chunks() -> None:
    encoder = wire.ChunkEncoder("chatcmpl-1", 'org/m"q', 7)
    first, second = encoder.content('He said "hi"\n'), encoder.content("é")
    reasoning = encoder.reasoning("hmm")
    calls = encoder.tool_calls((ToolCall("c1", "f", '{"a": 1}'), ToolCall("c2", "g", "{}")))
    finish, usage = encoder.finish("tool_calls"), encoder.usage(Usage(3, 4))
    parsed = [ChatCompletionChunk.model_validate(_event(e))
              for e in (first, second, reasoning, calls, finish, usage)]  # fmt: skip
    assert parsed[0].choices[0].delta.role == "assistant"
    assert parsed[0].choices[0].delta.content == 'He said "hi"\n'
    assert parsed[1].choices[0].delta.role is None and parsed[1].model == 'org/m"q'
    assert _event(reasoning)["choices"][0]["delta"] == {"reasoning_content": "hmm"}
    tool_deltas = parsed[3].choices[0].delta.tool_calls or []
    assert [(d.index, d.id) for d in tool_deltas] == [(0, "c1"), (1, "c2")]
    assert tool_deltas[0].function is not None and tool_deltas[0].function.arguments == '{"a": 1}'
    assert parsed[4].choices[0].finish_reason == "tool_calls"
    assert parsed[4].choices[0].delta.content is None
    assert parsed[5].choices == [] and parsed[5].usage is not None
    assert parsed[5].usage.total_tokens == 7


def test_finish_as_the_first_event_still_names_the_role() -> None:
    encoder = wire.ChunkEncoder("c", "m", 1)
    assert _event(encoder.finish(None))["choices"][0] == {
        "index": 0, "delta": {"role": "assistant"}, "logprobs": None, "finish_reason": "stop"
    }  # fmt: skip


def test_whole_completion_is_an_openai_completion() -> None:
    body = wire.chat_completion("c", "m", 1, text="", reasoning="r",
                                tool_calls=(ToolCall("c1", "f", "{}"),),
                                finish_reason="tool_calls", usage=None)  # fmt: skip
    reply = ChatCompletion.model_validate_json(body)
    assert reply.choices[0].message.content is None
    assert reply.choices[0].message.tool_calls is not None
    assert json.loads(body)["choices"][0]["message"]["reasoning_content"] == "r"
    assert reply.usage is not None and reply.usage.total_tokens == 0


def test_chat_request_splits_known_and_unknown_fields() -> None:
    request = wire.parse_chat_request(
        {"model": " org/m ", "messages": [{"role": "user", "content": "x"}], "stream": True,
         "stream_options": {"include_usage": True}, "max_completion_tokens": 9,
         "max_tokens": 99, "top_p": 0.5, "top_k": 3, "n": 1},
        max_tokens=100,
    )  # fmt: skip
    assert (request.model, request.stream, request.include_usage) == ("org/m", True, True)
    assert request.max_tokens == 9 and request.options == {"top_p": 0.5}
    assert request.extra == {"top_k": 3}
    assert request.client_options(drop_params=True) == {"top_p": 0.5, "max_tokens": 9}
    assert request.client_options(drop_params=False)["extra_body"] == {"top_k": 3}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
         "messages[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "user"}], "n": 2}, "n"),
        ({"model": "m", "messages": [{"role": "user"}], "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user"}], "tools": {}}, "tools"),
        ({"model": "m", "messages": [{"role": "user"}], "stream_options": 1}, "stream_options"),
    ],
)  # fmt: skip
def test_chat_request_errors_name_the_field(body: dict, param: str) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.parse_chat_request(body, max_n=1)
    assert caught.value.param == param


def test_body_decoding() -> None:
    assert wire.decode_json_body(b'{"a": 1}') == {"a": 1}
    for bad in (b"", b"[]", b"{", b'"x"'):
        with pytest.raises(wire.WireError):
            wire.decode_json_body(bad)


def test_image_request_sizes() -> None:
    request = wire.parse_image_request({"model": "m", "prompt": "p", "size": "640x480", "n": 2},
                                       max_n=2, max_side=1024)  # fmt: skip
    assert (request.width, request.height, request.n) == (640, 480, 2)
    assert request.response_format == "b64_json"
    auto = wire.parse_image_request({"model": "m", "prompt": "p", "size": "auto"},
                                    max_n=1, max_side=1024)  # fmt: skip
    assert auto.width is None


def test_embedding_request() -> None:
    request = wire.parse_embedding_request({"model": "m", "input": "x"}, max_inputs=2)
    assert request.inputs == ["x"] and request.encoding_format == "float"
    with pytest.raises(wire.WireError):
        wire.parse_embedding_request({"model": "m", "input": ["a", "b", "c"]}, max_inputs=2)
