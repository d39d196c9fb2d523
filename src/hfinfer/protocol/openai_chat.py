"""OpenAI's chat-completions protocol, as the Inference Providers router speaks it. No I/O.

Request bodies (:func:`build_chat_request`), streamed chunks
(:class:`ChatChunkDecoder`), whole answers (:func:`decode_completion`) and tool-call
deltas (:class:`ToolCallAssembler`). Quirks handled, all seen in recorded
answers under ``shared/data/cassettes``: TGI 1.4 streams say ``data:``
without a space and send no ``[DONE]``; TGI reports ``finish_reason``
``"eos_token"``; TGI's tool calls carry an integer ``id`` and ``arguments``
as an object instead of JSON text, and repeat ``id`` in every delta; the
usage of a stream arrives in a last chunk with no choices; an error can
arrive as an event inside a 200 stream (``data: {"error": {...}}``).

Answer text is returned raw: splitting ``<think>`` blocks out of it is
:mod:`hfinfer.reasoning`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import orjson

from ..errors import InvalidRequestError, ResponseError, StreamError
from ..types import (
    ChoiceChunk,
    FinishReason,
    Logprobs,
    Reasoning,
    TokenLogprob,
    ToolCall,
    ToolCalls,
    Usage,
)

__all__ = [
    "CHAT_PARAMETERS",
    "ENGINE_PARAMETERS",
    "ChatChunkDecoder",
    "ToolCallAssembler",
    "build_chat_request",
    "decode_completion",
    "finish_reason",
    "logprobs_from",
    "usage_from",
]

#: Keyword arguments passed to the router as they are (after the checks below).
CHAT_PARAMETERS = frozenset(
    {
        "top_p",
        "stop",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "parallel_tool_calls",
        "reasoning_effort",
        "n",
        "user",
        "max_completion_tokens",
    }
)

#: Sampling knobs of the engines behind OpenAI-compatible servers (vLLM, llama.cpp's
#: llama-server, TGI, SGLang) that OpenAI does not define: sent at the top level of
#: the body, where those servers read them. Others go through ``extra_body``.
ENGINE_PARAMETERS = frozenset(
    {
        "top_k",
        "min_p",
        "typical_p",
        "repetition_penalty",
        "repeat_penalty",
        "repeat_last_n",
        "length_penalty",
        "min_tokens",
        "ignore_eos",
        "skip_special_tokens",
        "stop_token_ids",
        "include_stop_str_in_output",
        "best_of",
        "use_beam_search",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "tfs_z",
        "xtc_probability",
        "xtc_threshold",
        "dry_multiplier",
        "dry_base",
        "dry_allowed_length",
        "grammar",
        "json_schema",
        "guided_json",
        "guided_regex",
        "guided_choice",
        "guided_grammar",
        "chat_template_kwargs",
        "cache_prompt",
    }
)

_TOOL_CHOICE_WORDS = frozenset({"auto", "none", "required"})

#: Finish reasons in OpenAI's words (TGI says "eos_token" and "stop_sequence").
_FINISH_REASONS = {
    "eos_token": "stop",
    "stop_sequence": "stop",
    "end_turn": "stop",
    "function_call": "tool_calls",
}

Piece = str | Reasoning
#: What the decoder hands on: the first answer's pieces, and other answers' wrapped.
Item = str | Reasoning | Logprobs | ChoiceChunk
Tail = ToolCalls | Usage | FinishReason | ChoiceChunk


def build_chat_request(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    stream: bool,
    max_tokens: int | None = None,
    temperature: float | None = None,
    extra: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/chat/completions``.

    ``options`` are names from :data:`CHAT_PARAMETERS`; ``None`` values are
    left out; ``extra`` is merged last and wins. A streamed request asks for
    usage (``stream_options.include_usage``). A bare function name as
    ``tool_choice`` becomes OpenAI's ``{"type": "function", ...}`` object, and
    a tool given as a bare function description is wrapped the same way.
    Raises :class:`InvalidRequestError` for values the protocol rejects.
    """
    body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or max_tokens <= 0:
            raise InvalidRequestError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        body["max_tokens"] = max_tokens
    if temperature is not None:
        if not 0 <= temperature <= 2:
            raise InvalidRequestError(f"temperature must lie in [0, 2], got {temperature}")
        body["temperature"] = float(temperature)
    for name, value in options.items():
        if value is not None:
            body[name] = _checked_option(name, value)
    if extra:
        body.update(extra)
    return body


def _checked_option(name: str, value: Any) -> Any:
    if name == "top_p" and not 0 < value <= 1:
        raise InvalidRequestError(f"top_p must lie in (0, 1], got {value}")
    if name == "stop":
        stops = [value] if isinstance(value, str) else value
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequestError("stop must be a string or a list of strings")
        return stops
    if name == "n" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise InvalidRequestError(f"n must be a positive integer, got {value!r}")
    if name == "seed" and (not isinstance(value, int) or isinstance(value, bool)):
        raise InvalidRequestError(f"seed must be an integer, got {value!r}")
    if name == "response_format" and not (isinstance(value, Mapping) and "type" in value):
        raise InvalidRequestError(
            'response_format must be a dict with a "type", e.g. {"type": "json_object"}'
        )
    if name == "tools":
        return _checked_tools(value)
    if name == "tool_choice" and isinstance(value, str) and value not in _TOOL_CHOICE_WORDS:
        return {"type": "function", "function": {"name": value}}
    return value


def _checked_tools(tools: Any) -> list[Any]:
    if not isinstance(tools, list) or not all(isinstance(t, Mapping) for t in tools):
        raise InvalidRequestError('tools must be a list like [{"type": "function", ...}]')
    return [
        tool if "type" in tool else {"type": "function", "function": dict(tool)} for tool in tools
    ]


def finish_reason(reason: Any) -> str | None:
    """A server's finish reason in OpenAI's words (``None`` stays ``None``)."""
    if reason is None or reason == "":
        return None
    return _FINISH_REASONS.get(str(reason), str(reason))


def usage_from(usage: Any) -> Usage | None:
    """:class:`Usage` from an OpenAI ``usage`` object, or ``None``."""
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    return Usage(
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        completion_tokens=completion if isinstance(completion, int) else None,
    )


def logprobs_from(value: Any) -> Logprobs | None:
    """:class:`Logprobs` from a choice's ``logprobs`` object (its ``content`` list),
    or ``None`` when it holds no token; malformed entries are skipped."""
    content = value.get("content") if isinstance(value, Mapping) else None
    if not isinstance(content, list):
        return None
    tokens = tuple(t for t in map(_token_logprob, content) if t is not None)
    return Logprobs(tokens) if tokens else None


def _token_logprob(entry: Any, with_top: bool = True) -> TokenLogprob | None:
    if not isinstance(entry, Mapping):
        return None
    token, logprob = entry.get("token"), entry.get("logprob")
    if not isinstance(token, str) or isinstance(logprob, bool):
        return None
    if not isinstance(logprob, (int, float)):
        return None
    raw = entry.get("bytes")
    data = tuple(raw) if isinstance(raw, list) and all(type(b) is int for b in raw) else None
    tops = entry.get("top_logprobs") if with_top else None
    top = (
        tuple(t for t in (_token_logprob(x, False) for x in tops) if t is not None)
        if isinstance(tops, list)
        else ()
    )
    return TokenLogprob(token, float(logprob), data, top)


class _Partial:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class ToolCallAssembler:
    """Joins tool-call deltas into complete calls, keyed by each delta's ``index``.

    The first non-empty ``id`` and ``name`` win (TGI repeats the id in every
    delta; OpenAI sends both once); ``arguments`` text is concatenated, and an
    object (TGI's non-standard answer) is written out as JSON text.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, _Partial] = {}

    def add(self, deltas: Sequence[Any]) -> None:
        """Take the ``tool_calls`` list of one delta (or of a whole message)."""
        for position, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                continue
            index = delta.get("index")
            call = self._calls.setdefault(index if isinstance(index, int) else position, _Partial())
            if delta.get("id") not in (None, "") and not call.id:
                call.id = str(delta["id"])
            function = delta.get("function")
            if not isinstance(function, Mapping):
                continue
            if function.get("name") and not call.name:
                call.name = str(function["name"])
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                call.arguments.append(arguments)
            elif arguments is not None:
                call.arguments = [orjson.dumps(arguments).decode()]

    def result(self) -> ToolCalls | None:
        """The complete calls in index order, or ``None`` when there were none."""
        calls = tuple(
            ToolCall(
                id=call.id or f"call_{index}", name=call.name, arguments="".join(call.arguments)
            )
            for index, call in sorted(self._calls.items())
            if call.name or call.arguments
        )
        return ToolCalls(calls) if calls else None


class _Delta(msgspec.Struct):
    content: Any = None
    reasoning_content: Any = None
    reasoning: Any = None
    tool_calls: Any = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: Any = None
    logprobs: Any = None
    index: Any = 0


class _Chunk(msgspec.Struct):
    """The fields of a ``chat.completion.chunk`` that matter here; the rest are skipped."""

    choices: list[_Choice] | None = None
    usage: Any = None
    error: Any = None
    error_type: Any = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_decode_chunks = msgspec.json.Decoder(list[_Chunk]).decode
_DONE = b"[DONE]"


def _delta_pieces(delta: _Delta) -> list[Piece]:
    pieces: list[Piece] = []
    for thought in (delta.reasoning_content, delta.reasoning):
        if isinstance(thought, str) and thought:
            pieces.append(Reasoning(thought))
    if isinstance(delta.content, str) and delta.content:
        pieces.append(delta.content)
    return pieces


class ChatChunkDecoder:
    """Turns the data of ``chat.completion.chunk`` events into stream pieces.

    :meth:`feed` takes the payloads one read delivered and returns the raw
    answer text (``str``) and :class:`Reasoning` from ``reasoning_content``
    (or ``reasoning``) deltas. Tool-call deltas, usage and the finish reason
    are kept for :meth:`finish`. An error event, or a malformed one, is kept
    in :attr:`error` after the pieces before it are returned, so the caller
    delivers those first. With ``n > 1``, the pieces of answers other than the
    first (``choices[].index`` > 0) come wrapped in :class:`ChoiceChunk`.
    A choice's ``logprobs.content`` (the first answer's) comes as :class:`Logprobs`
    after that event's text.
    """

    __slots__ = ("done", "error", "events", "finish_reason", "others", "parts", "tools", "usage")

    def __init__(self) -> None:
        self.done = False
        self.events = 0
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.tools = ToolCallAssembler()
        self.error: StreamError | None = None
        self.others: dict[int, _OtherChoice] = {}

    @property
    def text(self) -> str:
        """The raw answer text so far."""
        return "".join(self.parts)

    def feed(self, payloads: list[bytes]) -> list[Item]:
        """The pieces the events add (an empty list when none)."""
        if _DONE in payloads:
            self.done = True
            payloads = [p for p in payloads if p != _DONE]
        if not payloads or self.error is not None:
            return []
        try:
            if len(payloads) == 1:
                chunks = [_decode_chunk(payloads[0])]
            else:
                chunks = _decode_chunks(b"[" + b",".join(payloads) + b"]")
        except msgspec.DecodeError:
            return self._feed_one_by_one(payloads)
        return self._take(chunks, payloads)

    def _feed_one_by_one(self, payloads: list[bytes]) -> list[Item]:
        # Slow path, only when a batch did not decode: keep what came before the bad event.
        pieces: list[Item] = []
        for data in payloads:
            try:
                chunk = _decode_chunk(data)
            except msgspec.DecodeError as exc:
                self.error = self._stream_error(
                    f"Malformed stream event after {self.events} events "
                    f"({type(exc).__name__}): {data[:120]!r}",
                    data,
                )
                break
            pieces.extend(self._take([chunk], [data]))
            if self.error is not None:
                break
        return pieces

    def _take(self, chunks: list[_Chunk], payloads: list[bytes]) -> list[Item]:
        pieces: list[Item] = []
        for chunk, data in zip(chunks, payloads, strict=True):
            if chunk.error is not None:
                self.error = self._error_event(chunk, data)
                break
            self.events += 1
            if chunk.usage is not None:
                self.usage = usage_from(chunk.usage) or self.usage
            for choice in chunk.choices or ():
                index = choice.index
                if index and isinstance(index, int) and index > 0:  # another of n answers
                    other = self.others.get(index) or self.others.setdefault(
                        index, _OtherChoice(index)
                    )
                    pieces.extend(other.take(choice))
                    continue
                delta = choice.delta
                if delta is not None:
                    new = _delta_pieces(delta)
                    pieces.extend(new)
                    self.parts.extend(p for p in new if isinstance(p, str))
                    if delta.tool_calls:
                        self.tools.add(delta.tool_calls)
                if choice.logprobs is not None:  # only when asked for: null or absent else
                    found = logprobs_from(choice.logprobs)
                    if found is not None:
                        pieces.append(found)
                self.finish_reason = finish_reason(choice.finish_reason) or self.finish_reason
        return pieces

    def _error_event(self, chunk: _Chunk, data: bytes) -> StreamError:
        error = chunk.error
        message = error.get("message", error) if isinstance(error, Mapping) else error
        error_type = chunk.error_type
        if isinstance(error, Mapping):
            error_type = error.get("type") or error.get("code") or error_type
        return self._stream_error(
            f"The server reported an error after {self.events} events: {message}",
            data,
            error_type=None if error_type is None else str(error_type),
        )

    def _stream_error(
        self, message: str, data: bytes, error_type: str | None = None
    ) -> StreamError:
        return StreamError(
            message,
            error_type=error_type,
            body=data.decode("utf-8", errors="replace"),
            partial_text=self.text,
            tokens_received=self.events,
        )

    def finish(self) -> list[Tail]:
        """What to yield after the text: tool calls, usage (when known), the finish reason.

        Raises the kept error, or :class:`StreamError` when the stream ended
        before ``[DONE]`` and before any finish reason (a cut stream).
        """
        if self.error is not None:
            raise self.error
        if not self.done and self.finish_reason is None:
            raise StreamError(
                f"The stream ended before its final event, after {self.events} events; "
                "the server or a proxy cut it. The text so far is in .partial_text.",
                partial_text=self.text,
                tokens_received=self.events,
            )
        tail: list[Tail] = list(_tail(self.tools.result(), self.usage, self.finish_reason))
        for index in sorted(self.others):
            tail.extend(self.others[index].finish())
        return tail


class _OtherChoice:
    """What one of the other answers of an ``n > 1`` stream gathered."""

    __slots__ = ("finish_reason", "index", "tools")

    def __init__(self, index: int) -> None:
        self.index = index
        self.tools = ToolCallAssembler()
        self.finish_reason: str | None = None

    def take(self, choice: _Choice) -> list[Item]:
        delta = choice.delta
        pieces: list[Item] = []
        if delta is not None:
            pieces = [ChoiceChunk(self.index, p) for p in _delta_pieces(delta)]
            if delta.tool_calls:
                self.tools.add(delta.tool_calls)
        self.finish_reason = finish_reason(choice.finish_reason) or self.finish_reason
        return pieces

    def finish(self) -> list[ChoiceChunk]:
        tail = _tail(self.tools.result(), None, self.finish_reason)
        return [ChoiceChunk(self.index, item) for item in tail if not isinstance(item, Usage)]


def _tail(
    calls: ToolCalls | None, usage: Usage | None, reason: str | None
) -> list[ToolCalls | Usage | FinishReason]:
    tail: list[ToolCalls | Usage | FinishReason] = []
    if calls is not None:
        tail.append(calls)
        # TGI ends a tool call with "eos_token"/"stop" (or with nothing): OpenAI says tool_calls.
        if reason in (None, "stop"):
            reason = "tool_calls"
    if usage is not None:
        tail.append(usage)
    tail.append(FinishReason(reason or "stop"))
    return tail


def decode_completion(body: Any) -> tuple[list[Item], list[Tail]]:
    """A whole ``chat.completion``, as a stream would give it: the pieces
    (reasoning, then the raw answer text) and the tail (tool calls, usage, the
    finish reason); the first answer's ``logprobs`` as :class:`Logprobs` after its
    text. Answers past the first (``n > 1``) follow, wrapped in
    :class:`ChoiceChunk`. Raises :class:`ResponseError` for another shape."""
    choices = body.get("choices") if isinstance(body, Mapping) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ResponseError(f"Unexpected answer, no choices in it: {str(body)[:200]}")
    usage = usage_from(body.get("usage"))
    pieces: list[Item] = []
    tail: list[Tail] = []
    for position, choice in enumerate(c for c in choices if isinstance(c, Mapping)):
        index = choice.get("index")
        index = index if isinstance(index, int) and index >= 0 else position
        found, calls, reason = _whole_choice(choice)
        if index == 0:
            scores = logprobs_from(choice.get("logprobs"))
            pieces[:0] = [*found, scores] if scores is not None else found
            tail[:0] = _tail(calls, usage, reason)
        else:
            pieces.extend(ChoiceChunk(index, piece) for piece in found)
            ends = _tail(calls, None, reason)
            tail.extend(ChoiceChunk(index, t) for t in ends if not isinstance(t, Usage))
    return pieces, tail


def _whole_choice(choice: Mapping[str, Any]) -> tuple[list[Piece], ToolCalls | None, str | None]:
    found = choice.get("message")
    message: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    pieces: list[Piece] = [
        Reasoning(thought)
        for thought in (message.get("reasoning_content"), message.get("reasoning"))
        if isinstance(thought, str) and thought
    ]
    content = message.get("content")
    if isinstance(content, str) and content:
        pieces.append(content)
    tools = ToolCallAssembler()
    if isinstance(message.get("tool_calls"), list):
        tools.add(message["tool_calls"])
    return pieces, tools.result(), finish_reason(choice.get("finish_reason"))
