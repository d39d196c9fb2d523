"""OpenAI's Responses API bridged onto chat, pure: requests read, events and objects
written, each event checked by parsing it with the ``openai`` package's own models."""

from __future__ import annotations

import itertools
from typing import Any, get_args

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from hfinfer.errors import InvalidRequestError
from hfinfer.protocol.openai_responses import (
    input_messages,
    output_messages,
    parse_responses_request,
)
from hfinfer.protocol.openai_responses_events import ResponsesEncoder, encode_sse
from hfinfer.types import FinishReason, Reasoning, ToolCall, ToolCalls, Usage


def _event_models() -> dict[str, Any]:
    union = get_args(ResponseStreamEvent)[0]  # Annotated[Union[...], discriminator]
    return {get_args(model.model_fields["type"].annotation)[0]: model for model in get_args(union)}


EVENT_MODELS = _event_models()
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def encode(chunks: list[Any], **request: Any) -> tuple[list[dict[str, Any]], ResponsesEncoder]:
    """Run chunks through an encoder made for a request; every event, in order."""
    parsed = parse_responses_request({"model": "org/m", "input": "Hi", **request})
    counter = itertools.count()
    encoder = ResponsesEncoder(
        "org/m", parsed.echo, created_at=1700000000, make_id=lambda p: f"{p}_{next(counter)}"
    )
    events = encoder.start()
    for chunk in chunks:
        events += encoder.feed(chunk)
    return [*events, *encoder.finish()], encoder


def checked(events: list[dict[str, Any]]) -> list[Any]:
    """Parse every event through its SSE bytes with the openai package's models."""
    parsed = []
    for event in events:
        head, _, data = encode_sse(event).partition(b"\ndata: ")
        assert head == b"event: " + event["type"].encode()
        assert data.endswith(b"\n\n")
        parsed.append(EVENT_MODELS[event["type"]].model_validate(orjson.loads(data)))
    return parsed


# -- requests -------------------------------------------------------------------


def test_a_string_input_is_one_user_message_and_instructions_come_first() -> None:
    request = parse_responses_request(
        b'{"model": "org/m", "input": "Hi", "instructions": "Be brief.", "stream": true}'
    )
    assert request.stream and request.store
    assert request.chat_messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_options_map_onto_chat_keywords() -> None:
    request = parse_responses_request(
        {
            "model": "org/m",
            "input": "Hi",
            "max_output_tokens": 50,
            "temperature": 0.2,
            "top_p": 0.9,
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "parallel_tool_calls": False,
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
            "reasoning": {"effort": "low"},
            "metadata": {"run": "7"},
            "store": False,
        }
    )
    assert request.options == {
        "max_tokens": 50,
        "temperature": 0.2,
        "top_p": 0.9,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The weather in a city",
                    "parameters": WEATHER["parameters"],
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}},
        },
        "reasoning_effort": "low",
    }
    assert not request.store
    assert request.echo["metadata"] == {"run": "7"}
    assert request.echo["tools"] == [WEATHER]
    assert request.echo["max_output_tokens"] == 50


def test_a_codex_transcript_becomes_chat_turns() -> None:
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "D"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xyz"},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Ok"}],
        },
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": '{"cmd":"ls"}'},
        {"type": "function_call", "call_id": "c2", "name": "shell", "arguments": '{"cmd":"pwd"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        {
            "type": "function_call_output",
            "call_id": "c2",
            "output": [{"type": "input_text", "text": "/w"}],
        },
    ]
    request = parse_responses_request({"model": "m", "input": items, "instructions": "I"})
    calls = [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "shell", "arguments": '{"cmd":"ls"}'},
        },
        {
            "id": "c2",
            "type": "function",
            "function": {"name": "shell", "arguments": '{"cmd":"pwd"}'},
        },
    ]
    assert request.chat_messages() == [
        {"role": "system", "content": "I\n\nD"},
        {"role": "user", "content": "ls"},
        {"role": "assistant", "content": "Ok", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "c2", "content": "/w"},
    ]


def test_image_parts_become_chat_image_parts() -> None:
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
    ]
    assert input_messages([{"role": "user", "content": content}]) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                },
            ],
        }
    ]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"input": "Hi"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": 3}, "input"),
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "item_reference"),
        ({"model": "m", "input": [{"role": "tool", "content": "x"}]}, "role"),
        ({"model": "m", "input": "Hi", "tools": [{"type": "web_search"}]}, "web_search"),
        ({"model": "m", "input": "Hi", "max_output_tokens": 0}, "max_output_tokens"),
        ({"model": "m", "input": "Hi", "temperature": "hot"}, "temperature"),
        ({"model": "m", "input": "Hi", "stream": "yes"}, "stream"),
        ({"model": "m", "input": "Hi", "tool_choice": {"type": "mcp"}}, "tool_choice"),
        ({"model": "m", "input": "Hi", "text": {"format": {"type": "json_schema"}}}, "schema"),
        ({"model": "m", "input": "Hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "Hi", "metadata": {"k": 1}}, "metadata"),
        (
            {
                "model": "m",
                "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}],
            },
            "file ids",
        ),
    ],
)
def test_bad_requests_are_refused_naming_the_field(body: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidRequestError, match=names):
        parse_responses_request(body)


def test_a_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        parse_responses_request(b"{oops")


# -- events ---------------------------------------------------------------------


def test_text_streams_in_openais_event_order() -> None:
    events, encoder = encode(["Hel", "lo", Usage(5, 2), FinishReason("stop")])
    parsed = checked(events)
    assert [event.type for event in parsed] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))
    assert parsed[0].response.status == "in_progress" and parsed[0].response.output == []
    assert parsed[6].text == "Hello" and parsed[6].item_id == "msg_1"
    final = parsed[-1].response
    assert final.output_text == "Hello" and final.status == "completed"
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == (
        5,
        2,
        7,
    )
    assert encoder.text == "Hello"


def test_reasoning_is_its_own_item_before_the_message() -> None:
    events, _ = encode([Reasoning("Think"), Reasoning("ing"), "Answer", FinishReason("stop")])
    parsed = checked(events)
    kinds = [event.type for event in parsed]
    assert kinds[2:9] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    assert parsed[6].text == "Thinking"
    assert [event.output_index for event in parsed[9:-1]] == [1] * 6
    final = parsed[-1].response
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].content[0].text == "Thinking"
    assert final.output_text == "Answer"


def test_tool_calls_become_function_call_items() -> None:
    calls = ToolCalls(
        (ToolCall("call_1", "get_weather", '{"city":"Paris"}'), ToolCall("call_2", "noop", ""))
    )
    events, _ = encode(["Let me look.", calls, FinishReason("tool_calls")], tools=[WEATHER])
    parsed = checked(events)
    kinds = [event.type for event in parsed]
    assert kinds[8:] == [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert parsed[8].item.arguments == "" and parsed[8].item.status == "in_progress"
    assert parsed[10].arguments == '{"city":"Paris"}'
    final = parsed[-1].response
    call = final.output[1]
    assert (call.type, call.call_id, call.name, call.status) == (
        "function_call",
        "call_1",
        "get_weather",
        "completed",
    )
    assert final.tools[0].name == "get_weather"


def test_the_token_limit_ends_an_incomplete_response() -> None:
    events, _ = encode(["Once upon", FinishReason("length")], max_output_tokens=2)
    parsed = checked(events)
    final = parsed[-1]
    assert final.type == "response.incomplete"
    assert final.response.incomplete_details.reason == "max_output_tokens"
    assert final.response.output[0].status == "incomplete"
    assert final.response.max_output_tokens == 2


def test_a_failure_keeps_what_was_streamed_and_ends_failed() -> None:
    encoder = ResponsesEncoder("org/m", created_at=1700000000)
    events = [*encoder.start(), *encoder.feed("Par"), *encoder.fail("upstream went away")]
    parsed = checked(events)
    assert parsed[-1].type == "response.failed"
    response = parsed[-1].response
    assert response.error.code == "server_error" and response.error.message == "upstream went away"
    assert response.output_text == "Par"
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))


def test_the_whole_response_object_parses_as_openais_response() -> None:
    _, encoder = encode(["Hi there", Usage(3, 2), FinishReason("stop")], instructions="Be kind")
    response = Response.model_validate(encoder.response)
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.instructions == "Be kind" and response.status == "completed"
    assert response.output_text == "Hi there"


def test_an_answer_with_no_text_still_completes() -> None:
    events, _ = encode([FinishReason("stop")])
    parsed = checked(events)
    assert [event.type for event in parsed] == [
        "response.created",
        "response.in_progress",
        "response.completed",
    ]
    assert parsed[-1].response.usage.total_tokens == 0


def test_output_items_become_one_assistant_turn_for_a_stored_transcript() -> None:
    calls = ToolCalls((ToolCall("call_1", "get_weather", '{"city":"Paris"}'),))
    _, encoder = encode([Reasoning("hm"), "Looking.", calls])
    assert output_messages(encoder.response["output"]) == [
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        }
    ]
