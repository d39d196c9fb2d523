"""``POST /v1/responses``: OpenAI's Responses API for every model the gateway serves.

Router-served models are relayed to the router's own ``/v1/responses`` (its
events and ids as they come); every other upstream (TGI, Inference Endpoints,
OpenAI-compatible servers of the config) is bridged over hfinfer's chat
(:mod:`hfinfer.protocol.openai_responses`). ``previous_response_id`` is
answered from the gateway's store (in its log database, ``log_db``); such a request is bridged
for every upstream, since the transcript lives here. ``GET`` and ``DELETE
/v1/responses/{id}`` read and forget stored responses.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...client import ChatResponse, ChatStream
from ...errors import InvalidRequestError
from ...protocol.openai_responses import (
    ResponsesRequest,
    input_messages,
    output_messages,
    parse_responses_request,
)
from ...protocol.openai_responses_events import ResponsesEncoder, encode_sse, new_id
from ...protocol.sse import SSEParser
from ...types import Chunk, FinishReason, Reasoning, RelayedResponse, ToolCalls, Usage
from ..edge import EventStream, endpoint, json_response, read_json
from ..errors import EdgeError, failure_of
from ..exchange import Exchange
from ..gateway import Gateway
from ..resolve import Target, first_answer, resolve_model
from ..response_store import ResponseStore, StoredResponse
from .common import call_options

__all__ = ["routes"]

#: The events that end a response (``error`` ends the stream, without a response).
_FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


#: ``HFINFER_RESPONSES_RELAY=0`` bridges router-served models over chat too (read
#: when the app is made), for a router whose Responses API misbehaves.
RELAY_ENV = "HFINFER_RESPONSES_RELAY"


async def create_response(
    request: Request, gateway: Gateway, exchange: Exchange, *, relay: bool = True
) -> Any:
    """Answer one Responses request, whole or as an event stream."""
    data = await read_json(request, gateway.config.max_body_bytes)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model: a model name (a string) is required")
    exchange.model = model
    targets = resolve_model(gateway, model)
    _check_limits(data, gateway)
    store = store_of(gateway)
    history = await _history(store, data.get("previous_response_id"))
    transcript = history.transcript if history is not None else None
    try:
        parsed: ResponsesRequest | None = parse_responses_request(data)
        problem: InvalidRequestError | None = None
    except InvalidRequestError as exc:  # the router may still take it as it is
        parsed, problem = None, exc
    options = call_options(request, gateway)

    async def call(target: Target) -> RelayedResponse | ChatResponse | ChatStream:
        if relay and target.upstream == "router" and history is None:
            return await target.client.relay_responses({**data, "model": target.model}, **options)
        if parsed is None:
            raise problem or InvalidRequestError("the request could not be read")
        messages = parsed.chat_messages(transcript)
        chat: Any = target.client.chat
        return await chat(target.model, messages, stream=parsed.stream, **parsed.options, **options)

    answer, target = await first_answer(targets, call)
    exchange.upstream = target.upstream
    if isinstance(answer, RelayedResponse):
        return await _relayed(answer, data, gateway, exchange, store)
    assert parsed is not None
    return await _bridged(
        answer, parsed, _Saver(store, parsed, transcript or []), gateway, exchange
    )


async def _bridged(
    answer: ChatResponse | ChatStream,
    parsed: ResponsesRequest,
    saver: _Saver,
    gateway: Gateway,
    exchange: Exchange,
) -> Any:
    """A chat answer as the whole ``response`` object, or as a stream of its events."""
    encoder = ResponsesEncoder(parsed.model, parsed.echo, response_id=new_id("resp"))
    if isinstance(answer, ChatResponse):
        encoder.start()
        for chunk in _chunks_of(answer):
            encoder.feed(chunk)
        encoder.finish()
        _note_usage(exchange, answer.usage)
        await saver.save(encoder.response)
        return json_response(encoder.response)
    exchange.first_token()  # the stream holds its first chunk already
    return EventStream(_bridged_events(answer, encoder, exchange, saver), exchange, gateway.record)


def store_of(gateway: Gateway) -> ResponseStore | None:
    """The gateway's response store: in its log database, when it has one."""
    path = gateway.log_db_path
    return None if path is None else _STORES.setdefault(path, ResponseStore(path))


_STORES: dict[str, ResponseStore] = {}


async def _history(store: ResponseStore | None, previous: Any) -> StoredResponse | None:
    if previous is None:
        return None
    if not isinstance(previous, str) or not previous:
        raise InvalidRequestError("previous_response_id: expected a response id (a string)")
    if store is None:
        raise EdgeError(
            400,
            "previous_response_id needs the gateway's response store, and this gateway has "
            'none: give it a log database (log_db = "FILE" in the config file\'s [server] '
            "table), or send the whole conversation "
            "as input items (with store: false).",
            code="response_store_disabled",
            param="previous_response_id",
        )
    stored = await store.load(previous)
    if stored is None:
        raise EdgeError(
            400,
            f"No stored response {previous!r}: it was never stored here (store: false), or it "
            "expired. Send the whole conversation as input items instead.",
            code="previous_response_not_found",
            param="previous_response_id",
        )
    return stored


def _check_limits(data: dict[str, Any], gateway: Gateway) -> None:
    """The gateway's bound on output tokens, for relayed and bridged requests alike."""
    wanted, limit = data.get("max_output_tokens"), gateway.config.max_tokens
    if isinstance(wanted, int) and limit and wanted > limit:
        raise EdgeError(400, f"max_output_tokens is over this gateway's limit of {limit}.",
                        code="max_tokens_too_large", param="max_output_tokens")  # fmt: skip


def _chunks_of(answer: ChatResponse) -> list[Chunk]:
    """A whole chat answer as the stream it was: reasoning, text, tool calls, the end."""
    chunks: list[Chunk] = []
    if answer.reasoning:
        chunks.append(Reasoning(answer.reasoning))
    chunks.append(answer.text)
    if answer.tool_calls:
        chunks.append(ToolCalls(answer.tool_calls))
    if answer.usage is not None:
        chunks.append(answer.usage)
    if answer.finish_reason:
        chunks.append(FinishReason(answer.finish_reason))
    return chunks


def _note_usage(exchange: Exchange, usage: Usage | None) -> None:
    if usage is not None:
        exchange.prompt_tokens = usage.prompt_tokens
        exchange.completion_tokens = usage.completion_tokens


def _failure_code(status: int) -> str:
    """OpenAI's ``response.error.code`` for a failure of that HTTP status."""
    return {429: "rate_limit_exceeded", 400: "invalid_prompt", 422: "invalid_prompt"}.get(
        status, "server_error"
    )


class _Saver:
    """Keeps a finished response for a later ``previous_response_id``, when asked to."""

    def __init__(self, store: ResponseStore | None, parsed: ResponsesRequest, history: list[Any]):
        self.store = store if parsed.store else None
        self.transcript = [*history, *parsed.messages]

    async def save(self, response: dict[str, Any]) -> None:
        if self.store is None or response.get("status") not in ("completed", "incomplete"):
            return
        transcript = [*self.transcript, *output_messages(response.get("output") or [])]
        await self.store.save(response["id"], transcript, response)


async def _bridged_events(
    stream: ChatStream, encoder: ResponsesEncoder, exchange: Exchange, saver: _Saver
) -> AsyncIterator[bytes]:
    """The chat stream as Responses events, one write per chunk; a failure midway ends
    the stream with ``response.failed`` (what was streamed stays delivered)."""
    yield b"".join(encode_sse(event) for event in encoder.start())
    try:
        async with stream:
            async for chunk in stream:
                events = encoder.feed(chunk)
                if events:
                    yield b"".join(encode_sse(event) for event in events)
    except Exception as exc:
        failure = failure_of(exc)
        exchange.status, exchange.error_code = failure.status, failure.code or "upstream_error"
        message = failure.body["error"]["message"]
        yield b"".join(encode_sse(e) for e in encoder.fail(message, _failure_code(failure.status)))
        return
    finally:
        _note_usage(exchange, stream.response.usage)
    yield b"".join(encode_sse(event) for event in encoder.finish())
    await saver.save(encoder.response)


async def _relayed(
    answer: RelayedResponse,
    data: dict[str, Any],
    gateway: Gateway,
    exchange: Exchange,
    store: ResponseStore | None,
) -> Any:
    headers = {"x-request-id": answer.request_id} if answer.request_id else {}
    if answer.request_id:
        exchange.request_id = answer.request_id
    keep = store if data.get("store", True) is not False else None
    if answer.chunks is None:
        body = answer.body or b""
        with contextlib.suppress(orjson.JSONDecodeError):
            whole = orjson.loads(body)
            if isinstance(whole, dict):
                _note_relayed_usage(exchange, whole)
                await _keep_relayed(keep, data, whole)
        return Response(body, answer.status, headers, media_type=answer.content_type or None)
    exchange.first_token()
    events = _relayed_events(answer, exchange, keep, data)
    return EventStream(events, exchange, gateway.record, headers)


async def _keep_relayed(store: ResponseStore | None, data: dict[str, Any], response: Any) -> None:
    """A relayed response goes into the store too, so a later request can continue it."""
    if store is None or not isinstance(response, dict) or "id" not in response:
        return
    if response.get("status") not in ("completed", "incomplete"):
        return
    try:
        transcript = input_messages(data.get("input"))
    except InvalidRequestError:  # input only the router understands: nothing to continue from
        return
    transcript += output_messages(response.get("output") or [])
    await store.save(response["id"], transcript, response)


async def _relayed_events(
    answer: RelayedResponse, exchange: Exchange, store: ResponseStore | None, data: dict[str, Any]
) -> AsyncIterator[bytes]:
    """The router's events as they come; read along for the last sequence number (a
    failure midway is one ``error`` event after it) and the final response (to store)."""
    assert answer.chunks is not None
    parser, last = SSEParser(), b""
    try:
        async for piece in answer.chunks:
            payloads = parser.feed(piece)
            if payloads:
                last = payloads[-1]
            yield piece
    except Exception as exc:
        failure = failure_of(exc)
        exchange.status, exchange.error_code = failure.status, failure.code or "upstream_error"
        yield encode_sse(_error_event(failure.body["error"]["message"], failure.status, last))
        return
    finally:
        await answer.aclose()
    final = _final_response(last)
    if final is None:
        # Never a silently cut answer: a stream that stopped short ends with an error event.
        exchange.status, exchange.error_code = 502, "upstream_stream_cut"
        message = "The router's event stream ended before the response was complete."
        yield encode_sse(_error_event(message, 502, last))
        return
    _note_relayed_usage(exchange, final)
    await _keep_relayed(store, data, final)


def _final_response(payload: bytes) -> dict[str, Any] | None:
    """The ``response`` of a last event that ends a response (completed, incomplete,
    failed), ``{}`` for an ``error`` event, ``None`` when the stream stopped short."""
    try:
        event = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("type") == "error":
        return {}
    response = event.get("response")
    return response if event.get("type") in _FINAL_EVENTS and isinstance(response, dict) else None


def _note_relayed_usage(exchange: Exchange, response: dict[str, Any]) -> None:
    usage = response.get("usage")
    if isinstance(usage, dict):
        exchange.prompt_tokens = usage.get("input_tokens")
        exchange.completion_tokens = usage.get("output_tokens")


def _error_event(message: str, status: int, last: bytes) -> dict[str, Any]:
    sequence = 0
    with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
        sequence = int(orjson.loads(last).get("sequence_number", -1)) + 1
    return {"type": "error", "sequence_number": sequence, "code": _failure_code(status),
            "message": message, "param": None}  # fmt: skip


async def get_response(request: Request, gateway: Gateway, exchange: Exchange) -> Response:
    """``GET /v1/responses/{id}``: a stored response."""
    stored = await _stored_or_404(request, gateway)
    return json_response(stored.response)


async def delete_response(request: Request, gateway: Gateway, exchange: Exchange) -> Response:
    """``DELETE /v1/responses/{id}``: forget a stored response."""
    response_id = request.path_params["response_id"]
    await _stored_or_404(request, gateway)
    store = store_of(gateway)
    assert store is not None
    await store.delete(response_id)
    return json_response({"id": response_id, "object": "response", "deleted": True})


async def _stored_or_404(request: Request, gateway: Gateway) -> Any:
    response_id = request.path_params["response_id"]
    store = store_of(gateway)
    stored = await store.load(response_id) if store is not None else None
    if stored is None:
        where = "" if store is not None else " (this gateway keeps none: it has no log_db)"
        raise EdgeError(404, f"No stored response {response_id!r}{where}.",
                        code="response_not_found", param="response_id")  # fmt: skip
    return stored


def routes() -> list[BaseRoute]:
    """The Responses routes."""
    relay = os.environ.get(RELAY_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    create = functools.partial(create_response, relay=relay)
    return [
        Route("/v1/responses", endpoint("responses", create), methods=["POST"]),
        Route("/v1/responses/{response_id}", endpoint("responses", get_response), methods=["GET"]),
        Route(
            "/v1/responses/{response_id}",
            endpoint("responses", delete_response),
            methods=["DELETE"],
        ),
    ]
