"""``POST /v1/completions``: a raw prompt continued with the text-generation protocol
(for TGI-route models and autocomplete clients); no chat template is applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ...client import ChatResponse, ChatStream
from ...protocol.openai_wire import (
    DONE_EVENT,
    CompletionEncoder,
    parse_completion_request,
    text_completion,
)
from ...types import FinishReason, Usage
from ..edge import (
    EventStream,
    endpoint,
    json_response,
    read_json,
    stream_error,
    unless_caller_leaves,
)
from ..exchange import Exchange
from ..gateway import Gateway
from ..resolve import Target, first_answer, resolve_model
from .common import call_options, completion_stamp, note_answer, note_request, note_tokens

__all__ = ["routes"]


async def completions(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """Answer one completions request, whole or as an event stream."""
    config = gateway.config
    data = await read_json(request, config.max_body_bytes)
    wanted = parse_completion_request(data, max_tokens=config.max_tokens, max_n=1)
    note_request(exchange, gateway, wanted.model, wanted.prompt)
    options = {
        **wanted.client_options(drop_params=config.drop_params),
        **call_options(request, gateway),
    }

    async def call(target: Target) -> ChatResponse | ChatStream:
        complete: Any = target.client.complete  # one call for both overloads
        return await complete(target.model, wanted.prompt, stream=wanted.stream, **options)

    targets = resolve_model(gateway, wanted.model)
    answer, target = await unless_caller_leaves(request, first_answer(targets, call))
    exchange.upstream = target.upstream
    completion_id, created = completion_stamp(exchange, "cmpl-")
    if isinstance(answer, ChatResponse):
        note_answer(exchange, answer, config.keeps_exchanges)
        return json_response(text_completion(
            completion_id, wanted.model, created, text=answer.text,
            finish_reason=answer.finish_reason, usage=answer.usage,
        ))  # fmt: skip
    note_answer(exchange, answer.response, False)
    exchange.first_token()
    encoder = CompletionEncoder(completion_id, wanted.model, created)
    events = completion_events(answer, encoder, wanted.include_usage, exchange)
    return EventStream(events, exchange, gateway.record)


async def completion_events(
    stream: ChatStream, encoder: CompletionEncoder, include_usage: bool, exchange: Exchange
) -> AsyncIterator[bytes]:
    """Text deltas as ``text_completion`` events, then the finish, usage when asked,
    and ``[DONE]``; a failure midway is one error event instead."""
    content, usage, finish, sent = encoder.content, None, None, 0
    try:
        async with stream:
            async for chunk in stream:
                if type(chunk) is str:
                    sent += 1
                    yield content(chunk)
                elif isinstance(chunk, Usage):
                    usage = chunk
                elif isinstance(chunk, FinishReason):
                    finish = chunk.reason
    except Exception as exc:
        yield stream_error(exc, exchange)
        return
    finally:
        note_tokens(exchange, usage, sent)
    tail = encoder.finish(finish)
    if include_usage:
        tail += encoder.usage(usage)
    yield tail + DONE_EVENT


def routes() -> list[BaseRoute]:
    """The completions route."""
    return [Route("/v1/completions", endpoint("completions", completions), methods=["POST"])]
