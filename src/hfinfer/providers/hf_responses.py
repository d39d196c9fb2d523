"""The router's own Responses API (``POST {router}/v1/responses``), relayed as it is.

The router serves OpenAI's Responses API (beta) for the models it routes; a
gateway that relays it keeps everything the router does there (its event
stream, its ids, hosted features) instead of bridging over chat. The body goes
up unchanged and the answer comes back as bytes: a whole JSON object, or the
event stream piece by piece. Errors before the first byte are hfinfer's usual
ones (from the one status table); a stream that breaks later raises
:class:`~hfinfer.errors.StreamError` (or a stream-gap timeout).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

from ..http.session import HttpClient, Response
from ..types import RelayedResponse
from .hf_router import HuggingFaceRouter
from .pooled import CallOptions, call_client

__all__ = ["RelayedResponse", "relay_responses"]


async def relay_responses(
    router: HuggingFaceRouter,
    body: Mapping[str, Any],
    *,
    api_key: str | None = None,
    bill_to: str | None = None,
) -> RelayedResponse:
    """Send ``body`` to ``{router}/v1/responses`` through the router provider's pool.

    ``api_key`` replaces the provider's token for this call, ``bill_to`` sets
    ``X-HF-Bill-To``. Returns once the answer's head (and for a stream, its
    first bytes) arrived, so a refused request raises here. Raises subclasses
    of :class:`~hfinfer.errors.HFInferenceError`.
    """
    options: dict[str, Any] = {}
    call = CallOptions.collect(
        router,
        options,
        api_base=None,
        api_key=api_key,
        proxy=None,
        timeout=None,
        extra_data=None,
        resolve_base=HuggingFaceRouter._resolve_base,
    )
    if bill_to:
        call.settings = replace(call.settings, bill_to=bill_to)
    url = f"{call.api_base}/v1/responses"
    pieces = _exchange(router, call, url, dict(body))
    try:
        head: Any = await pieces.__anext__()
        if isinstance(head, RelayedResponse):  # a whole answer: nothing more comes
            return head
        status, content_type, request_id = head
        return RelayedResponse(status, content_type, request_id, chunks=pieces)
    except BaseException:
        await pieces.aclose()
        raise


async def _exchange(
    router: HuggingFaceRouter, call: CallOptions, url: str, body: dict[str, Any]
) -> AsyncGenerator[Any, None]:
    """First the head (or the whole answer), then the stream's bytes."""
    stream = bool(body.get("stream"))
    model = str(body.get("model", ""))
    async with (
        call_client(router, call) as http,
        http.open("POST", url, json=body, stream=stream, model=model, expect="json") as response,
    ):
        content_type = response.headers.get("content-type", "")
        request_id = response.headers.get("x-request-id")
        if not stream or "event-stream" not in content_type:
            whole = await http.read_body(response)
            yield RelayedResponse(response.status, content_type, request_id, body=whole)
            return
        yield response.status, content_type, request_id
        async for piece in _bytes(http, response):
            yield piece


async def _bytes(http: HttpClient, response: Response) -> AsyncIterator[bytes]:
    read, received = response.content.readany, [0]
    # The one transport table maps a failure mid-stream (a stream-gap timeout, a
    # connection that breaks) onto hfinfer's errors, with the count of reads kept.
    with http.reading(response, lambda: (received[0], ""), "reads"):
        while True:
            piece = await read()
            if not piece:
                return
            received[0] += 1
            yield piece
