"""The chat exchange with the router (or any OpenAI-compatible server): the
request body built from a call's keywords, one ``POST /v1/chat/completions``,
and its answer read, streamed (server-sent events) or whole, into the typed
chunks of :mod:`hfinfer.types` (``<think>`` text split off as
:class:`~hfinfer.types.Reasoning`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

from ..errors import HFInferenceError, ModelNotSupportedError, StreamError, ValidationError
from ..http.session import Exchange, HttpClient, Response
from ..protocol import openai_chat
from ..protocol.parameters import apply_aliases
from ..protocol.sse import SSEParser
from ..reasoning import ThinkSplitter
from ..types import ChoiceChunk, Chunk
from .pooled import GenerationRequest

__all__ = ["chat_body", "chat_chunks", "splitter_for"]

logger = logging.getLogger(__name__)


def chat_body(model: str, request: GenerationRequest, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The chat request for ``model``: the call's chat parameters and engine knobs, with
    ``extra`` (``extra_body=``) over them; a keyword that is neither is named in a warning."""
    kwargs = request.options
    apply_aliases(kwargs)
    max_tokens = kwargs.pop("max_tokens", request.max_tokens)
    options = {k: kwargs.pop(k) for k in openai_chat.CHAT_PARAMETERS if k in kwargs}
    engine = {
        k: value
        for k in openai_chat.ENGINE_PARAMETERS
        if k in kwargs and (value := kwargs.pop(k)) is not None
    }
    if kwargs:
        logger.warning(
            "not sent (not parameters of the chat protocol): %s; pass extra_body={...} to "
            "send them as they are",
            ", ".join(sorted(kwargs)),
        )
    return openai_chat.build_chat_request(
        model, request.messages, stream=request.stream, max_tokens=max_tokens,
        temperature=request.temperature, extra={**engine, **extra}, seed=request.seed, **options,
    )  # fmt: skip


def splitter_for(body: Mapping[str, Any], start_inside: bool) -> ThinkSplitter:
    """The ``<think>`` splitter for the answers ``body`` asks for: one per answer when
    ``n > 1``. ``start_inside``: the chat template opens ``<think>`` itself."""
    many = isinstance(body.get("n"), int) and body["n"] > 1
    return _ManyAnswers(start_inside) if many else ThinkSplitter(start_inside=start_inside)


def _not_served(exc: ValidationError, model: str) -> HFInferenceError:
    """The router's 400 "not supported by any provider you have enabled", made plain."""
    if "not supported by any provider" not in str(exc):
        return exc
    return ModelNotSupportedError(
        f"The router has no provider you enabled that serves {model} ({exc}). Enable one at "
        "https://huggingface.co/settings/inference-providers, name one with provider=..., or "
        "choose a model from HuggingFaceRouter.get_models().",
        model=model,
        status=exc.status,
        url=exc.url,
        request_id=exc.request_id,
    )


async def chat_chunks(
    http: HttpClient,
    url: str,
    body: dict[str, Any],
    splitter: ThinkSplitter,
    exchange: Exchange | None = None,
) -> AsyncGenerator[Chunk, None]:
    """``POST body`` to ``url`` and yield the answer's chunks as they come (a whole
    answer when the server does not stream); "no provider serves this model" is
    raised as :class:`~hfinfer.errors.ModelNotSupportedError`."""
    stream = bool(body.get("stream"))
    try:
        async with http.open(
            "POST",
            url,
            json=body,
            stream=stream,
            model=body["model"],
            exchange=exchange,
            expect="event-stream",
        ) as response:
            if not stream or "event-stream" not in response.headers.get("content-type", ""):
                pieces, tail = openai_chat.decode_completion(await http.read_json(response))
                for whole in [*splitter.split(pieces), *splitter.flush(), *tail]:
                    yield whole
                return
            async with aclosing(_read_stream(http, response, splitter)) as chunks:
                async for chunk in chunks:
                    yield chunk
    except ValidationError as exc:
        raise _not_served(exc, body["model"]) from exc


async def _read_stream(
    http: HttpClient, response: Response, splitter: ThinkSplitter
) -> AsyncGenerator[Chunk, None]:
    state = openai_chat.ChatChunkDecoder()
    parser = SSEParser()
    read = response.content.readany
    with http.reading(response, lambda: (state.events, splitter.answer), "events"):
        while True:
            data = await read()
            # A read of one whole event (every read at generation speed) needs no split.
            single = parser.single_data(data) if data else None
            try:
                if single is not None:
                    payloads = [single]
                else:
                    payloads = parser.feed(data) if data else parser.close()
            except StreamError as exc:
                raise _with_answer(exc, splitter) from None
            pieces: list[Any] = state.feed(payloads) if payloads else []
            for chunk in splitter.split(pieces) if pieces else ():
                yield chunk
            if state.error is not None:
                raise _with_answer(state.error, splitter)
            if not data:
                break
    for piece in splitter.flush():
        yield piece
    try:
        tail = state.finish()
    except StreamError as exc:
        raise _with_answer(exc, splitter) from None
    for item in tail:
        yield item


class _ManyAnswers(ThinkSplitter):
    """``<think>`` splitting for ``n > 1`` answers: each answer has a splitter of its own
    (the first answer's is this one), so one answer's tags never cut another's."""

    __slots__ = ("_inside_at_start", "_others")

    def __init__(self, start_inside: bool) -> None:
        super().__init__(start_inside=start_inside)
        self._inside_at_start = start_inside
        self._others: dict[int, ThinkSplitter] = {}

    def _splitter(self, index: int) -> ThinkSplitter:
        found = self._others.get(index)
        if found is None:
            found = self._others[index] = ThinkSplitter(start_inside=self._inside_at_start)
        return found

    def split(self, pieces: Any) -> list[Any]:
        out: list[Any] = []
        for piece in super().split(pieces):
            if isinstance(piece, ChoiceChunk) and isinstance(piece.chunk, str):
                index = piece.index
                out.extend(ChoiceChunk(index, p) for p in self._splitter(index).feed(piece.chunk))
            else:
                out.append(piece)
        return out

    def flush(self) -> list[Any]:
        out: list[Any] = list(super().flush())
        for index in sorted(self._others):
            out.extend(ChoiceChunk(index, p) for p in self._others[index].flush())
        return out


def _with_answer(error: StreamError, splitter: ThinkSplitter) -> StreamError:
    # The answer text the caller saw, without the reasoning split off from it.
    error.partial_text = splitter.answer
    return error
