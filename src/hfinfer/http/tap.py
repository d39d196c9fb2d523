"""A thin protocol between a pooled connection and aiohttp's, for one request.

Installed when the connector hands a connection to a request that
:class:`~hfinfer.http.session.HttpClient` sends (:class:`TapConnector`), it passes
the answer's head to aiohttp byte for byte and, knowing where the head ends:

- bounds the time to a *complete* head (``first_byte``): a server sending it
  one byte a second cannot hold a call past the limit (aiohttp's read timer
  restarts on every byte) -> :class:`HeadTimeout`;
- records that the server answered (any byte came back): from then on a
  failure is not retried, since a generation may have run;
- hands the head alone to aiohttp, never the body bytes that came in the same
  read, so a bad first chunk cannot fail ``request()`` itself;
- for a streamed request answered ``2xx`` with a plain chunked body, holds the
  body for :class:`~hfinfer.http.chunked.ChunkedBody` (:meth:`Tap.claim`), and
  gives the connection back to aiohttp, in a clean state, once the last chunk
  arrived. Every other answer goes on to aiohttp unchanged (:meth:`Tap.release`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .chunked import ChunkedBody
from .trace import RequestTrace, trace_requests

__all__ = ["HeadTimeout", "Tap", "TapConnector", "tapped"]

#: A head longer than this is aiohttp's to refuse (its own line and header limits).
MAX_HEAD = 256 * 1024
#: The size of a socket read once a stream's head is in. asyncio asks for 256 KiB a
#: read; glibc may serve that with a fresh mmap and munmap per read, depending on the
#: process's allocation history (python/cpython#85451): 64 KiB stays on the heap.
READ_SIZE = 64 * 1024
#: What aiohttp's parser is given to end a chunked body that hfinfer read itself.
_LAST_CHUNK = b"0\r\n\r\n"


class HeadTimeout(aiohttp.ServerTimeoutError):
    """The answer's head was not complete within the first-byte limit."""


# Tap states.
_HEAD, _HELD, _BODY, _PASS = range(4)


class Tap(asyncio.Protocol):
    """See the module docstring. ``handler`` is aiohttp's protocol of the connection."""

    def __init__(self, handler: Any, transport: asyncio.Transport, trace: RequestTrace) -> None:
        self.handler = handler
        self.transport = transport
        self.trace = trace
        self.state = _HEAD
        self.head = b""
        self.held: list[bytes] = []
        self.body: ChunkedBody | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        if trace.first_byte:
            self._timer = self._loop.call_later(trace.first_byte, self._head_timed_out)
        # Each hop of a redirect has its own tap: what counts is whether the last
        # server answered (one that only redirected did not act on the request).
        trace.tap = self
        trace.answered = False
        transport.set_protocol(self)

    # -- bytes from the socket ----------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.state == _HELD:
            self.held.append(data)
        elif self.state == _HEAD:
            self._head_bytes(data)
        else:  # a byte that raced the switch to the body or back to aiohttp
            (self.body or self.handler).data_received(data)

    def _head_bytes(self, data: bytes) -> None:
        self.trace.answered = True
        seen = len(self.head)
        head = self.head + data
        end = head.find(b"\r\n\r\n", max(0, seen - 3))
        if end < 0:
            if len(head) > MAX_HEAD:
                self._pass()  # aiohttp refuses it by its own limits
            else:
                self.head = head
            self.handler.data_received(data)
            return
        cut = end + 4 - seen
        head, rest = head[: end + 4], data[cut:]
        self.head = b""
        status = head[9:12] if head[:7] == b"HTTP/1." else b""
        if status[:1] == b"1" and status != b"101":
            self.handler.data_received(data[:cut])  # an interim answer: the head follows
            if rest:
                self._head_bytes(rest)
            return
        self._stop_timer()
        hold = self.trace.stream and status[:1] == b"2" and _plain_chunked(head)
        self.handler.data_received(data[:cut])
        if hold:
            self.state = _HELD
            if rest:
                self.held.append(rest)
            return
        self._pass()
        if rest:
            self.handler.data_received(rest)

    def _pass(self) -> None:
        """From now on aiohttp reads the connection alone."""
        self._stop_timer()
        self.state = _PASS
        if self.transport.get_protocol() is self:
            self.transport.set_protocol(self.handler)

    # -- what the request does with a held body -------------------------------------

    @property
    def holding(self) -> bool:
        return self.state == _HELD

    def claim(self, gap: float | None) -> ChunkedBody:
        """Read the held stream with a :class:`ChunkedBody` from now on."""
        handler = self.handler
        # aiohttp's per-read timer: our watchdog measures the gaps instead.
        handler.read_timeout = None
        handler.start_timeout()
        _cap_read_size(self.transport)
        body = ChunkedBody(self._loop, self.transport, gap, handler, self._ended, self._broke)
        self.body = body
        self.state = _BODY
        # The body reads the socket itself from now on: one call per read, not two.
        self.transport.set_protocol(body)  # type: ignore[arg-type]
        held, self.held = self.held, []
        for data in held:
            body.feed(data)
        return body

    def release(self) -> None:
        """Give a held body to aiohttp after all."""
        if self.state != _HELD:
            return
        held, self.held = self.held, []
        self._pass()
        for data in held:
            self.handler.data_received(data)

    def _ended(self, clean: bool) -> None:
        """The last chunk came: aiohttp ends its (empty) view of the body and pools
        the connection, unless bytes came after the body (then it is closed)."""
        self.body = None
        self.state = _PASS
        self.transport.set_protocol(self.handler)
        if not clean:
            self.handler.force_close()
        self.handler.data_received(_LAST_CHUNK)

    def _broke(self) -> None:
        """The body failed (framing, a stall): the connection is not reusable."""
        self._stop_timer()
        self.handler.force_close()
        self.transport.close()

    # -- the rest of the protocol, for aiohttp's handler ---------------------------

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.state != _HEAD:
            return
        self._pass()
        self.handler.set_exception(
            HeadTimeout(f"the answer's head was not complete within {self.trace.first_byte} s")
        )
        self.transport.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_timer()
        self.handler.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()


def _plain_chunked(head: bytes) -> bool:
    """Whether a head announces a chunked body with no content coding (what
    :class:`ChunkedBody` reads; anything else is aiohttp's)."""
    chunked = False
    for line in head.lower().split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip(), value.strip()
        if name == b"transfer-encoding":
            if value != b"chunked":
                return False
            chunked = True
        elif name == b"content-length" or (
            name == b"content-encoding" and value not in (b"", b"identity")
        ):
            return False
    return chunked


def _cap_read_size(transport: asyncio.Transport) -> None:
    """Ask the socket (or the TLS layer) for at most :data:`READ_SIZE` a read; only
    asyncio's own transports have the knob (uvloop reads into a buffer of its own)."""
    target = getattr(transport, "_ssl_protocol", transport)
    if hasattr(type(target), "max_size"):
        setattr(target, "max_size", READ_SIZE)  # noqa: B010  (an instance attribute)


def tapped(connection: Any) -> None:
    """Put a :class:`Tap` on an aiohttp connection if a request of ours is being sent."""
    trace = trace_requests.get()
    if trace is None:
        return
    protocol = connection.protocol
    transport = protocol.transport if protocol is not None else None
    if transport is not None and not transport.is_closing():
        Tap(protocol, transport, trace)


class TapConnector(aiohttp.TCPConnector):
    """aiohttp's connector, with a :class:`Tap` on each connection it hands out."""

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        connection = await super().connect(req, traces, timeout)
        tapped(connection)
        return connection
