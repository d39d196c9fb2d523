"""OpenAI's HTTP API as a server speaks it: parse incoming requests, encode answers. No I/O.

The gateway (:mod:`hfinfer.server`) reads request bodies with the parsers
here (``parse_chat_request``, ``parse_completion_request``, ...) and writes
answers with the encoders (:class:`ChunkEncoder` for ``chat.completion.chunk``
events, :func:`chat_completion` for whole answers). Streamed events are
assembled from bytes prepared once per stream, with one ``msgspec`` encode of
the new text per event: no per-event dictionary is built.

A request the API would refuse raises :class:`WireError` (an
:class:`~hfinfer.errors.InvalidRequestError` that names the offending
``param``), which the gateway answers with a 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..errors import InvalidRequestError
from ..types import TokenLogprob, ToolCall, Usage

__all__ = [
    "CHAT_OPTIONS",
    "ChatRequest",
    "ChunkEncoder",
    "CompletionEncoder",
    "CompletionRequest",
    "EmbeddingRequest",
    "ImageRequest",
    "WireError",
    "chat_completion",
    "decode_json_body",
    "encode_json",
    "error_body",
    "error_event",
    "logprobs_body",
    "parse_chat_request",
    "parse_completion_request",
    "parse_embedding_request",
    "parse_image_request",
    "text_completion",
    "usage_body",
]

#: OpenAI's chat parameters handed to the client by name (the rest of the body's
#: unknown fields travel as ``extra_body``).
CHAT_OPTIONS = (
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
#: Fields the gateway reads itself (never forwarded as extras).
_CHAT_OWN = frozenset(
    {"model", "messages", "stream", "stream_options", "n", "max_tokens",
     "max_completion_tokens", "temperature", *CHAT_OPTIONS}
)  # fmt: skip
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file"})

encode_json = msgspec.json.Encoder().encode
_encode = encode_json
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode


class WireError(InvalidRequestError):
    """A request OpenAI's API would refuse; ``param`` names the field at fault."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def decode_json_body(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object; :class:`WireError` for anything else."""
    if not body:
        raise WireError("The request body is empty; send a JSON object.")
    try:
        return _decode_object(body)
    except msgspec.ValidationError:
        raise WireError("The request body must be a JSON object.") from None
    except msgspec.DecodeError as exc:
        raise WireError(f"The request body is not valid JSON ({exc}).") from None


# -- field checks ----------------------------------------------------------------


def _model(data: Mapping[str, Any]) -> str:
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise WireError("'model' is required: a model id such as 'org/name'.", param="model")
    return model.strip()


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WireError(f"'{name}' must be true or false.", param=name)
    return value


def _int(data: Mapping[str, Any], name: str, *, low: int, high: int | None) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise WireError(f"'{name}' must be an integer, got {value!r}.", param=name)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise WireError(f"'{name}' must be {bound}, got {value}.", param=name)
    return value


def _number(data: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise WireError(f"'{name}' must be a number between {low} and {high}.", param=name)
    return float(value)


def _n(data: Mapping[str, Any], max_n: int) -> int:
    n = _int(data, "n", low=1, high=None) or 1
    if n > max_n:
        raise WireError(
            f"'n' = {n} is more than this gateway serves ({max_n}); ask for fewer choices, "
            "or send the request several times.",
            param="n",
        )
    return n


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise WireError("'messages' must be a non-empty list of messages.", param="messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise WireError(
                f"{where} must be an object with a 'role' ({', '.join(sorted(_ROLES))}).",
                param=where,
            )
        content = message.get("content")
        if content is None or isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise WireError(f"{where}.content must be a string or a list of parts.", param=where)
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in _PART_TYPES:
                raise WireError(
                    f"{where}.content has a part that is not a text or image_url part.",
                    param=where,
                )
    return messages


def _include_usage(data: Mapping[str, Any]) -> bool:
    options = data.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise WireError("'stream_options' must be an object.", param="stream_options")
    return bool(options.get("include_usage"))


def _extras(data: Mapping[str, Any], own: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name not in own}


# -- requests ----------------------------------------------------------------------


@dataclass(slots=True)
class ChatRequest:
    """A checked ``POST /v1/chat/completions`` body.

    ``options`` holds OpenAI's parameters by name (:data:`CHAT_OPTIONS`, given
    ones only), ``extra`` every field the gateway does not know (forwarded to
    the upstream unless the gateway drops them).
    """

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    max_tokens: int | None = None
    temperature: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def logprobs(self) -> bool:
        """Whether the caller asked for log probabilities (``logprobs: true``)."""
        return self.options.get("logprobs") is True

    def client_options(self, *, drop_params: bool) -> dict[str, Any]:
        """Keyword arguments for :meth:`hfinfer.AsyncClient.chat`."""
        options = _client_options(self, drop_params)
        if self.n > 1:  # the client refuses it where the protocol has no such thing (TGI)
            options["n"] = self.n
        return options


def _client_options(request: ChatRequest | CompletionRequest, drop_params: bool) -> dict[str, Any]:
    """A checked body's options as the client's keywords; the unknown fields go as
    ``extra_body`` unless the gateway drops them."""
    options = dict(request.options)
    if request.max_tokens is not None:
        options["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.extra and not drop_params:
        options["extra_body"] = dict(request.extra)
    return options


def parse_chat_request(
    data: Mapping[str, Any], *, max_tokens: int | None = None, max_n: int = 1
) -> ChatRequest:
    """Check a chat-completions body; :class:`WireError` names what is wrong.

    ``max_completion_tokens`` (OpenAI's newer name) wins over ``max_tokens``;
    either above ``max_tokens`` (the gateway's bound) is refused.
    """
    high = max_tokens
    limit = _int(data, "max_completion_tokens", low=1, high=high)
    if limit is None:
        limit = _int(data, "max_tokens", low=1, high=high)
    options = {name: data[name] for name in CHAT_OPTIONS if data.get(name) is not None}
    stop = options.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise WireError("'stop' must be a string or a list of strings.", param="stop")
    for name in ("tools", "logit_bias", "response_format"):
        expected = list if name == "tools" else dict
        if name in options and not isinstance(options[name], expected):
            raise WireError(f"'{name}' must be a{' list' if expected is list else 'n object'}.",
                            param=name)  # fmt: skip
    return ChatRequest(
        model=_model(data),
        messages=_check_messages(data.get("messages")),
        stream=_flag(data, "stream"),
        include_usage=_include_usage(data),
        n=_n(data, max_n),
        max_tokens=limit,
        temperature=_number(data, "temperature", 0.0, 2.0),
        options=options,
        extra=_extras(data, _CHAT_OWN),
    )


_COMPLETION_OWN = frozenset(
    {"model", "prompt", "stream", "stream_options", "n", "max_tokens", "temperature",
     "top_p", "stop", "seed", "frequency_penalty", "presence_penalty", "echo", "suffix"}
)  # fmt: skip


@dataclass(slots=True)
class CompletionRequest:
    """A checked ``POST /v1/completions`` body (one prompt string)."""

    model: str
    prompt: str
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def client_options(self, *, drop_params: bool) -> dict[str, Any]:
        """Keyword arguments for :meth:`hfinfer.AsyncClient.complete`."""
        return _client_options(self, drop_params)


def parse_completion_request(
    data: Mapping[str, Any], *, max_tokens: int | None = None, max_n: int = 1
) -> CompletionRequest:
    """Check a completions body: ``prompt`` is one string (or a list of one)."""
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise WireError("'prompt' must be one string.", param="prompt")
    if data.get("echo"):
        raise WireError("'echo' is not supported by this gateway.", param="echo")
    if data.get("suffix"):
        raise WireError("'suffix' is not supported by this gateway.", param="suffix")
    _n(data, max_n)
    names = ("top_p", "stop", "seed", "frequency_penalty", "presence_penalty")
    return CompletionRequest(
        model=_model(data),
        prompt=prompt,
        stream=_flag(data, "stream"),
        include_usage=_include_usage(data),
        max_tokens=_int(data, "max_tokens", low=1, high=max_tokens),
        temperature=_number(data, "temperature", 0.0, 2.0),
        options={name: data[name] for name in names if data.get(name) is not None},
        extra=_extras(data, _COMPLETION_OWN),
    )


@dataclass(slots=True)
class EmbeddingRequest:
    """A checked ``POST /v1/embeddings`` body."""

    model: str
    inputs: list[str]
    dimensions: int | None = None
    encoding_format: str = "float"


def parse_embedding_request(data: Mapping[str, Any], *, max_inputs: int) -> EmbeddingRequest:
    """Check an embeddings body: ``input`` is a string or a list of strings."""
    raw = data.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise WireError("'input' must be a string or a non-empty list of strings.", param="input")
    if len(inputs) > max_inputs:
        raise WireError(f"'input' holds {len(inputs)} texts; at most {max_inputs} per request.",
                        param="input")  # fmt: skip
    encoding = data.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise WireError("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    return EmbeddingRequest(
        model=_model(data),
        inputs=inputs,
        dimensions=_int(data, "dimensions", low=1, high=None),
        encoding_format=encoding,
    )


@dataclass(slots=True)
class ImageRequest:
    """A checked ``POST /v1/images/generations`` body."""

    model: str
    prompt: str
    n: int = 1
    width: int | None = None
    height: int | None = None
    response_format: str = "b64_json"
    options: dict[str, Any] = field(default_factory=dict)


def _size(value: Any, max_side: int) -> tuple[int | None, int | None]:
    if value in (None, "auto"):
        return None, None
    if isinstance(value, str):
        width, sep, height = value.lower().partition("x")
        if sep and width.isdigit() and height.isdigit():
            w, h = int(width), int(height)
            if 0 < w <= max_side and 0 < h <= max_side:
                return w, h
            raise WireError(f"'size' sides must lie in 1..{max_side}, got {value}.", param="size")
    raise WireError("'size' must look like '1024x1024'.", param="size")


def parse_image_request(
    data: Mapping[str, Any], *, max_n: int, max_side: int, default_model: str | None = None
) -> ImageRequest:
    """Check an images body: ``size`` as ``WxH``, ``n`` and sides bounded."""
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise WireError("'prompt' is required.", param="prompt")
    fmt = data.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise WireError("'response_format' must be 'b64_json' or 'url'.", param="response_format")
    width, height = _size(data.get("size"), max_side)
    options = {}
    for name in ("seed", "negative_prompt", "steps"):
        if data.get(name) is not None:
            options[name] = data[name]
    return ImageRequest(
        model=_model(data) if data.get("model") or default_model is None else default_model,
        prompt=prompt,
        n=_n(data, max_n),
        width=width,
        height=height,
        response_format=fmt,
        options=options,
    )


# -- answers ------------------------------------------------------------------------


def usage_body(usage: Usage | None) -> dict[str, int]:
    """OpenAI's ``usage`` object (zeros for counts the upstream did not give)."""
    prompt = (usage.prompt_tokens if usage else None) or 0
    completion = (usage.completion_tokens if usage else None) or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def _tool_call_body(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {} if index is None else {"index": index}
    body.update(id=call.id, type="function",
                function={"name": call.name, "arguments": call.arguments})  # fmt: skip
    return body


def logprobs_body(tokens: Sequence[TokenLogprob]) -> dict[str, Any]:
    """A choice's ``logprobs`` object, as OpenAI writes it."""
    return {"content": [token.to_dict() for token in tokens], "refusal": None}


def _choice_body(
    index: int, text: str, reasoning: str, tool_calls: Sequence[ToolCall], finish: str | None,
    logprobs: Sequence[TokenLogprob] | None = None,
) -> dict[str, Any]:  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls
                               else None}  # fmt: skip
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = [_tool_call_body(call) for call in tool_calls]
    scores = None if logprobs is None else logprobs_body(logprobs)
    return {"index": index, "message": message, "logprobs": scores,
            "finish_reason": finish or "stop"}  # fmt: skip


def chat_completion(
    completion_id: str,
    model: str,
    created: int,
    *,
    text: str,
    reasoning: str = "",
    tool_calls: tuple[ToolCall, ...] = (),
    finish_reason: str | None,
    usage: Usage | None,
    others: Sequence[Any] = (),
    logprobs: Sequence[TokenLogprob] | None = None,
) -> bytes:
    """A whole ``chat.completion`` object, as JSON bytes. ``others`` are the answers
    past the first (``n > 1``): objects with ``index``, ``text``, ``reasoning``,
    ``tool_calls`` and ``finish_reason``. ``logprobs`` (the first answer's tokens)
    fills ``choices[0].logprobs``; ``None`` writes ``null``."""
    choices = [_choice_body(0, text, reasoning, tool_calls, finish_reason, logprobs)]
    choices += [
        _choice_body(o.index, o.text, o.reasoning, o.tool_calls, o.finish_reason) for o in others
    ]
    return _encode(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage_body(usage),
        }
    )


def text_completion(
    completion_id: str, model: str, created: int, *, text: str,
    finish_reason: str | None, usage: Usage | None,
) -> bytes:  # fmt: skip
    """A whole ``text_completion`` object, as JSON bytes."""
    return _encode(
        {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "text": text, "logprobs": None,
                         "finish_reason": finish_reason or "stop"}],
            "usage": usage_body(usage),
        }
    )  # fmt: skip


_DATA = b"data: "
_END = b"\n\n"
DONE_EVENT = b"data: [DONE]\n\n"


class ChunkEncoder:
    """``chat.completion.chunk`` events for one stream, as ``data: ...\\n\\n`` bytes.

    The fixed head of every event (id, created, model) is encoded once; an
    event costs one ``msgspec`` encode of its text. The first delta carries
    ``"role": "assistant"``, as OpenAI's does.
    """

    __slots__ = ("_args", "_head", "_role", "_tail")

    def __init__(self, completion_id: str, model: str, created: int, index: int = 0) -> None:
        self._args = (completion_id, model, created)
        self._head = (
            b'data: {"id":' + _encode(completion_id)
            + b',"object":"chat.completion.chunk","created":' + str(int(created)).encode()
            + b',"model":' + _encode(model) + b',"choices":[{"index":'
            + str(int(index)).encode() + b',"delta":{'
        )  # fmt: skip
        self._role = b'"role":"assistant",'
        self._tail = b'},"logprobs":null,"finish_reason":null}]}\n\n'

    def for_choice(self, index: int) -> ChunkEncoder:
        """The encoder of another answer of the same stream (``n > 1``)."""
        return ChunkEncoder(*self._args, index=index)

    def _delta(self, inner: bytes) -> bytes:
        role, self._role = self._role, b""
        return self._head + role + inner + self._tail

    def content(self, text: str) -> bytes:
        """An answer-text delta."""
        return self._delta(b'"content":' + _encode(text))

    def reasoning(self, text: str) -> bytes:
        """A reasoning delta (``reasoning_content``, as vLLM and the router name it)."""
        return self._delta(b'"reasoning_content":' + _encode(text))

    def tool_calls(self, calls: tuple[ToolCall, ...], first_index: int = 0) -> bytes:
        """Tool-call deltas: each with its ``index``, ``id``, name and whole ``arguments``."""
        bodies = [_tool_call_body(call, first_index + i) for i, call in enumerate(calls)]
        return self._delta(b'"tool_calls":' + _encode(bodies))

    def logprobs(self, tokens: Sequence[TokenLogprob]) -> bytes:
        """An event of log probabilities: an empty delta and ``logprobs.content``."""
        role, self._role = self._role, b""
        return (
            self._head + role.rstrip(b",") + b'},"logprobs":' + _encode(logprobs_body(tokens))
            + b',"finish_reason":null}]}\n\n'
        )  # fmt: skip

    def finish(self, reason: str | None) -> bytes:
        """The last choice event: an empty delta and the finish reason."""
        role, self._role = self._role, b""
        return (
            self._head + role.rstrip(b",") + b'},"logprobs":null,"finish_reason":'
            + _encode(reason or "stop") + b"}]}\n\n"
        )  # fmt: skip

    def usage(self, usage: Usage | None) -> bytes:
        """The usage event (``stream_options.include_usage``): no choices, the counts."""
        head = self._head[: self._head.index(b'"choices":')]
        return head + b'"choices":[],"usage":' + _encode(usage_body(usage)) + b"}\n\n"


class CompletionEncoder:
    """``text_completion`` events for one ``/v1/completions`` stream."""

    __slots__ = ("_head",)

    def __init__(self, completion_id: str, model: str, created: int) -> None:
        self._head = (
            b'data: {"id":' + _encode(completion_id) + b',"object":"text_completion","created":'
            + str(int(created)).encode() + b',"model":' + _encode(model) + b',"choices":'
        )  # fmt: skip

    def content(self, text: str) -> bytes:
        """A text delta."""
        return (self._head + b'[{"index":0,"text":' + _encode(text)
                + b',"logprobs":null,"finish_reason":null}]}\n\n')  # fmt: skip

    def finish(self, reason: str | None) -> bytes:
        """The last choice event."""
        return (self._head + b'[{"index":0,"text":"","logprobs":null,"finish_reason":'
                + _encode(reason or "stop") + b"}]}\n\n")  # fmt: skip

    def usage(self, usage: Usage | None) -> bytes:
        """The usage event."""
        return self._head + b'[],"usage":' + _encode(usage_body(usage)) + b"}\n\n"


def error_body(
    message: str, kind: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_event(body: Mapping[str, Any]) -> bytes:
    """An error as one stream event (the ``openai`` client raises on it)."""
    return _DATA + _encode(body) + _END
