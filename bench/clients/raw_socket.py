"""The limit: an asyncio protocol that sends the request and counts the answer's
bytes, parsing nothing but the headers' end and the body's end. Keep-alive
connections are reused like a pool would, and read 64 KiB at a time. An ``https://``
URL is read over TLS
(the default context: the bench's CA comes from ``SSL_CERT_FILE``)."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from bench import workload
from bench.clients import harness

CHUNKED_END = b"\r\n0\r\n\r\n"
#: The size of each read (``None``: asyncio's own, 256 KiB: ``--variant asyncio-reads``).
READ_SIZE: int | None = 64 * 1024


class RawConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[int] | None = None
        self.first = 0.0
        self.on_first: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # 64 KiB reads, as hfinfer's stream reader asks: asyncio's 256 KiB reads may
        # cost an mmap and munmap each, depending on the process (cpython#85451),
        # which made the limit itself vary by half from one process to the next.
        target = getattr(transport, "_ssl_protocol", transport)
        if READ_SIZE and hasattr(type(target), "max_size"):
            target.max_size = READ_SIZE

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost: {exc}"))

    def send(
        self, request: bytes, on_first: Callable[[], None] | None = None
    ) -> asyncio.Future[int]:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.head = b""
        self.in_body = False
        self.remaining = -1  # -1: chunked
        self.tail = b""
        self.received = 0
        self.first = 0.0
        self.on_first = on_first
        self.transport.write(request)
        return self.done

    def data_received(self, data: bytes) -> None:
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.head[:end].lower()
            data = self.head[end + 4 :]
            self.in_body = True
            if not head.startswith(b"http/1.1 200"):
                self.done.set_exception(RuntimeError(head[:40].decode()))
                return
            marker = head.find(b"content-length:")
            if marker >= 0:
                self.remaining = int(head[marker + 15 :].split(b"\r\n", 1)[0])
        if data and not self.first:
            self.first = time.perf_counter()
            if self.on_first is not None:
                self.on_first()
        self.received += len(data)
        if self.remaining >= 0:
            self.remaining -= len(data)
            if self.remaining <= 0:
                self.done.set_result(self.received)
        else:
            self.tail = (self.tail + data)[-len(CHUNKED_END) :]
            if self.tail == CHUNKED_END:
                self.done.set_result(self.received)


class WakingConnection(RawConnection):
    """The same, waking a waiting task once per read, as any client that hands each
    event to a coroutine must (``--variant wake``): one future per read, nothing parsed."""

    def send(
        self, request: bytes, on_first: Callable[[], None] | None = None
    ) -> asyncio.Future[int]:
        self.waiter: asyncio.Future[None] | None = None
        self.reads = 0
        return super().send(request, on_first)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self.reads += 1
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            self.waiter = None
            waiter.set_result(None)

    async def each_read(self, done: asyncio.Future[int]) -> int:
        """Wake on every read until the body is done (its result, or its error)."""
        loop = asyncio.get_running_loop()
        seen = 0
        while not done.done():
            if self.reads == seen:
                self.waiter = loop.create_future()
                await self.waiter
            seen = self.reads
        return await done


class Client:
    #: The protocol of each connection (``WakingConnection`` for ``--variant wake``).
    connection_class: type[RawConnection] = RawConnection

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.idle: list[RawConnection] = []
        self.path = f"{parts.path.rstrip('/')}/models/{workload.MODEL}"

    def request(self, max_tokens: int) -> bytes:
        body = json.dumps(
            {
                "inputs": harness.PROMPT,
                "parameters": {"max_new_tokens": max_tokens, "details": True},
                "stream": True,
            }
        ).encode()
        return (
            f"POST {self.path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def stream(
        self, max_tokens: int, on_first: Callable[[], None] | None = None
    ) -> tuple[float, int]:
        while self.idle and self.idle[-1].transport is None:
            self.idle.pop()
        if self.idle:
            connection = self.idle.pop()
        else:
            loop = asyncio.get_running_loop()
            _, connection = await loop.create_connection(
                self.connection_class, self.host, self.port, ssl=self.ssl
            )
        try:
            done = connection.send(self.request(max_tokens), on_first)
            if isinstance(connection, WakingConnection):
                await connection.each_read(done)
            else:
                await done
        except asyncio.CancelledError:
            if connection.transport is not None:  # abandoned mid-body: not reusable
                connection.transport.close()
            raise
        self.idle.append(connection)
        # Nothing is parsed: a complete body counts as the expected text.
        return connection.first, len(workload.full_text(max_tokens))

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    client = Client(url)
    try:
        yield client
    finally:
        client.close()


@asynccontextmanager
async def open_default_reads_client(url: str) -> AsyncIterator[Client]:
    """The same with asyncio's 256 KiB reads (as issue 13's numbers were measured)."""
    global READ_SIZE
    READ_SIZE = None
    async with open_client(url) as client:
        yield client


@asynccontextmanager
async def open_waking_client(url: str) -> AsyncIterator[Client]:
    """The same, one task wake-up per read: what no streaming client can do without."""
    client = Client(url)
    client.connection_class = WakingConnection
    try:
        yield client
    finally:
        client.close()


if __name__ == "__main__":
    harness.main(
        "raw socket, bytes only (the limit)",
        open_client,
        variants={"asyncio-reads": open_default_reads_client, "wake": open_waking_client},
    )
