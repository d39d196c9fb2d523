"""The body of a streamed answer read by hfinfer itself: HTTP/1.1 chunked framing
decoded in the connection's ``data_received``, one future per read, and a
stream-gap watchdog polled a few times per gap.

aiohttp keeps connecting, TLS, proxies, pooling and the response head; once a
``200`` event stream's head is read (see :mod:`hfinfer.http.tap`), its bytes
come here instead of through aiohttp's parser, ``StreamReader`` and per-read
timer, which cost more per event than everything else in the path (issue 13,
``bench/RESULTS.md``). :class:`ChunkedBody` offers the reads the providers use
(``readany``, ``read``, ``at_eof``), so ``response.content`` is swapped for it.

Malformed framing is an error at once (:class:`ChunkedFramingError`), never a
wait; a server that stops sending is cut by the watchdog
(:class:`StreamGapTimeout`) between ``gap`` and 1.25 × ``gap`` after its last read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

__all__ = ["ChunkedBody", "ChunkedFramingError", "ReaderWatch", "StreamGapTimeout"]

_HEX_DIGITS = b"0123456789abcdefABCDEF"
#: A chunk-size line (with extensions) or a trailer section longer than this is not HTTP.
MAX_LINE = 4096
MAX_TRAILERS = 16 * 1024
#: Unread bytes past this pause the socket until the reader catches up (as aiohttp's
#: StreamReader does at twice its 64 KiB limit).
HIGH_WATER = 256 * 1024

# Parser states.
_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedFramingError(aiohttp.ClientPayloadError):
    """The server broke HTTP/1.1 chunked framing mid-stream."""


class StreamGapTimeout(aiohttp.SocketTimeoutError):
    """Nothing arrived on a stream for its stream-gap limit."""


#: Chunk sizes seen, by their hex digits: events of a stream come in few sizes, and a
#: lookup costs far less per read than checking and converting the digits again.
_SIZES: dict[bytes, int] = {}
_MAX_SIZES = 1024


def _plain_size(digits: bytes) -> int | None:
    """The size written as plain hex digits (no sign, space, ``0x`` or extension),
    else ``None``: the general path then reads (or refuses) the line."""
    size = _SIZES.get(digits)
    if size is None:
        if not digits or len(digits) > 16 or digits.translate(None, _HEX_DIGITS):
            return None
        size = int(digits, 16)
        if len(_SIZES) < _MAX_SIZES:
            _SIZES[digits] = size
    return size


def _chunk_size(line: bytes) -> int:
    """The size of a chunk-size line (without its line end); extensions ignored."""
    semi = line.find(b";")
    digits = (line if semi < 0 else line[:semi]).rstrip(b" \t")
    if not digits or len(digits) > 16 or digits.translate(None, _HEX_DIGITS):
        raise ChunkedFramingError(f"bad chunk size line {line[:40]!r}")
    return int(digits, 16)


class ChunkedBody:
    """A chunked body decoded as it arrives; see the module docstring.

    It is the connection's protocol while it reads (``data_received`` is
    :meth:`feed`, one call per read); the other protocol callbacks go on to
    ``peer``, aiohttp's protocol of the connection. ``on_end(clean)`` runs once the
    last chunk and trailers arrived (``clean``: nothing came after them);
    ``on_error()`` once the body failed, so the connection is dropped.
    """

    __slots__ = (
        "_active",
        "_buffer",
        "_eof",
        "_error",
        "_gap",
        "_loop",
        "_on_end",
        "_on_error",
        "_paused",
        "_peer",
        "_pending",
        "_pending_size",
        "_quiet_since",
        "_remaining",
        "_state",
        "_transport",
        "_waiter",
        "_watchdog",
        "received",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        gap: float | None,
        peer: Any,
        on_end: Callable[[bool], None],
        on_error: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._peer = peer
        self._transport = transport
        self._on_end = on_end
        self._on_error = on_error
        self._state = _SIZE
        self._buffer = b""
        self._remaining = 0
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._waiter: asyncio.Future[bytes] | None = None
        self._eof = False
        self._error: BaseException | None = None
        self._paused = False
        #: Payload bytes decoded so far.
        self.received = 0
        self._gap = gap
        self._active = False
        self._quiet_since = loop.time()
        self._watchdog: asyncio.TimerHandle | None = None
        if gap:
            self._watchdog = loop.call_later(gap / 4, self._check_gap)

    # -- the connection's side ------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the socket."""
        self._active = True
        if self._state == _SIZE and not self._buffer:
            # The common case: a read holding exactly one whole chunk, its size plain hex.
            line_end = data.find(b"\r\n", 0, 18)
            if line_end > 0:
                size = _plain_size(data[:line_end])
                if size:
                    end = line_end + 2 + size
                    if len(data) == end + 2 and data[end:] == b"\r\n":
                        self._deliver(data[line_end + 2 : end])
                        return
        try:
            self._parse(data)
        except ChunkedFramingError as exc:
            self._fail(exc)

    def _parse(self, data: bytes) -> None:
        out: list[bytes] = []
        try:
            pos = self._walk(data, out)
        finally:
            if out:  # what came before a framing error is delivered first
                self._deliver(out[0] if len(out) == 1 else b"".join(out))
        if self._state == _DONE:
            self._end(clean=pos >= len(data))

    def _walk(self, data: bytes, out: list[bytes]) -> int:
        """Decode ``data`` into ``out``; the position where decoding stopped."""
        pos, end = 0, len(data)
        while pos < end and self._state != _DONE:
            state = self._state
            if state == _SIZE and not self._buffer:
                # A whole chunk from here, its size plain hex: no line buffering.
                line_end = data.find(b"\r\n", pos, pos + 18)
                if line_end > pos:
                    size = _plain_size(data[pos:line_end])
                    if size:
                        stop = line_end + 2 + size
                        if data[stop : stop + 2] == b"\r\n":
                            out.append(data[line_end + 2 : stop])
                            pos = stop + 2
                            continue
                pos = self._line(data, pos)
            elif state == _DATA:
                take = min(self._remaining, end - pos)
                out.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _DATA_END
            elif state == _DATA_END:
                need = 2 - len(self._buffer)
                self._buffer += data[pos : pos + need]
                pos += need
                if len(self._buffer) == 2:
                    if self._buffer != b"\r\n":
                        raise ChunkedFramingError("a chunk did not end with CRLF")
                    self._buffer = b""
                    self._state = _SIZE
            else:
                pos = self._line(data, pos)
        return pos

    def _line(self, data: bytes, pos: int) -> int:
        """Consume a chunk-size or trailer line from ``pos``; the new position."""
        limit = MAX_LINE if self._state == _SIZE else MAX_TRAILERS
        newline = data.find(b"\n", pos)
        if newline < 0:
            self._buffer += data[pos:]
            if len(self._buffer) > limit:
                raise ChunkedFramingError(f"a line of {len(self._buffer)} bytes in the framing")
            return len(data)
        line = self._buffer + data[pos:newline]
        self._buffer = b""
        if line.endswith(b"\r"):
            line = line[:-1]
        if self._state == _TRAILER:
            if not line:
                self._state = _DONE
            return newline + 1
        size = _chunk_size(line)
        if size:
            self._remaining = size
            self._state = _DATA
        else:
            self._state = _TRAILER
        return newline + 1

    def _deliver(self, payload: bytes) -> None:
        self.received += len(payload)
        waiter = self._waiter
        if waiter is not None and not self._pending:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(payload)
                return
        self._pending.append(payload)
        self._pending_size += len(payload)
        if self._pending_size > HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def _end(self, clean: bool) -> None:
        self._stop_watchdog()
        self._eof = True
        self._wake()
        self._on_end(clean)

    def _fail(self, error: BaseException) -> None:
        if self._error is not None or self._eof:
            return
        self._stop_watchdog()
        self._state = _DONE
        self._error = error
        self._wake()
        self._on_error()

    def _wake(self) -> None:
        """An empty read (the end) or the error for a reader waiting on nothing."""
        waiter = self._waiter
        if waiter is None or self._pending:
            return
        self._waiter = None
        if waiter.done():
            return
        if self._error is not None:
            waiter.set_exception(self._error)
        else:
            waiter.set_result(b"")

    data_received = feed

    def connection_lost(self, exc: BaseException | None) -> None:
        """The connection closed (before the last chunk, or the body would be done)."""
        if not self._eof:
            reason = f": {exc}" if exc else ""
            self._fail(
                aiohttp.ClientPayloadError(
                    f"the connection closed after {self.received} bytes of the body{reason}"
                )
            )
        self._peer.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self._peer.eof_received()

    def pause_writing(self) -> None:
        self._peer.pause_writing()

    def resume_writing(self) -> None:
        self._peer.resume_writing()

    # -- the stream-gap watchdog ----------------------------------------------

    def _check_gap(self) -> None:
        gap = self._gap
        assert gap is not None
        now = self._loop.time()
        if self._active or self._paused:
            # Bytes came (or we stopped reading ourselves): the quiet starts now.
            self._active = False
            self._quiet_since = now
        elif now - self._quiet_since >= gap:
            self._watchdog = None
            self._fail(StreamGapTimeout(f"nothing arrived for {gap} s"))
            return
        self._watchdog = self._loop.call_later(gap / 4, self._check_gap)

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    # -- the reader's side (what aiohttp's StreamReader offers the providers) --

    async def readany(self) -> bytes:
        """The bytes decoded since the last read, waiting for some; ``b""`` at the end."""
        if self._pending:
            return self._take()
        if self._error is not None:
            raise self._error
        if self._eof:
            return b""
        waiter = self._waiter = self._loop.create_future()
        return await waiter

    def _take(self) -> bytes:
        pending = self._pending
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        self._pending_size = 0
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        return data

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all of the rest when ``n < 0``)."""
        if n < 0:
            parts = []
            while chunk := await self.readany():
                parts.append(chunk)
            return b"".join(parts)
        if not n:
            return b""
        data = await self.readany()
        if len(data) > n:
            self._pending.insert(0, data[n:])
            self._pending_size += len(data) - n
            data = data[:n]
        return data

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Each read's bytes until the end."""
        while chunk := await self.readany():
            yield chunk

    async def readline(self) -> bytes:
        """One line (ending in ``\\n``, or the rest at the end), as aiohttp's reader offers."""
        line = b""
        while True:
            chunk = await self.readany()
            if not chunk:
                return line
            end = chunk.find(b"\n")
            if end >= 0:
                if end + 1 < len(chunk):
                    self._pending.insert(0, chunk[end + 1 :])
                    self._pending_size += len(chunk) - end - 1
                return line + chunk[: end + 1]
            line += chunk

    def __aiter__(self) -> ChunkedBody:
        return self

    async def __anext__(self) -> bytes:
        """``async for line in response.content``, as with aiohttp's reader."""
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    def at_eof(self) -> bool:
        return self._eof and not self._pending

    def is_eof(self) -> bool:
        return self._eof

    def exception(self) -> BaseException | None:
        return self._error

    def set_exception(self, exc: BaseException, exc_cause: BaseException | None = None) -> None:
        """Fail the body (aiohttp calls this when the response is closed)."""
        self._fail(exc)


class ReaderWatch:
    """The same watchdog over aiohttp's own reader, for a body hfinfer does not read
    itself (fixed length, compressed, a caller's session): when the reader's byte
    count stays still for ``gap`` s, it fails with :class:`StreamGapTimeout`."""

    __slots__ = ("_gap", "_handle", "_loop", "_reader", "_seen", "_since")

    def __init__(
        self, reader: aiohttp.StreamReader, gap: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._reader = reader
        self._gap = gap
        self._loop = loop
        self._seen = reader.total_bytes
        self._since = loop.time()
        self._handle: asyncio.TimerHandle | None = loop.call_later(gap / 4, self._check)

    def _check(self) -> None:
        reader, now = self._reader, self._loop.time()
        self._handle = None
        if reader.is_eof() or reader.exception() is not None:
            return
        if reader.total_bytes != self._seen:
            self._seen, self._since = reader.total_bytes, now
        elif now - self._since >= self._gap:
            reader.set_exception(StreamGapTimeout(f"nothing arrived for {self._gap} s"))
            return
        self._handle = self._loop.call_later(self._gap / 4, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
