"""The HTTP edge the routes share: bounded bodies, JSON and error answers, event
streams that stop the upstream when the caller leaves, and :func:`endpoint`,
which wraps a route with the API-key check, the request id, the error table
and the access log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..protocol.openai_wire import decode_json_body, encode_json, error_event
from .auth import authorize
from .errors import EdgeError, failure_of
from .exchange import Exchange, new_request_id
from .gateway import Gateway

__all__ = [
    "CallerGone",
    "Endpoint",
    "EventStream",
    "endpoint",
    "json_response",
    "read_json",
    "unless_caller_leaves",
]

JSON = "application/json"
T = TypeVar("T")


def json_response(
    body: bytes | Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON answer (``body`` already encoded, or an object to encode), with a fresh
    ``x-request-id`` unless ``headers`` give one (:func:`endpoint` sets the exchange's)."""
    content = body if isinstance(body, bytes) else encode_json(body)
    response = Response(content, status, headers, media_type=JSON)
    response.headers.setdefault("x-request-id", new_request_id())
    return response


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object, refusing bodies over ``limit`` bytes (413)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise _too_large(limit)
        parts.append(part)
    return decode_json_body(b"".join(parts))


def _too_large(limit: int) -> EdgeError:
    return EdgeError(413, f"The request body is over this gateway's limit of {limit} bytes.",
                     code="request_too_large")  # fmt: skip


def error_response(exc: BaseException, exchange: Exchange) -> Response:
    """``exc`` as OpenAI's error answer, noted in ``exchange``."""
    failure = failure_of(exc)
    exchange.status = failure.status
    exchange.error_code = failure.code or failure.body["error"]["type"]
    if failure.request_id:
        exchange.request_id = failure.request_id
    return json_response(failure.body, failure.status, failure.headers)


class EventStream:
    """A ``text/event-stream`` answer written from ``events`` (one write per event).

    While it runs, a watcher waits for the caller to disconnect and then
    cancels the relay at once, which closes the upstream stream (and its
    connection) through the relay's ``async with``. ``on_done`` runs once at
    the end, whatever happened.
    """

    def __init__(
        self,
        events: AsyncIterator[bytes],
        exchange: Exchange,
        on_done: Callable[[Exchange], None],
        headers: dict[str, str] | None = None,
    ) -> None:
        self.events = events
        self.exchange = exchange
        self.on_done = on_done
        self.headers = headers or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]  # fmt: skip
        head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        relay = asyncio.ensure_future(self._relay(send))
        watcher = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((relay, watcher), return_when=asyncio.FIRST_COMPLETED)
            if not relay.done():
                relay.cancel()
                self.exchange.status = 499  # the caller went away (nginx's word for it)
                self.exchange.error_code = "client_disconnected"
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        finally:
            watcher.cancel()
            self.on_done(self.exchange)

    async def _relay(self, send: Send) -> None:
        message: dict[str, Any] = {"type": "http.response.body", "body": b"", "more_body": True}
        events = self.events
        try:
            async for event in events:
                message["body"] = event
                await send(message)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class CallerGone(EdgeError):
    """The caller disconnected before the answer started (nothing is sent back)."""

    def __init__(self) -> None:
        super().__init__(499, "The caller disconnected.", code="client_disconnected")


async def unless_caller_leaves(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result, or :class:`CallerGone` as soon as the caller disconnects,
    with ``work`` cancelled (its upstream request closed): a cold model's retries
    must not go on for a caller who left. Call it once the body has been read."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise CallerGone
    return task.result()


def stream_error(exc: BaseException, exchange: Exchange) -> bytes:
    """A failure after the first byte: one ``data: {"error": ...}`` event."""
    failure = failure_of(exc)
    exchange.status = failure.status
    exchange.error_code = failure.code or failure.body["error"]["type"]
    return error_event(failure.body)


Handler = Callable[[Request, Gateway, Exchange], Awaitable[Response | EventStream]]


class Endpoint:
    """A route's ASGI app: ``handler`` behind the API-key check, with a request id,
    OpenAI-shaped errors and one access-log line (written when a stream ends, for
    streams). An ASGI app rather than a Starlette request function, so nothing
    wraps ``send`` between a stream's events and the server."""

    def __init__(self, route: str, handler: Handler) -> None:
        self.route = route
        self.handler = handler
        self.__name__ = f"{route}_endpoint"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.answer(Request(scope, receive))
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response | EventStream:
        """The response to ``request`` (errors included: this never raises)."""
        gateway: Gateway = request.app.state.gateway
        exchange = Exchange(self.route)
        try:
            authorize(request, gateway.config)
            response = await self.handler(request, gateway, exchange)
        except Exception as exc:
            response = error_response(exc, exchange)
        response.headers["x-request-id"] = exchange.request_id
        if isinstance(response, EventStream):
            return response  # it records the exchange when it ends
        exchange.status = response.status_code
        gateway.record(exchange)
        return response


def endpoint(route: str, handler: Handler) -> Endpoint:
    """The ASGI app of ``handler`` for a ``Route`` (see :class:`Endpoint`)."""
    return Endpoint(route, handler)
