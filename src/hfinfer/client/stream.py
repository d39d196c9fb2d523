"""The chunks of a streamed answer, read once: :class:`ChatStream`, and
:func:`start_answer`, which turns one into what a call returns."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from ..closing import AsyncClosing
from ..http.session import Exchange
from ..types import Chunk, Reasoning
from .answers import ChatResponse

__all__ = ["ChatStream", "start_answer"]


class ChatStream(AsyncClosing):
    """The chunks of a streamed answer; iterate it once.

    Use as ``async with stream:`` (or call :meth:`aclose`) so an abandoned
    stream frees its connection at once. :attr:`response` assembles what was
    read so far; :meth:`collect` reads the rest and returns it.
    """

    def __init__(
        self,
        chunks: AsyncIterator[Chunk],
        response: ChatResponse,
        exchange: Exchange | None = None,
    ) -> None:
        self._chunks = chunks
        self._first: list[Chunk] = []
        self._exchange = exchange
        self._started = time.perf_counter()
        self.response = response

    async def start(self) -> None:
        """Send the request and wait for the first chunk, so that a refused request
        raises here, as OpenAI's client does, rather than at the first iteration."""
        with contextlib.suppress(StopAsyncIteration):  # an empty stream: nothing to hold
            self._first.append(await self._chunks.__anext__())
        exchange = self._exchange
        if exchange is not None:  # the headers are in: the ids are known already
            self.response.request_id = exchange.request_id
            self.response.provider = exchange.provider or self.response.provider

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> Chunk:
        try:
            chunk = self._first.pop() if self._first else await self._chunks.__anext__()
        except StopAsyncIteration:
            self._finish()
            raise
        response = self.response
        if response.time_to_first_token is None and isinstance(chunk, (str, Reasoning)):
            response.time_to_first_token = time.perf_counter() - self._started
        response.add(chunk)
        return chunk

    def _finish(self) -> None:
        """Note what the answer's headers said and how long the call took."""
        response, exchange = self.response, self._exchange
        if response.duration is None:
            response.duration = time.perf_counter() - self._started
        if exchange is not None:
            response.request_id = exchange.request_id or response.request_id
            response.provider = exchange.provider or response.provider

    async def collect(self) -> ChatResponse:
        """Read the stream to its end; the whole response."""
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        """Stop reading and close the connection (safe to call twice)."""
        self._finish()
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def start_answer(result: ChatStream, stream: bool) -> ChatResponse | ChatStream:
    """The whole answer (``stream=False``), or the stream once it has started;
    a stream that fails to start is closed before the error goes on."""
    if not stream:
        async with result:
            return await result.collect()
    try:
        await result.start()
    except BaseException:
        await result.aclose()
        raise
    return result
