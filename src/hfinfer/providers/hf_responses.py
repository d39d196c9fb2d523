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
from dataclasses import dataclass, replace
from typing import Any

from ..http.session import HttpClient, html_guard
from .hf_router import HuggingFaceRouter, _router_base
from .pooled import CallOptions, call_client, stream_failure

__all__ = ["RelayedResponse", "relay_responses"]


@dataclass
class RelayedResponse:
    """The router's answer: ``body`` (the whole JSON bytes) when not streamed, else
    ``chunks`` (the event stream's bytes as they arrive; iterate once and
    :meth:`aclose`). ``request_id`` is the router's, when it sent one."""

    status: int
    content_type: str
    request_id: str | None
    body: bytes | None = None
    chunks: AsyncGenerator[bytes, None] | None = None

    async def aclose(self) -> None:
        """Close the stream and its connection (safe to call twice)."""
        if self.chunks is not None:
            await self.chunks.aclose()


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
        resolve_base=_router_base,
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
        http.open("POST", url, json=body, stream=stream, model=model) as response,
    ):
        html_guard(response)
        content_type = response.headers.get("content-type", "")
        request_id = response.headers.get("x-request-id")
        if not stream or "event-stream" not in content_type:
            whole = await http.read_body(response)
            yield RelayedResponse(response.status, content_type, request_id, body=whole)
            return
        yield response.status, content_type, request_id
        async for piece in _bytes(http, response.content, url):
            yield piece


async def _bytes(http: HttpClient, content: Any, url: str) -> AsyncIterator[bytes]:
    gap, received = http.settings.timeouts.stream_gap, 0
    while True:
        try:
            piece = await content.readany()
        except Exception as exc:  # the transport's failure, mapped onto hfinfer's errors
            raise stream_failure(exc, url, gap, received, "", "reads") from exc
        if not piece:
            return
        received += 1
        yield piece
