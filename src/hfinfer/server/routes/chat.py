"""``POST /v1/chat/completions``: OpenAI's chat API over hfinfer's client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ...client import ChatResponse, ChatStream
from ...protocol.openai_wire import (
    DONE_EVENT,
    ChatRequest,
    ChunkEncoder,
    chat_completion,
    parse_chat_request,
)
from ...types import ChoiceChunk, FinishReason, Logprobs, Reasoning, ToolCalls, Usage
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
from ..resolve import start_chat
from .common import call_options, completion_stamp, note_answer, note_request, note_tokens

__all__ = ["routes"]


async def chat_completions(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """Answer one chat request, whole or as an event stream."""
    config = gateway.config
    data = await read_json(request, config.max_body_bytes)
    chat = parse_chat_request(data, max_tokens=config.max_tokens, max_n=config.max_n)
    note_request(exchange, gateway, chat.model, chat.messages)
    options = chat.client_options(drop_params=config.drop_params)
    options.update(call_options(request, gateway))
    answer, target = await unless_caller_leaves(
        request, start_chat(gateway, chat.model, chat.messages, stream=chat.stream, **options)
    )
    exchange.upstream = target.upstream
    completion_id, created = completion_stamp(exchange, "chatcmpl-")
    if isinstance(answer, ChatResponse):
        note_answer(exchange, answer, config.keeps_exchanges)
        body = chat_completion(
            completion_id, chat.model, created, text=answer.text, reasoning=answer.reasoning,
            tool_calls=answer.tool_calls, finish_reason=answer.finish_reason, usage=answer.usage,
            others=answer.choices[1:], logprobs=answer.logprobs if chat.logprobs else None,
        )  # fmt: skip
        return json_response(body)
    note_answer(exchange, answer.response, False)
    exchange.first_token()  # the stream holds its first chunk already
    encoder = ChunkEncoder(completion_id, chat.model, created)
    events = chat_events(answer, encoder, chat, exchange, config.keeps_exchanges)
    return EventStream(events, exchange, gateway.record)


async def chat_events(
    stream: ChatStream,
    encoder: ChunkEncoder,
    chat: ChatRequest,
    exchange: Exchange,
    log_reply: bool,
) -> AsyncIterator[bytes]:
    """The stream's chunks as ``chat.completion.chunk`` events, ending with the
    finish event, the usage event when asked, and ``[DONE]``; a failure midway
    is one error event instead of the end."""
    content, usage, finish, sent = encoder.content, None, None, 0
    logprobs = chat.logprobs  # written only when the caller asked for them
    others: dict[int, ChunkEncoder] = {}
    try:
        async with stream:
            async for chunk in stream:
                if type(chunk) is str:
                    sent += 1
                    yield content(chunk)
                elif isinstance(chunk, Reasoning):
                    if chunk.token:
                        yield encoder.reasoning(chunk.token)
                elif isinstance(chunk, ToolCalls):
                    yield encoder.tool_calls(chunk.calls)
                elif isinstance(chunk, Usage):
                    usage = chunk
                elif isinstance(chunk, FinishReason):
                    finish = chunk.reason
                elif isinstance(chunk, ChoiceChunk):
                    event = other_choice(encoder, others, chunk)
                    if event:
                        yield event
                elif isinstance(chunk, Logprobs) and logprobs:
                    yield encoder.logprobs(chunk.content)
    except Exception as exc:
        yield stream_error(exc, exchange)
        return
    finally:
        note_tokens(exchange, usage, sent)
        if log_reply:
            exchange.reply = stream.response.text
    tail = encoder.finish(finish)
    if chat.include_usage:
        tail += encoder.usage(usage)
    yield tail + DONE_EVENT


def other_choice(
    encoder: ChunkEncoder, others: dict[int, ChunkEncoder], item: ChoiceChunk
) -> bytes | None:
    """The event of a piece of an answer past the first (``n > 1``), or ``None``."""
    choice = others.get(item.index)
    if choice is None:
        choice = others[item.index] = encoder.for_choice(item.index)
    piece = item.chunk
    if isinstance(piece, str):
        return choice.content(piece)
    if isinstance(piece, Reasoning):
        return choice.reasoning(piece.token) if piece.token else None
    if isinstance(piece, ToolCalls):
        return choice.tool_calls(piece.calls)
    return choice.finish(piece.reason)


def routes() -> list[BaseRoute]:
    """The chat routes."""
    return [
        Route("/v1/chat/completions", endpoint("chat", chat_completions), methods=["POST"]),
    ]
