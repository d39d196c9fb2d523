"""OpenAI's Responses API (``POST /v1/responses``) bridged onto chat. No I/O.

:func:`parse_responses_request` turns a request body into chat messages and
chat options (:class:`ResponsesRequest`); :mod:`.openai_responses_events`
turns hfinfer's stream vocabulary back into Responses events and the whole
``response`` object. Shapes follow the ``openai`` package's types
(``openai.types.responses``), which the tests parse the output with.

Choices made for chat-template models, which know nothing of Responses:
``developer`` messages become ``system`` ones and the leading system messages
(``instructions`` first) are joined into one, since many chat templates
refuse a second system turn; a ``function_call`` item joins the assistant
message before it (one assistant turn with text and ``tool_calls``);
``reasoning`` input items are dropped (an upstream model cannot read another
model's reasoning, encrypted or not). What cannot be bridged (hosted tools,
file ids, ``item_reference``) is refused with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import InvalidRequestError
from ..types import Message

__all__ = [
    "ResponsesRequest",
    "chat_tool",
    "input_messages",
    "output_messages",
    "parse_responses_request",
]

_TOOL_CHOICE_WORDS = frozenset({"auto", "none", "required"})
_EFFORTS = frozenset({"none", "minimal", "low", "medium", "high", "xhigh"})
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
#: OpenAI's own bounds on ``metadata``: 16 pairs, keys of 64 and values of 512 characters.
_METADATA_PAIRS, _METADATA_KEY, _METADATA_VALUE = 16, 64, 512


@dataclass
class ResponsesRequest:
    """A Responses request read into chat terms.

    ``messages`` are this request's own input as chat messages (without
    ``instructions``, which :meth:`chat_messages` puts first, and without the
    previous response's transcript, which the caller loads from its store);
    ``options`` are keyword arguments for :meth:`hfinfer.AsyncClient.chat`;
    ``echo`` holds the request's settings as the ``response`` object repeats them.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    instructions: str | None = None
    store: bool = True
    previous_response_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    echo: dict[str, Any] = field(default_factory=dict)

    def chat_messages(self, history: list[Message] | None = None) -> list[Message]:
        """The whole chat transcript: instructions, ``history`` (a previous
        response's transcript), then this request's input."""
        messages: list[Message] = []
        if self.instructions:
            messages.append({"role": "system", "content": self.instructions})
        messages.extend(history or ())
        messages.extend(self.messages)
        return _join_leading_system(messages)


def parse_responses_request(body: bytes | Mapping[str, Any]) -> ResponsesRequest:
    """Read a ``POST /v1/responses`` body (JSON bytes or a decoded mapping).

    Raises :class:`~hfinfer.errors.InvalidRequestError` naming the field for
    anything malformed or not bridgeable.

    >>> parse_responses_request({"model": "m", "input": "Hi"}).messages
    [{'role': 'user', 'content': 'Hi'}]
    """
    data = _decode(body)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model: a model name (a string) is required")
    if "input" not in data or data["input"] is None:
        raise InvalidRequestError("input: required, a string or a list of input items")
    instructions = _optional(data, "instructions", str)
    previous = _optional(data, "previous_response_id", str)
    stream, store = _flag(data, "stream", False), _flag(data, "store", True)
    tools = _tools(data.get("tools"))
    options = _chat_options(data, tools)
    echo = _echo(data, options, tools, instructions=instructions, previous=previous, store=store)
    return ResponsesRequest(
        model=model,
        messages=input_messages(data["input"]),
        stream=stream,
        instructions=instructions,
        store=store,
        previous_response_id=previous,
        options=options,
        echo=echo,
    )


def _echo(
    data: Mapping[str, Any],
    options: dict[str, Any],
    tools: list[dict[str, Any]],
    *,
    instructions: str | None,
    previous: str | None,
    store: bool,
) -> dict[str, Any]:
    """The request's settings as the ``response`` object repeats them."""
    return {
        "instructions": instructions,
        "max_output_tokens": options.get("max_tokens"),
        "metadata": _metadata(data.get("metadata")),
        "parallel_tool_calls": _flag(data, "parallel_tool_calls", True),
        "previous_response_id": previous,
        "reasoning": {"effort": options.get("reasoning_effort"), "summary": None},
        "store": store,
        "temperature": options.get("temperature"),
        "text": {"format": _text_format(data.get("text"))},
        "tool_choice": data.get("tool_choice") or "auto",
        "tools": tools,
        "top_p": options.get("top_p"),
        "truncation": "disabled",
        "user": _optional(data, "user", str),
    }


def _decode(body: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return data


def _optional(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise InvalidRequestError(f"{name}: expected a {kind.__name__}, got {value!r}")
    return value


def _flag(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequestError(f"{name}: expected true or false, got {value!r}")
    return value


def _number(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InvalidRequestError(f"{name}: expected a number, got {value!r}")
    return value


def _chat_options(data: Mapping[str, Any], tools: list[dict[str, Any]]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    max_tokens = data.get("max_output_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
            raise InvalidRequestError(
                f"max_output_tokens: expected a positive integer, got {max_tokens!r}"
            )
        options["max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = _number(data, name)
        if value is not None:
            options[name] = value
    if tools:
        options["tools"] = [chat_tool(tool) for tool in tools]
    choice = _tool_choice(data.get("tool_choice"))
    if choice is not None:
        options["tool_choice"] = choice
    if "parallel_tool_calls" in data and data["parallel_tool_calls"] is not None:
        options["parallel_tool_calls"] = _flag(data, "parallel_tool_calls", True)
    response_format = _response_format(_text_format(data.get("text")))
    if response_format is not None:
        options["response_format"] = response_format
    effort = _reasoning_effort(data.get("reasoning"))
    if effort is not None:
        options["reasoning_effort"] = effort
    return options


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise InvalidRequestError('tools: expected a list like [{"type": "function", ...}]')
    for tool in tools:
        if tool.get("type") != "function":
            raise InvalidRequestError(
                f"tools: only function tools can be bridged to chat models, got a "
                f"{tool.get('type')!r} tool; describe it as a function tool instead"
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise InvalidRequestError("tools: every function tool needs a name")
    return tools


def chat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A Responses function tool (flat) as a chat tool (nested under ``function``)."""
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    function["parameters"] = tool.get("parameters") or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_CHOICE_WORDS:
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequestError(
        f'tool_choice: expected "auto", "none", "required" or '
        f'{{"type": "function", "name": ...}}, got {choice!r}'
    )


def _text_format(text: Any) -> dict[str, Any]:
    if text is None:
        return {"type": "text"}
    if not isinstance(text, dict):
        raise InvalidRequestError(f'text: expected an object like {{"format": ...}}, got {text!r}')
    shape = text.get("format") or {"type": "text"}
    if not isinstance(shape, dict) or shape.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise InvalidRequestError(
            f'text.format: expected a type "text", "json_object" or "json_schema", got {shape!r}'
        )
    if shape["type"] == "json_schema" and not isinstance(shape.get("schema"), dict):
        raise InvalidRequestError("text.format: a json_schema format needs a schema object")
    return dict(shape)


def _response_format(shape: dict[str, Any]) -> dict[str, Any] | None:
    if shape["type"] == "text":
        return None
    if shape["type"] == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": shape.get("name") or "response", "schema": shape["schema"]}
    for name in ("description", "strict"):
        if shape.get(name) is not None:
            schema[name] = shape[name]
    return {"type": "json_schema", "json_schema": schema}


def _reasoning_effort(reasoning: Any) -> str | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise InvalidRequestError(f'reasoning: expected {{"effort": ...}}, got {reasoning!r}')
    effort = reasoning.get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise InvalidRequestError(
            f"reasoning.effort: expected one of {sorted(_EFFORTS)}, got {effort!r}"
        )
    return effort


def _metadata(metadata: Any) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > _METADATA_PAIRS:
        raise InvalidRequestError(
            f"metadata: expected an object of at most {_METADATA_PAIRS} pairs"
        )
    for key, value in metadata.items():
        if len(key) > _METADATA_KEY or not isinstance(value, str) or len(value) > _METADATA_VALUE:
            raise InvalidRequestError(
                f"metadata: keys of at most {_METADATA_KEY} characters, string values of at "
                f"most {_METADATA_VALUE}; {key!r} does not fit"
            )
    return dict(metadata)


def input_messages(items: Any) -> list[Message]:
    """Responses ``input`` (a string or a list of items) as chat messages."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    if not isinstance(items, list):
        raise InvalidRequestError("input: expected a string or a list of input items")
    messages: list[Message] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidRequestError(f"input[{index}]: expected an object, got {item!r}")
        _add_item(messages, item, index)
    return messages


def _add_item(messages: list[Message], item: dict[str, Any], index: int) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item, index))
    elif kind == "function_call":
        _add_function_call(messages, item, index)
    elif kind == "function_call_output":
        messages.append(_function_output(item, index))
    elif kind != "reasoning":  # reasoning items are dropped, see the module's docstring
        raise InvalidRequestError(
            f"input[{index}]: items of type {kind!r} cannot be bridged to a chat model; "
            "send messages, function_call and function_call_output items"
        )


def _message(item: dict[str, Any], index: int) -> Message:
    role = _ROLES.get(item.get("role", ""))
    if role is None:
        raise InvalidRequestError(
            f"input[{index}].role: expected user, assistant, system or developer, "
            f"got {item.get('role')!r}"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(f"input[{index}].content: expected a string or a list of parts")
    parts = [_part(part, f"input[{index}].content[{n}]") for n, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):  # plain text suits every chat template
        return {"role": role, "content": "".join(part["text"] for part in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise InvalidRequestError(
                f"{where}: an input_image needs an image_url (an https or data: URL); "
                "file ids are not available through this gateway"
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise InvalidRequestError(
        f"{where}: expected an input_text, output_text or input_image part, got {kind!r}"
    )


def _add_function_call(messages: list[Message], item: dict[str, Any], index: int) -> None:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise InvalidRequestError(f"input[{index}]: a function_call needs a call_id and a name")
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    if last is not None and last.get("role") == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})


def _function_output(item: dict[str, Any], index: int) -> Message:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str):
        raise InvalidRequestError(f"input[{index}]: a function_call_output needs a call_id")
    if isinstance(output, list):
        where = f"input[{index}].output"
        parts = [_part(part, f"{where}[{n}]") for n, part in enumerate(output)]
        output = "".join(part.get("text", "") for part in parts)
    elif not isinstance(output, str):
        raise InvalidRequestError(f"input[{index}].output: expected a string or a list of parts")
    return {"role": "tool", "tool_call_id": call_id, "content": output}


def _join_leading_system(messages: list[Message]) -> list[Message]:
    count = 0
    while count < len(messages) and messages[count].get("role") == "system":
        count += 1
    if count < 2:
        return messages
    texts = [_text_of(message.get("content")) for message in messages[:count]]
    joined: Message = {"role": "system", "content": "\n\n".join(text for text in texts if text)}
    return [joined, *messages[count:]]


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def output_messages(output: list[dict[str, Any]]) -> list[Message]:
    """A response's ``output`` items as chat messages (one assistant turn), for
    a stored transcript that a later ``previous_response_id`` continues."""
    message: Message = {"role": "assistant", "content": ""}
    for item in output:
        if item.get("type") == "message":
            text = "".join(part.get("text", "") for part in item.get("content", ()))
            message["content"] = (message.get("content") or "") + text
        elif item.get("type") == "function_call":
            function = {"name": item["name"], "arguments": item["arguments"]}
            call = {"id": item["call_id"], "type": "function", "function": function}
            message.setdefault("tool_calls", []).append(call)
    return [message]
