"""A local server that speaks the Hub's and the inference API's HTTP, byte for byte.

Plain asyncio on 127.0.0.1 and an ephemeral port, so a test controls every
byte: SSE framing, one HTTP chunk per event, a body cut mid-chunk, a reset,
a server that accepts and never answers. Default routes serve model info,
model lists, repo files and generations; ``script()`` queues replies a test
wants for a path, consumed in order before the defaults. Every request is
recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

#: Recorded data the tests replay, kept in the repository (see data/PROVENANCE.md).
DATA = Path(__file__).resolve().parent / "data"
CASSETTES = DATA / "cassettes"

REASONS = {
    200: "OK",
    201: "Created",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    410: "Gone",
    422: "Unprocessable Entity",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    """One scripted answer.

    ``body`` is sent with Content-Length; ``chunks`` as chunked transfer, one
    HTTP chunk each, ``delay`` seconds apart. ``cut_after`` closes the socket
    after that many bytes of the body (mid-chunk when it falls inside one);
    ``reset`` aborts the connection instead of answering; ``hang`` accepts the
    request and never answers; ``delay_headers`` waits before the status line.
    ``wire`` is written as it is instead (head included), one piece per write,
    ``delay`` seconds apart, then the connection is closed unless ``keep_open``.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes] | None = None
    delay: float = 0.0
    delay_headers: float = 0.0
    cut_after: int | None = None
    reset: bool = False
    hang: bool = False
    wire: list[bytes] | None = None
    keep_open: bool = False


def json_reply(data: Any, status: int = 200, **headers: str) -> Reply:
    return Reply(
        status,
        {"content-type": "application/json", **headers},
        json.dumps(data, ensure_ascii=False).encode(),
    )


def sse_events(events: list[Any], *, space: bool = False) -> list[bytes]:
    prefix = b"data: " if space else b"data:"
    return [
        prefix
        + (e if isinstance(e, bytes) else json.dumps(e, ensure_ascii=False).encode())
        + b"\n\n"
        for e in events
    ]


def tgi_events(
    tokens: list[str],
    *,
    special_end: bool = True,
    finish: str | None = "eos_token",
    input_length: int = 7,
) -> list[dict[str, Any]]:
    """The events TGI streams for ``tokens`` (the last carries generated_text and details)."""
    events: list[dict[str, Any]] = []
    pieces = [(t, False) for t in tokens] + ([("</s>", True)] if special_end else [])
    for index, (text, special) in enumerate(pieces, start=1):
        events.append(
            {
                "index": index,
                "token": {"id": 100 + index, "text": text, "logprob": -0.1, "special": special},
                "generated_text": None,
                "details": None,
            }
        )
    last = events[-1]
    last["generated_text"] = "".join(tokens)
    if finish is not None:
        last["details"] = {
            "finish_reason": finish,
            "generated_tokens": len(pieces),
            "seed": None,
            "input_length": input_length,
        }
    return events


def stream_reply(
    events: list[Any], *, per_event_chunks: bool = True, space: bool = False, delay: float = 0.0
) -> Reply:
    frames = sse_events(events, space=space)
    headers = {"content-type": "text/event-stream"}
    if per_event_chunks:
        return Reply(200, headers, chunks=frames, delay=delay)
    return Reply(200, headers, chunks=[b"".join(frames)], delay=delay)


# A tiny valid PNG (1x1, red), for image answers.
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
)


def text_model(
    model_id: str,
    *,
    model_type: str = "llama",
    eos: Any = "<|eot_id|>",
    template: str | None = None,
    author: str | None = None,
    tag: str = "text-generation",
    siblings: list[str] | None = None,
) -> dict[str, Any]:
    tokenizer_config: dict[str, Any] = {"eos_token": eos} if eos is not None else {}
    if template is not None:
        tokenizer_config["chat_template"] = template
    info: dict[str, Any] = {
        "_id": "x",
        "id": model_id,
        "modelId": model_id,
        "author": author or model_id.split("/")[0],
        "pipeline_tag": tag,
        "private": False,
        "gated": False,
        "tags": [tag],
        "library_name": "transformers",
        "config": {"model_type": model_type, "tokenizer_config": tokenizer_config},
    }
    info["siblings"] = [{"rfilename": name} for name in (siblings or ["config.json"])]
    return info


def image_model(model_id: str) -> dict[str, Any]:
    return {
        "_id": "x",
        "id": model_id,
        "modelId": model_id,
        "author": model_id.split("/")[0],
        "pipeline_tag": "text-to-image",
        "tags": ["diffusers"],
        "library_name": "diffusers",
        "siblings": [{"rfilename": "model_index.json"}],
    }


class FakeHF:
    """The Hub and the inference API in one local server (both at ``self.url``)."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Request] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.files: dict[tuple[str, str], str] = {}
        self.model_lists: dict[str, list[dict[str, Any]]] = {}
        self.generations: dict[str, Callable[[Request], Reply]] = {}
        self._scripts: dict[tuple[str, str], list[Reply]] = {}
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- set-up -----------------------------------------------------------------

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for ``method path``, used in order before the defaults."""
        self._scripts.setdefault((method, path), []).extend(replies)

    def add_text_model(
        self, model_id: str, tokens: list[str] | None = None, **info: Any
    ) -> dict[str, Any]:
        self.models[model_id] = text_model(model_id, **info)
        words = tokens or ["Hello", " world", "!"]
        self.generations[model_id] = lambda req: _default_generation(req, words)
        return self.models[model_id]

    def add_image_model(
        self, model_id: str, png: bytes = PNG_1PX, content_type: str = "image/png"
    ) -> None:
        self.models[model_id] = image_model(model_id)
        self.generations[model_id] = lambda req: Reply(200, {"content-type": content_type}, png)

    def count(self, method: str, path_prefix: str) -> int:
        return sum(
            1 for r in self.requests if r.method == method and r.path.startswith(path_prefix)
        )

    def last(self, method: str, path_prefix: str) -> Request:
        matching = [
            r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
        ]
        assert matching, f"no {method} {path_prefix} request was made"
        return matching[-1]

    # -- life -------------------------------------------------------------------

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeHF:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- HTTP -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                reply = self._route(request)
                keep_open = await _write_reply(writer, reply)
                if not keep_open or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _route(self, request: Request) -> Reply:
        queued = self._scripts.get((request.method, request.path))
        if queued:
            return queued.pop(0)
        path = request.path
        if request.method == "GET" and path == "/api/models":
            tag = dict(request.query).get("pipeline_tag", "")
            return json_reply(self.model_lists.get(tag, []))
        if request.method == "GET" and path.startswith("/api/models/"):
            model = path[len("/api/models/") :]
            if model in self.models:
                return json_reply(self.models[model])
            return json_reply(
                {"error": "Repository not found"}, 404, **{"x-error-code": "RepoNotFound"}
            )
        if request.method == "GET" and "/resolve/main/" in path:
            model, _, filename = path[1:].partition("/resolve/main/")
            if (model, filename) in self.files:
                return Reply(
                    200,
                    {"content-type": "text/plain; charset=utf-8"},
                    self.files[(model, filename)].encode(),
                )
            return json_reply(
                {"error": "Entry not found"}, 404, **{"x-error-code": "EntryNotFound"}
            )
        if request.method == "POST" and path.startswith("/models/"):
            model = path[len("/models/") :]
            handler = self.generations.get(model)
            if handler is not None:
                return handler(request)
            return json_reply({"error": f"Model {model} does not exist"}, 404)
        return json_reply({"error": f"no route for {request.method} {path}"}, 404)


def _default_generation(request: Request, words: list[str]) -> Reply:
    payload = request.json()
    if payload.get("stream"):
        return stream_reply(tgi_events(words))
    return json_reply(
        [
            {
                "generated_text": "".join(words),
                "details": {
                    "finish_reason": "eos_token",
                    "generated_tokens": len(words) + 1,
                    "seed": None,
                    "prefill": [],
                    "tokens": [],
                },
            }
        ]
    )


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    split = urlsplit(target)
    return Request(method, unquote(split.path), parse_qsl(split.query), headers, body)


async def _write_reply(writer: asyncio.StreamWriter, reply: Reply) -> bool:
    """Write one reply; False when the connection must not be reused."""
    if reply.hang:
        await asyncio.sleep(3600)
        return False
    if reply.reset:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER 0: close() sends RST instead of FIN.
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
        writer.transport.abort()
        return False
    if reply.wire is not None:
        for piece in reply.wire:
            writer.write(piece)
            await writer.drain()
            if reply.delay:
                await asyncio.sleep(reply.delay)
        return reply.keep_open
    if reply.delay_headers:
        await asyncio.sleep(reply.delay_headers)
    headers = {k.lower(): v for k, v in reply.headers.items()}
    status_line = f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}\r\n"
    if reply.chunks is None:
        headers["content-length"] = str(len(reply.body))
    else:
        headers["transfer-encoding"] = "chunked"
    head = status_line + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    if reply.chunks is None:
        wire = [reply.body]
    else:
        wire = [b"%x\r\n%s\r\n" % (len(c), c) for c in reply.chunks if c] + [b"0\r\n\r\n"]
    writer.write(head.encode("latin-1"))
    sent = 0
    for piece in wire:
        if reply.cut_after is not None and sent + len(piece) > reply.cut_after:
            writer.write(piece[: reply.cut_after - sent])
            await writer.drain()
            writer.transport.abort()
            return False
        writer.write(piece)
        sent += len(piece)
        if reply.delay:
            await writer.drain()
            await asyncio.sleep(reply.delay)
    await writer.drain()
    return True


# -- recorded exchanges ---------------------------------------------------------


class _CassetteLoader(yaml.SafeLoader):
    pass


def _python_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    # Upstream tagged some request bodies as io.BytesIO; the requests are not replayed.
    return None


_CassetteLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_tag)


@dataclass
class Recorded:
    method: str
    uri: str
    request_body: Any
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.uri).path)

    def reply(self, *, per_event_chunks: bool = False) -> Reply:
        """The recorded answer as the server sends it; an event stream either in
        one write or as one HTTP chunk per event (as TGI writes it)."""
        keep = {"content-type", "x-request-id", "retry-after", "x-compute-type"}
        headers = {k: v for k, v in self.headers.items() if k in keep}
        if "event-stream" in headers.get("content-type", ""):
            if per_event_chunks:
                frames = [f + b"\n\n" for f in self.body.split(b"\n\n") if f]
                return Reply(self.status, headers, chunks=frames)
            return Reply(self.status, headers, chunks=[self.body])
        return Reply(self.status, headers, self.body)


def load_cassette(name: str) -> list[Recorded]:
    """The interactions of a recorded huggingface_hub cassette: ``name`` is relative
    to ``tests/data/cassettes/huggingface_hub`` (or to ``tests/data/cassettes``)."""
    path = CASSETTES / "huggingface_hub" / name
    if not path.exists():
        path = CASSETTES / name
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CassetteLoader)
    recorded = []
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        body = response["body"].get("string", b"")
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {k.lower(): v[0] for k, v in (response.get("headers") or {}).items()}
        recorded.append(
            Recorded(
                request["method"],
                request["uri"],
                request.get("body"),
                int(response["status"]["code"]),
                headers,
                body,
            )
        )
    return recorded


@contextlib.contextmanager
def running_in_thread(server: FakeHF) -> Iterator[FakeHF]:
    """Run ``server`` on a loop in a thread, for tests of the blocking API and the CLI
    (their own code runs an event loop of its own)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
