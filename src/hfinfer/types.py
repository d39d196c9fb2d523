"""The stream vocabulary: what a provider yields besides ``str`` answer text.

The names and their ``str()`` follow gpt4free's response types, so code
written for its providers keeps working: printing every chunk of a stream
prints the answer and nothing else, except images, which print as Markdown.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

__all__ = [
    "ChoiceChunk",
    "Chunk",
    "EmbeddingResponse",
    "FinishReason",
    "ImageResponse",
    "Logprobs",
    "Message",
    "Messages",
    "ModelInfo",
    "ProviderMapping",
    "ProviderOffer",
    "Reasoning",
    "RelayedResponse",
    "RenderedPrompt",
    "RouterModel",
    "TokenLogprob",
    "ToolCall",
    "ToolCalls",
    "Usage",
    "content_text",
]


class Message(TypedDict, total=False):
    role: str
    content: Any  # str, or a list of parts such as {"type": "text", "text": ...}
    name: str
    tool_calls: list[dict[str, Any]]
    tool_call_id: str


Messages = list[Message]


def content_text(content: Any) -> str:
    """The text of a message's content: a string as it is, text parts joined by "\\n"."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                texts.append(str(part.get("text", "")))
        return "\n".join(texts)
    return str(content)


@dataclass(frozen=True, slots=True)
class FinishReason:
    """Why generation stopped: ``"stop"`` (end of sequence or a stop word),
    ``"length"`` (the token limit), ``"tool_calls"``, or the server's own word."""

    reason: str

    def __str__(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one generation, when the server reports them."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def __str__(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Reasoning:
    """A piece of the model's reasoning (``<think>`` text or ``reasoning_content``),
    kept apart from the answer. ``status`` carries progress notes, if any."""

    token: str | None = None
    status: str | None = None

    def __str__(self) -> str:
        return self.token or ""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call: ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str
    type: Literal["function"] = "function"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The tool calls of one answer, assembled from their streamed deltas."""

    calls: tuple[ToolCall, ...]

    def __iter__(self) -> Iterator[ToolCall]:
        return iter(self.calls)

    def __len__(self) -> int:
        return len(self.calls)

    def __str__(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One token of the answer and its log probability, as OpenAI defines them:
    ``bytes`` its UTF-8 bytes (when sent), ``top_logprobs`` the likeliest tokens
    at that place (each a ``TokenLogprob`` without top tokens of its own)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top_logprobs: tuple[TokenLogprob, ...] = ()

    def to_dict(self, *, top: bool = True) -> dict[str, Any]:
        """OpenAI's JSON shape (``top=False``: an entry of ``top_logprobs``)."""
        out: dict[str, Any] = {
            "token": self.token,
            "logprob": self.logprob,
            "bytes": None if self.bytes is None else list(self.bytes),
        }
        if top:
            out["top_logprobs"] = [t.to_dict(top=False) for t in self.top_logprobs]
        return out


@dataclass(frozen=True, slots=True)
class Logprobs:
    """Log probabilities of answer tokens (``logprobs=True``), when the server sends
    them; ``content`` holds one :class:`TokenLogprob` per token, in order."""

    content: tuple[TokenLogprob, ...]

    def __iter__(self) -> Iterator[TokenLogprob]:
        return iter(self.content)

    def __len__(self) -> int:
        return len(self.content)

    def __str__(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class ImageResponse:
    """Generated image(s): ``images`` are URLs, often ``data:`` URLs holding the bytes.

    ``alt`` is the prompt. ``str()`` gives Markdown, as gpt4free's type does.
    """

    images: list[str]
    alt: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def __init__(self, images: str | list[str], alt: str = "", options: dict | None = None):
        object.__setattr__(self, "images", [images] if isinstance(images, str) else list(images))
        object.__setattr__(self, "alt", alt or "")
        object.__setattr__(self, "options", dict(options or {}))

    def get_list(self) -> list[str]:
        return list(self.images)

    @property
    def url(self) -> str:
        """The first image's URL."""
        return self.images[0]

    def data(self, index: int = 0) -> tuple[bytes, str]:
        """Decode a ``data:`` URL into (bytes, media type); raises ``ValueError`` otherwise."""
        return decode_data_url(self.images[index])

    def save(self, path: str | Path, index: int = 0) -> Path:
        """Write the image to ``path``; a folder, or a name without an extension, gets
        the extension of the image's media type. Returns the path written."""
        body, media_type = self.data(index)
        target = Path(path)
        extension = mimetypes.guess_extension(media_type) or ".bin"
        extension = {".jpe": ".jpg", ".jpeg": ".jpg"}.get(extension, extension)
        if target.is_dir():
            target = target / f"image-{index}{extension}"
        elif not target.suffix:
            target = target.with_suffix(extension)
        target.write_bytes(body)
        return target

    def __str__(self) -> str:
        alt = self.alt.replace("\n", " ").replace("[", "(").replace("]", ")")
        return "\n".join(f"[![{alt}]({url})]({url})" for url in self.images)

    def __repr__(self) -> str:
        shown = [_short_url(url) for url in self.images]
        return f"ImageResponse(images={shown!r}, alt={self.alt!r})"


@dataclass(frozen=True, slots=True)
class ChoiceChunk:
    """A piece of another answer than the first, when ``n > 1`` answers were asked for.

    The first answer (index 0) streams as usual (``str``, ``Reasoning``...);
    each other one's pieces arrive wrapped in this, with its ``index``
    (``choices[].index`` of OpenAI's protocol), so answers never mix.
    ``str()`` is empty: code that prints every chunk prints the first answer.
    """

    index: int
    chunk: str | Reasoning | ToolCalls | FinishReason

    def __str__(self) -> str:
        return ""


def _short_url(url: str) -> str:
    if url.startswith("data:") and len(url) > 64:
        head, _, payload = url.partition(",")
        return f"{head},...({len(payload)} base64 chars)"
    return url


def decode_data_url(url: str) -> tuple[bytes, str]:
    """Split ``data:<type>;base64,<payload>`` into (bytes, media type)."""
    if not url.startswith("data:"):
        raise ValueError("not a data: URL; download it to save it")
    head, _, payload = url[5:].partition(",")
    media_type = head.split(";", 1)[0] or "application/octet-stream"
    try:
        body = base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"the data: URL holds invalid base64: {exc}") from exc
    return body, media_type


Chunk = (
    str | FinishReason | Usage | Reasoning | ToolCalls | Logprobs | ImageResponse | ChoiceChunk
)


@dataclass(frozen=True, slots=True)
class ProviderOffer:
    """One provider serving a router model: ``status`` (``"live"``...), the
    ``context_length``, prices in USD per million tokens, and what it supports."""

    provider: str
    status: str | None = None
    context_length: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    supports_tools: bool | None = None
    supports_structured_output: bool | None = None

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> ProviderOffer:
        """Read one item of a ``/v1/models`` entry's ``providers`` list."""
        pricing = entry.get("pricing")
        pricing = pricing if isinstance(pricing, dict) else {}
        return cls(
            provider=str(entry.get("provider", "")),
            status=_typed(entry.get("status"), str),
            context_length=_typed(entry.get("context_length"), int),
            input_price=_price(pricing.get("input")),
            output_price=_price(pricing.get("output")),
            supports_tools=_typed(entry.get("supports_tools"), bool),
            supports_structured_output=_typed(entry.get("supports_structured_output"), bool),
        )


@dataclass(frozen=True, slots=True)
class RouterModel:
    """One model of the router's ``/v1/models`` catalogue, with its providers;
    ``raw`` is the entry as the router sent it."""

    id: str
    owned_by: str | None = None
    providers: tuple[ProviderOffer, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> RouterModel:
        """Read one entry of ``GET /v1/models``'s ``data`` list."""
        offers = entry.get("providers")
        offers = offers if isinstance(offers, list) else []
        return cls(
            id=str(entry.get("id", "")),
            owned_by=_typed(entry.get("owned_by"), str),
            providers=tuple(ProviderOffer.from_entry(o) for o in offers if isinstance(o, dict)),
            raw=entry,
        )


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """The exact prompt the text-generation route sends, and what built it
    (``source``: the model's chat template, a prompt family, or the generic
    format); ``model`` is the model it was built for, aliases resolved."""

    text: str
    source: str
    model: str = ""

    def __str__(self) -> str:
        return self.text


def _typed(value: Any, kind: type) -> Any:
    # bool is an int: a count must not be read from True, nor a flag from 1.
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class EmbeddingResponse:
    """Embeddings: ``vectors`` holds one vector per input, in input order; ``model``
    and ``provider`` say who made them; ``usage`` is the tokens read, when reported
    (``prompt_tokens``; summed over the batches a long list was split into)."""

    vectors: list[list[float]]
    model: str = ""
    provider: str | None = None
    usage: Usage | None = None

    def __len__(self) -> int:
        return len(self.vectors)

    def __iter__(self) -> Iterator[list[float]]:
        return iter(self.vectors)

    @property
    def dimensions(self) -> int | None:
        """The length of the vectors (``None`` when there are none)."""
        return len(self.vectors[0]) if self.vectors else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the vectors, model, provider and usage."""
        usage = self.usage
        return {
            "model": self.model,
            "provider": self.provider,
            "dimensions": self.dimensions,
            "usage": None
            if usage is None
            else {"prompt_tokens": usage.prompt_tokens, "total_tokens": usage.total_tokens},
            "vectors": self.vectors,
        }


@dataclass
class RelayedResponse:
    """An answer relayed as bytes (the router's Responses API): ``body`` (the whole
    JSON bytes) when not streamed, else ``chunks`` (the event stream's bytes as
    they arrive; iterate once and :meth:`aclose`). ``request_id`` is the
    upstream's, when it sent one."""

    status: int
    content_type: str
    request_id: str | None
    body: bytes | None = None
    chunks: AsyncGenerator[bytes, None] | None = None

    async def aclose(self) -> None:
        """Close the stream and its connection (safe to call twice)."""
        if self.chunks is not None:
            await self.chunks.aclose()


@dataclass(frozen=True, slots=True)
class ProviderMapping:
    """One provider the Hub routes a model to: for which ``task``, in which
    ``status`` (``"live"``, ``"staging"``...), under which ``provider_id``; and
    whether hfinfer ``speaks`` that provider's task."""

    provider: str
    task: str | None = None
    status: str | None = None
    provider_id: str | None = None
    speaks: bool = False


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the Hub says of a model for inference: its ``pipeline_tag``, the
    ``tasks`` its providers serve and the ``providers`` themselves (in the Hub's
    order); ``raw`` is the Hub's answer."""

    id: str
    pipeline_tag: str | None = None
    providers: tuple[ProviderMapping, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the model's providers serve, each once, in order."""
        return tuple(dict.fromkeys(p.task for p in self.providers if p.task))
