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

import orjson

from ..errors import InvalidRequestError, ResponseError, StreamError
from ..types import FinishReason, Usage

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

#: Other spellings people use for the same knobs (OpenAI's and huggingface_hub's).
PARAMETER_ALIASES = {"stop_sequences": "stop", "max_new_tokens": "max_tokens"}

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


class TextStream:
    """Turns the data of each TGI stream event into the text to yield.

    Keeps what a caller needs afterwards: the text so far, the token count,
    and the final event's details. Raises :class:`StreamError` for an error
    event, a malformed event, or (in :meth:`finish`) a missing final event;
    each carries the text already delivered.
    """

    __slots__ = ("_first", "details", "do_continue", "final_seen", "parts", "saw_special", "tokens")

    def __init__(self, do_continue: bool = False) -> None:
        self.do_continue = do_continue
        self._first = not do_continue
        self.saw_special = False
        self.final_seen = False
        self.tokens = 0
        self.parts: list[str] = []
        self.details: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def event(self, data: bytes) -> str | None:
        """The text one event adds, or ``None`` when it adds none."""
        try:
            event = orjson.loads(data)
            token = event["token"]
            special = token["special"]
            text = token["text"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise self._bad_event(data, exc) from exc
        self.tokens += 1
        if event.get("generated_text") is not None or event.get("details") is not None:
            self.final_seen = True
            self.details = event.get("details")
        if special:
            self.saw_special = True
            return None
        if self._first:
            text = text.lstrip()
            if not text:
                return None
            self._first = False
        if not text:
            return None
        self.parts.append(text)
        return text

    def _bad_event(self, data: bytes, exc: Exception) -> ResponseError:
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
