"""A local server that speaks text-generation-inference's streaming protocol and the
Hub's model-info route, built so that it is not the bottleneck of a client benchmark.

Raw asyncio protocol, HTTP/1.1 keep-alive, response bytes precomputed per token
count. Two modes:

- ``one``: headers and the whole event stream in one write (``Content-Length``);
- ``chunked``: one HTTP chunk per event, each its own ``write`` as TGI sends them
  (``Transfer-Encoding: chunked``), with flow control.

In either mode a path under ``/pace/<ms>`` (``POST /pace/2/models/{id}``) is a
*paced* generation: one HTTP chunk per event, each written ``ms`` milliseconds
after the one before, as a model generating at that speed sends them, so every
event reaches the client in its own read. The first event goes with the head;
the rest keep a random phase within one pace (so that concurrent streams do not
tick in step) on a drift-free schedule. ``--tls-cert``/``--tls-key`` add a
second, TLS listener serving the same routes.

Routes: ``GET /api/models/{id}`` (counted), ``GET /{id}/resolve/main/{file}``
(counted), ``POST /models/{id}``, ``/generate_stream``, ``/generate`` and ``/``
(a generation of ``parameters.max_new_tokens`` tokens), ``GET /_stats`` and
``POST /_reset`` for the harness.

Run: ``python -m bench.server --mode chunked --cpu 0 --sizes 200,40000`` prints
``READY <port> <tls port or 0>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import subprocess
import sys
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path

from bench import workload

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream\r\n"
    b"cache-control: no-cache\r\n"
    b"x-compute-type: cpu\r\n"
)


class Stats:
    def __init__(self) -> None:
        self.hub = Counter()
        self.generations = 0
        self.streams_open = 0
        self.paced_events = 0
        #: Paced events written more than a pace after their time: the server lagged.
        self.late_events = 0

    def as_dict(self) -> dict:
        return {
            "hub_requests": sum(self.hub.values()),
            "metadata_requests": sum(
                n for path, n in self.hub.items() if path.startswith("/api/models/")
            ),
            "hub_paths": dict(self.hub),
            "generations": self.generations,
            "streams_open": self.streams_open,
            "paced_events": self.paced_events,
            "late_events": self.late_events,
            "cpu_seconds": time.process_time(),
        }


STATS = Stats()


@lru_cache(maxsize=64)
def one_write_response(tokens: int) -> bytes:
    body = b"".join(workload.events(tokens))
    return STREAM_HEAD + b"content-length: %d\r\n\r\n" % len(body) + body


@lru_cache(maxsize=64)
def chunked_response(tokens: int) -> tuple[bytes, list[bytes]]:
    framed = [b"%x\r\n%s\r\n" % (len(event), event) for event in workload.events(tokens)]
    framed.append(b"0\r\n\r\n")
    return STREAM_HEAD + b"transfer-encoding: chunked\r\n\r\n", framed


def json_response(status: int, value: object, reason: str = "OK") -> bytes:
    body = json.dumps(value).encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % (status, reason.encode(), len(body))
        + body
    )


class Connection(asyncio.Protocol):
    """One client connection: requests are answered in order, one at a time."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.buffer = b""
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.can_write: asyncio.Event = asyncio.Event()
        self.can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.process()

    def process(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target = lines[0].split(" ")[:2]
            self.answer(method, target.split("?")[0], body)

    def answer(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        write = self.transport.write
        if method == "GET":
            write(self.answer_get(path))
        elif path == "/_reset":
            STATS.__init__()
            write(json_response(200, {"ok": True}))
        else:
            request = json.loads(body or b"{}")
            tokens = int((request.get("parameters") or {}).get("max_new_tokens") or 20)
            STATS.generations += 1
            if path.startswith("/pace/"):
                self.busy = True
                PacedStream(self, tokens, int(path.split("/")[2]) / 1000).start()
            elif not (request.get("stream") or path.endswith("generate_stream")):
                write(json_response(200, [{"generated_text": workload.full_text(tokens)}]))
            elif self.mode == "one":
                write(one_write_response(tokens))
            else:
                self.busy = True
                asyncio.get_running_loop().create_task(self.stream_chunks(tokens))

    def answer_get(self, path: str) -> bytes:
        if path == "/_stats":
            return json_response(200, STATS.as_dict())
        STATS.hub[path] += 1
        if path.startswith("/api/models/"):
            return json_response(200, workload.model_info(path[len("/api/models/") :]))
        if path.endswith("/resolve/main/tokenizer_config.json"):
            return json_response(200, workload.tokenizer_config())
        return json_response(404, {"error": "Entry not found"}, "Not Found")

    async def stream_chunks(self, tokens: int) -> None:
        head, framed = chunked_response(tokens)
        transport = self.transport
        if transport is None:
            return
        transport.write(head)
        wait = self.can_write
        for chunk in framed:
            if not wait.is_set():
                await wait.wait()
                if self.transport is None:
                    return
            transport.write(chunk)
        self.busy = False
        if self.buffer:
            self.process()


class PacedStream:
    """One paced generation on a connection: an event per ``pace`` seconds, each its
    own write, driven by loop timers (no task per stream: the server stays cheap)."""

    def __init__(self, connection: Connection, tokens: int, pace: float) -> None:
        self.connection = connection
        self.head, self.framed = chunked_response(tokens)
        self.pace = pace
        self.index = 0
        self.loop = asyncio.get_running_loop()
        self.start_at = 0.0

    def start(self) -> None:
        transport = self.connection.transport
        assert transport is not None
        STATS.streams_open += 1
        if len(self.framed) == 2:  # a single event: nothing to pace
            transport.write(self.head + self.framed[0] + self.framed[1])
            self.finish()
            return
        transport.write(self.head + self.framed[0])
        self.index = 1
        self.start_at = self.loop.time() + random.uniform(0, self.pace)
        self.schedule()

    def schedule(self) -> None:
        self.loop.call_at(self.start_at + self.index * self.pace, self.tick)

    def tick(self) -> None:
        connection = self.connection
        transport = connection.transport
        if transport is None:
            STATS.streams_open -= 1
            return
        if not connection.can_write.is_set():
            # Flow control: the client is not reading; look again one pace later.
            self.loop.call_later(self.pace, self.tick)
            return
        if self.loop.time() - (self.start_at + self.index * self.pace) > self.pace:
            STATS.late_events += 1
        STATS.paced_events += 1
        last = self.index == len(self.framed) - 2
        chunk = self.framed[self.index]
        transport.write(chunk + self.framed[-1] if last else chunk)
        self.index += 1
        if not last:
            self.schedule()
            return
        self.finish()

    def finish(self) -> None:
        connection = self.connection
        STATS.streams_open -= 1
        connection.busy = False
        if connection.buffer:
            connection.process()


async def serve(args: argparse.Namespace) -> None:
    for size in args.sizes:
        (one_write_response if args.mode == "one" else chunked_response)(size)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(args.mode), args.host, args.port, backlog=4096, reuse_address=True
    )
    port = server.sockets[0].getsockname()[1]
    tls_port = 0
    servers = [server]
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        secure = await loop.create_server(
            lambda: Connection(args.mode),
            args.host,
            0,
            backlog=4096,
            reuse_address=True,
            ssl=context,
        )
        servers.append(secure)
        tls_port = secure.sockets[0].getsockname()[1]
    print(f"READY {port} {tls_port}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def spawn(
    mode: str, sizes: list[int], cpu: int | None = 0, tls: tuple[Path, Path] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start the server in a subprocess (on uvloop, pinned to ``cpu``); ``(process, url)``.
    With ``tls=(cert, key)`` it also listens for TLS: see :func:`tls_url`."""
    command = [sys.executable, "-m", "bench.server", "--mode", mode, "--uvloop"]
    command += ["--sizes", ",".join(map(str, sorted(set(sizes))))]
    if tls is not None:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    process = subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the bench server did not start: {line!r}")
    _, port, tls_port = line.split()
    TLS_PORTS[process.pid] = int(tls_port)
    return process, f"http://127.0.0.1:{int(port)}"


#: The TLS port of each spawned server (by process id), 0 when it has none.
TLS_PORTS: dict[int, int] = {}


def tls_url(process: subprocess.Popen) -> str:
    """The ``https://`` base URL of a server spawned with ``tls=``."""
    return f"https://127.0.0.1:{TLS_PORTS[process.pid]}"


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["one", "chunked"], default="one")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--tls-cert", help="also listen for TLS with this certificate chain")
    parser.add_argument("--tls-key", help="the private key of --tls-cert")
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[],
        help="token counts to precompute at start",
    )
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    started = time.perf_counter()
    run = asyncio.run
    if args.uvloop:
        import uvloop

        run = uvloop.run
    try:
        run(serve(args))
    except KeyboardInterrupt:
        pass
    finally:
        print(f"server ran {time.perf_counter() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
