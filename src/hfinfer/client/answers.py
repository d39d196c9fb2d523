"""A whole answer, as the stream's chunks assemble it: :class:`ChatResponse`, and
:class:`ChatChoice` for each further answer of a call that asked for several."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..types import (
    ChoiceChunk,
    Chunk,
    FinishReason,
    ImageResponse,
    Logprobs,
    Messages,
    Reasoning,
    TokenLogprob,
    ToolCall,
    ToolCalls,
    Usage,
)

__all__ = ["ChatChoice", "ChatResponse"]


@dataclass
class ChatChoice:
    """One of the answers of a call that asked for several (``n > 1``)."""

    index: int
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None

    def add(self, chunk: Chunk) -> None:
        """Take one piece of this answer."""
        _add_answer(self, chunk)


def _add_answer(answer: ChatChoice | ChatResponse, chunk: Chunk) -> bool:
    """Take a piece of one answer (text, reasoning, tool calls, finish reason) into
    ``answer``, for :class:`ChatChoice` and :class:`ChatResponse` alike; ``False``
    when ``chunk`` is not such a piece."""
    if isinstance(chunk, str):
        answer.text += chunk
    elif isinstance(chunk, Reasoning):
        answer.reasoning += chunk.token or ""
    elif isinstance(chunk, ToolCalls):
        answer.tool_calls += chunk.calls
    elif isinstance(chunk, FinishReason):
        answer.finish_reason = chunk.reason
    else:
        return False
    return True


@dataclass
class ChatResponse:
    """A whole answer, assembled from the stream, and what a log needs of its call.

    ``text`` is the answer, ``reasoning`` the model's reasoning (kept apart),
    ``tool_calls`` the complete tool calls, ``finish_reason`` OpenAI's word
    (``"stop"``, ``"length"``, ``"tool_calls"``...), ``images`` any generated
    images. Of the call: ``model``, ``messages`` and ``options`` (the
    request's), ``route`` (``"router"``, ``"openai"`` or ``"tgi"``), ``provider`` (who
    answered, when known), ``request_id`` (the answer's ``x-request-id``),
    ``time_to_first_token`` and ``duration`` in seconds (``None`` until known).
    With ``n > 1``, :attr:`choices` holds every answer (the fields above are
    the first's). ``logprobs`` holds the tokens' log probabilities, when asked
    (``logprobs=True``) and sent. ``str(response)`` is the text; :meth:`to_dict` is JSON-ready.
    """

    model: str
    route: str
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    images: list[ImageResponse] = field(default_factory=list)
    messages: Messages = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    request_id: str | None = None
    time_to_first_token: float | None = None
    duration: float | None = None
    others: dict[int, ChatChoice] = field(default_factory=dict, repr=False)
    logprobs: tuple[TokenLogprob, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return self.text

    @property
    def choices(self) -> list[ChatChoice]:
        """Every answer, by index: the first (this response's own fields), then the rest."""
        first = ChatChoice(0, self.text, self.reasoning, self.tool_calls, self.finish_reason)
        return [first, *(self.others[i] for i in sorted(self.others))]

    def add(self, chunk: Chunk) -> None:
        """Take one chunk of the stream into the response."""
        if _add_answer(self, chunk):
            return
        if isinstance(chunk, Usage):
            self.usage = chunk
        elif isinstance(chunk, ImageResponse):
            self.images.append(chunk)
        elif isinstance(chunk, Logprobs):
            self.logprobs += chunk.content
        elif isinstance(chunk, ChoiceChunk):
            choice = self.others.get(chunk.index) or self.others.setdefault(
                chunk.index, ChatChoice(chunk.index)
            )
            choice.add(chunk.chunk)

    def to_dict(self) -> dict[str, Any]:
        """The response as plain JSON-ready values (images as their URLs)."""
        usage = self.usage
        return {
            "model": self.model,
            "route": self.route,
            "provider": self.provider,
            "request_id": self.request_id,
            "text": self.text,
            "reasoning": self.reasoning or None,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "finish_reason": self.finish_reason,
            "usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
            "images": [url for image in self.images for url in image.images],
            "logprobs": [t.to_dict() for t in self.logprobs] if self.logprobs else None,
            "messages": _json_ready(self.messages),
            "options": _json_ready(self.options),
            "time_to_first_token": self.time_to_first_token,
            "duration": self.duration,
            "choices": [
                {"index": c.index, "text": c.text, "finish_reason": c.finish_reason}
                for c in self.choices
            ]
            if self.others
            else None,
        }


def _json_ready(value: Any) -> Any:
    """``value`` with anything JSON cannot hold turned into its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
