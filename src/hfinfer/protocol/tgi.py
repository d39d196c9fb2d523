"""The text-generation-inference protocol: request bodies and answers. No I/O.

Quirks it works around (see ``shared/spec/protocols.md`` §2): TGI decodes
greedily when ``parameters`` is present without ``do_sample``; it rejects
``temperature: 0`` and ``top_p: 1.0``; the compat route returns the prompt
unless ``return_full_text`` is false; only the last stream event carries
``generated_text`` and ``details``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson

from ..errors import InvalidRequestError, ResponseError, StreamError
from ..types import FinishReason, Usage
from . import sse

__all__ = [
    "GENERATION_PARAMETERS",
    "TextStream",
    "build_parameters",
    "decode_generation",
    "finish_reason_from_details",
    "fit_max_new_tokens",
]

#: Keyword arguments passed through to TGI as they are (after aliases are resolved).
GENERATION_PARAMETERS = frozenset(
    {
        "top_p",
        "top_k",
        "typical_p",
        "stop",
        "repetition_penalty",
        "frequency_penalty",
        "do_sample",
        "truncate",
        "watermark",
        "best_of",
        "decoder_input_details",
        "top_n_tokens",
        "grammar",
        "adapter_id",
    }
)


_SAMPLING_KNOBS = ("temperature", "top_p", "top_k", "typical_p")


def build_parameters(
    *,
    max_new_tokens: int | None,
    temperature: float | None = None,
    seed: int | None = None,
    extra: Mapping[str, Any] | None = None,
    **knobs: Any,
) -> dict[str, Any]:
    """The ``parameters`` object of a generation request.

    ``knobs`` are TGI parameter names (see :data:`GENERATION_PARAMETERS`);
    ``None`` values are left out. ``extra`` is merged last and wins.
    Raises :class:`InvalidRequestError` for values TGI is known to reject.
    """
    params: dict[str, Any] = {"return_full_text": False, "details": True}
    if max_new_tokens is not None:
        if max_new_tokens <= 0:
            raise InvalidRequestError(f"max_tokens must be positive, got {max_new_tokens}")
        params["max_new_tokens"] = int(max_new_tokens)
    if temperature is not None:
        if temperature < 0:
            raise InvalidRequestError(f"temperature must be >= 0, got {temperature}")
        if temperature == 0:
            params["do_sample"] = False  # TGI rejects 0: greedy decoding is what 0 means
        else:
            params["temperature"] = float(temperature)
    if seed is not None:
        if not 0 <= int(seed) < 2**64:
            raise InvalidRequestError(f"seed must be an unsigned 64-bit integer, got {seed}")
        params["seed"] = int(seed)
    for name, value in knobs.items():
        if value is None:
            continue
        if name == "top_p" and value >= 1.0:
            continue  # TGI rejects 1.0, which means "no nucleus cut" anyway
        if name == "stop" and isinstance(value, str):
            value = [value]
        params[name] = value
    _check_ranges(params)
    if "do_sample" not in params and any(k in params for k in _SAMPLING_KNOBS):
        params["do_sample"] = True
    if extra:
        params.update(extra)
    return params


def _check_ranges(params: Mapping[str, Any]) -> None:
    checks = {
        "top_p": lambda v: 0 < v < 1,
        "typical_p": lambda v: 0 < v < 1,
        "top_k": lambda v: v > 0,
        "repetition_penalty": lambda v: v > 0,
        "frequency_penalty": lambda v: -2 <= v <= 2,
    }
    for name, valid in checks.items():
        if name in params and not valid(params[name]):
            raise InvalidRequestError(f"{name}={params[name]!r} is out of the range TGI accepts")


_FINISH_REASONS = {"eos_token": "stop", "stop_sequence": "stop", "length": "length"}


def finish_reason_from_details(details: Mapping[str, Any] | None, saw_special: bool) -> str:
    """TGI's ``details.finish_reason`` in OpenAI's words; else the seed's rule
    (a special token means the model stopped, otherwise the limit cut it)."""
    if details:
        reason = details.get("finish_reason")
        if reason:
            return _FINISH_REASONS.get(reason, str(reason))
    return "stop" if saw_special else "length"


def usage_from_details(
    details: Mapping[str, Any] | None, prompt_tokens: int | None = None
) -> Usage | None:
    if not details:
        return None
    generated = details.get("generated_tokens")
    prompt = details.get("input_length", prompt_tokens)
    if generated is None and prompt is None:
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=generated)


class _Token(msgspec.Struct, gc=False):
    text: str
    special: bool = False


class _Event(msgspec.Struct, gc=False):
    """The fields of a TGI stream event that matter here; the rest are skipped."""

    token: _Token
    generated_text: str | None = None
    details: dict[str, Any] | None = None


# Typed decoders build small structs in C, skipping unused fields (index,
# logprob, top_tokens): about twice as fast as decoding to dicts.
_decode_event = msgspec.json.Decoder(_Event).decode
_decode_events = msgspec.json.Decoder(list[_Event]).decode
#: What hostile bytes make a decoder raise: invalid UTF-8 inside a string is a
#: UnicodeDecodeError (a ValueError), deep nesting a RecursionError.
_DECODE_ERRORS = (msgspec.DecodeError, ValueError, RecursionError)


class TextStream:
    """Turns the data of TGI stream events into the text to yield.

    :meth:`read` takes each read of the body as it came (its own SSE parser
    splits the events; a read holding one whole event, every read at generation
    speed over a network, is decoded with no splitting at all). :meth:`feed`
    takes every event one read delivered and returns their text
    joined: tokens that arrived together are yielded together, so the cost
    per token is a C decode and an append, not a trip through the event loop.
    The first text is left-stripped unless continuing. Keeps what a caller
    needs afterwards: the text so far, the token count, the final event's
    details. A failure inside a batch (an error event, a malformed event) is
    kept in :attr:`error` after the text before it is returned, so the caller
    delivers that text first; each error carries the text already delivered.
    """

    __slots__ = (
        "_first",
        "details",
        "do_continue",
        "error",
        "final_seen",
        "parser",
        "parts",
        "saw_special",
        "tokens",
    )

    def __init__(self, do_continue: bool = False) -> None:
        self.do_continue = do_continue
        self._first = not do_continue
        self.saw_special = False
        self.final_seen = False
        self.tokens = 0
        self.parts: list[str] = []
        self.details: dict[str, Any] | None = None
        self.error: StreamError | None = None
        self.parser = sse.SSEParser()

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def progress(self) -> tuple[int, str]:
        """The tokens and the text so far (what a broken stream's error carries)."""
        return self.tokens, self.text

    def feed_sse(self, complete: bytes) -> str:
        """The text of the raw SSE events in ``complete`` (from ``SSEParser.take``).

        Events that are each one ``data:`` line decode as one JSON array in a
        single call; anything else goes event by event. A read holding one such
        event (every read, at generation speed over a network) decodes it alone.
        """
        if complete[:5] == b"data:" and complete.find(b"\n") == len(complete) - 2:
            return self._one(complete[5:-2], complete)
        batch = sse.data_array(complete)
        if batch is not None:
            array, count = batch
            try:
                events = _decode_events(array)
            except _DECODE_ERRORS:
                events = None
            # One value per event, or a line held more than one ('{..},{..}').
            if events is not None and len(events) == count:
                return self._take(events)
        return self.feed(sse.payloads(complete))

    def read(self, chunk: bytes) -> str:
        """The text one read of the body adds: its events split off (an event cut
        across reads waits for its end) and decoded. Raises the parser's
        :class:`~hfinfer.errors.StreamError`; a bad event is kept in :attr:`error`."""
        parser = self.parser
        data = parser.single_data(chunk)
        if data is not None:
            return self._one(data, chunk)
        complete = parser.take(chunk)
        return self.feed_sse(complete) if complete else ""

    def close(self) -> str:
        """The text of a last event the body did not end with a blank line."""
        return self.feed(self.parser.close())

    def _one(self, data: bytes, complete: bytes) -> str:
        """The text of one event's ``data``; ``complete``: its raw SSE text, for the
        general path when it does not decode alone."""
        try:
            event = _decode_event(data)
        except _DECODE_ERRORS:
            return self.feed(sse.payloads(complete))  # finds what is wrong with it
        return self._take_one(event)

    def feed(self, payloads: list[bytes]) -> str:
        """The text the events add, joined (``""`` when none)."""
        if not payloads:
            return ""
        try:
            if len(payloads) == 1:
                events = [_decode_event(payloads[0])]
            else:
                events = _decode_events(b"[" + b",".join(payloads) + b"]")
        except _DECODE_ERRORS:
            return self._feed_one_by_one(payloads)
        if len(events) != len(payloads):
            return self._feed_one_by_one(payloads)
        return self._take(events)

    def event(self, data: bytes) -> str | None:
        """The text one event adds, or ``None``; raises its error at once."""
        text = self.feed([data])
        if self.error is not None:
            raise self.error
        return text or None

    def _take_one(self, event: _Event) -> str:
        """:meth:`_take` for one event, without the lists."""
        self.tokens += 1
        token = event.token
        if token.special:
            self.saw_special = True
            return self._keep("", event)
        return self._keep(token.text, event)

    def _take(self, events: list[_Event]) -> str:
        parts: list[str] = []
        append = parts.append
        for event in events:
            token = event.token
            if token.special:
                self.saw_special = True
            elif token.text:
                append(token.text)
        self.tokens += len(events)
        return self._keep("".join(parts), events[-1]) if events else ""

    def _keep(self, text: str, last: _Event) -> str:
        """Keep the text that events up to ``last`` add, and whether ``last`` is the
        final event (the one with ``generated_text``/``details``): an event after
        the final one means the stream has not ended where TGI ends it, however
        the events were read. The first text is left-stripped unless continuing."""
        final = last.generated_text is not None or last.details is not None
        self.final_seen = final
        if final:
            self.details = last.details
        if self._first:
            text = text.lstrip()
            if not text:
                return ""
            self._first = False
        if text:
            self.parts.append(text)
        return text

    def _feed_one_by_one(self, payloads: list[bytes]) -> str:
        # Slow path, taken only when a batch did not decode: keep the text of the
        # events before the bad one, and record the error for after it is delivered.
        texts = []
        for data in payloads:
            if data == b"[DONE]":
                continue
            try:
                event = _decode_event(data)
            except _DECODE_ERRORS as exc:
                self.error = self._bad_event(data, exc)
                break
            texts.append(self._take([event]))
        return "".join(texts)

    def _bad_event(self, data: bytes, exc: Exception) -> StreamError:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict) and "error" in event:
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            error_type = event.get("error_type") or (
                error.get("type") if isinstance(error, dict) else None
            )
            return StreamError(
                f"The server reported an error after {self.tokens} tokens: {message}",
                error_type=error_type,
                body=data.decode("utf-8", errors="replace"),
                partial_text=self.text,
                tokens_received=self.tokens,
            )
        return StreamError(
            f"Malformed stream event after {self.tokens} tokens ({type(exc).__name__}): "
            f"{data[:120]!r}",
            body=data.decode("utf-8", errors="replace"),
            partial_text=self.text,
            tokens_received=self.tokens,
        )

    def finish(self) -> list[Usage | FinishReason]:
        """What to yield after the text: usage (when known), then the finish reason."""
        if self.error is not None:
            raise self.error
        if not self.final_seen:
            raise StreamError(
                f"The stream ended before its final event, after {self.tokens} tokens; "
                "the server or a proxy cut it. The text so far is in .partial_text.",
                partial_text=self.text,
                tokens_received=self.tokens,
            )
        tail: list[Usage | FinishReason] = []
        usage = usage_from_details(self.details)
        if usage is not None:
            tail.append(usage)
        tail.append(FinishReason(finish_reason_from_details(self.details, self.saw_special)))
        return tail


def decode_generation(body: Any) -> tuple[str, list[Usage | FinishReason]]:
    """A non-streamed answer (a list ``[{"generated_text"}]`` or the object alone):
    the stripped text, then usage and finish reason when ``details`` came."""
    item = body[0] if isinstance(body, list) and body else body
    if not isinstance(item, dict) or "generated_text" not in item:
        raise ResponseError(f"Unexpected answer, no generated_text in it: {str(body)[:200]}")
    text = str(item["generated_text"]).strip()
    details = item.get("details")
    tail: list[Usage | FinishReason] = []
    if details:
        usage = usage_from_details(details)
        if usage is not None:
            tail.append(usage)
        tail.append(FinishReason(finish_reason_from_details(details, False)))
    return text, tail


_CONTEXT_LIMIT = re.compile(
    r"must be <= (?P<limit>\d+)\. Given: (?P<inputs>\d+) `inputs` tokens and "
    r"(?P<new>\d+) `max_new_tokens`"
)


def fit_max_new_tokens(message: str) -> int | None:
    """From TGI's "inputs tokens + max_new_tokens must be <= N" rejection, the
    largest ``max_new_tokens`` that fits, or ``None`` when nothing would."""
    match = _CONTEXT_LIMIT.search(message)
    if not match:
        return None
    room = int(match["limit"]) - int(match["inputs"])
    return room if 0 < room < int(match["new"]) else None
