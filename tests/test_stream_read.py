"""The streamed body read by hfinfer itself (``http/tap.py``, ``http/chunked.py``):
the chunked framing as servers really cut it, and servers that break it.

A local server writes exact bytes (``Reply.wire``), head included, so each test
shows one way the wire can look. Every call is bounded (``asyncio.wait_for``), so
a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfinfer import HuggingFaceInference, Timeouts
from hfinfer.errors import HFInferenceError, ResponseError, StreamError, TimeoutError
from hfinfer.http.retry import RetryPolicy
from hfserver import FakeHF, Reply, sse_events, stream_reply, tgi_events

MODEL = "org/m"
GENERATE = "/models/org/m"
USER = [{"role": "user", "content": "Say hello"}]
LIMITS = Timeouts(connect=1.0, first_byte=1.0, stream_gap=1.0, total=2.0)
FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_cap=0.02, max_wait=0.3, max_total=5.0)
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
WORDS = ["Once", " upon", " a", " time"]


class CountingHF(FakeHF):
    """FakeHF that counts TCP connections."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await super()._serve(reader, writer)


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CountingHF]:
    hf = CountingHF()
    await hf.start()
    for name in ("HF_ENDPOINT", "HFINFER_API_BASE", "HF_ROUTER_URL"):
        monkeypatch.setenv(name, hf.url)
    hf.add_text_model(MODEL, tokens=WORDS)
    try:
        yield hf
    finally:
        await hf.stop()


def events() -> list[bytes]:
    """The SSE events of WORDS, as TGI sends them."""
    return sse_events(tgi_events(WORDS))


def chunk(data: bytes, extension: bytes = b"") -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(data), extension, data)


async def run(provider: Any = HuggingFaceInference, **kwargs: Any) -> tuple[str, Any]:
    """The text a stream delivered and the hfinfer error that ended it (or None),
    within 10 s whatever the server does."""
    kwargs.setdefault("timeout", LIMITS)
    kwargs.setdefault("retry", FAST)
    text: list[str] = []

    async def consume() -> None:
        async for piece in provider.create_async_generator(MODEL, USER, **kwargs):
            if isinstance(piece, str):
                text.append(piece)

    try:
        await asyncio.wait_for(consume(), timeout=10)
    except HFInferenceError as exc:
        return "".join(text), exc
    return "".join(text), None


def posts(server: FakeHF) -> int:
    return server.count("POST", GENERATE)


# -- the framing, as servers cut it --------------------------------------------------------


def every_byte_apart() -> list[bytes]:
    wire = HEAD + b"".join(chunk(e) for e in events()) + b"0\r\n\r\n"
    return [wire[i : i + 1] for i in range(len(wire))]


def head_and_all_chunks_in_one_write() -> list[bytes]:
    return [HEAD + b"".join(chunk(e) for e in events()) + b"0\r\n\r\n"]


def extensions_uppercase_hex_and_trailers() -> list[bytes]:
    framed = b"".join(
        b"%X;name=value\r\n%s\r\n" % (len(e), e) if i % 2 else chunk(e)
        for i, e in enumerate(events())
    )
    return [HEAD, framed, b"0\r\nx-trailer: done\r\nx-other: 2\r\n\r\n"]


def events_split_across_chunks() -> list[bytes]:
    body = b"".join(events())
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    return [HEAD, *(chunk(p) for p in pieces), b"0\r\n\r\n"]


def chunk_boundaries_inside_crlf() -> list[bytes]:
    wire = b"".join(chunk(e) for e in events()) + b"0\r\n\r\n"
    # Cut right after each chunk's data, between its CR and LF, and inside size lines.
    cuts = sorted({i for i in range(len(wire)) if wire[i : i + 1] in (b"\r", b"\n")})
    pieces, last = [HEAD], 0
    for cut in cuts[::3]:
        pieces.append(wire[last:cut])
        last = cut
    pieces.append(wire[last:])
    return [p for p in pieces if p]


@pytest.mark.parametrize(
    "wire",
    [
        every_byte_apart,
        head_and_all_chunks_in_one_write,
        extensions_uppercase_hex_and_trailers,
        events_split_across_chunks,
        chunk_boundaries_inside_crlf,
    ],
)
async def test_every_framing_delivers_the_same_text(server: CountingHF, wire: Any) -> None:
    server.script("POST", GENERATE, Reply(wire=wire(), keep_open=True))
    text, error = await run()
    assert error is None and text == "".join(WORDS)


async def test_a_long_stream_with_a_slow_reader_is_read_whole(server: CountingHF) -> None:
    # 1.5 MB written at once; the reader sleeps on the way, so hfinfer stops reading
    # the socket (flow control) and starts again.
    words = [f" w{i:05d}" for i in range(12000)]
    server.script("POST", GENERATE, stream_reply(tgi_events(words), per_event_chunks=True))
    seen: list[str] = []
    async for piece in HuggingFaceInference.create_async_generator(
        MODEL, USER, timeout=LIMITS, retry=FAST
    ):
        if isinstance(piece, str):
            seen.append(piece)
            if len(seen) == 1:
                await asyncio.sleep(0.3)
    assert "".join(seen) == "".join(words).lstrip()


async def test_streams_on_an_instance_share_one_connection(server: CountingHF) -> None:
    async with HuggingFaceInference(timeout=LIMITS) as provider:
        for _ in range(3):
            text, error = await run(provider, retry=None)
            assert error is None and text == "".join(WORDS)
    assert server.connections == 1 and posts(server) == 3


async def test_bytes_after_the_body_retire_the_connection(server: CountingHF) -> None:
    wire = head_and_all_chunks_in_one_write()
    server.script("POST", GENERATE, Reply(wire=[wire[0] + b"HTTP/1.1 200 OK\r\n"], keep_open=True))
    async with HuggingFaceInference(timeout=LIMITS) as provider:
        first, error = await run(provider, retry=None)
        assert error is None and first == "".join(WORDS)
        second, error = await run(provider, retry=None)
        assert error is None and second == "".join(WORDS)
    assert server.connections == 2  # the first connection was not reused


# -- servers that break the framing -----------------------------------------------------------


async def test_a_malformed_chunk_size_mid_stream_keeps_the_text(server: CountingHF) -> None:
    first, second = events()[:2]
    wire = [HEAD + chunk(first), chunk(second), b"zz\r\nnot a chunk\r\n"]
    server.script("POST", GENERATE, Reply(wire=wire, keep_open=True, delay=0.05))
    started = time.monotonic()
    text, error = await run()
    assert isinstance(error, StreamError), error
    assert text == "Once upon" == error.partial_text
    assert "chunk" in str(error)
    assert time.monotonic() - started < 1.0  # at once, not after the gap
    assert posts(server) == 1


async def test_a_malformed_chunk_size_through_a_callers_session_is_bounded(
    server: CountingHF,
) -> None:
    # A caller's own aiohttp session: aiohttp reads the body, and its reader waits
    # forever on this; hfinfer's watchdog still ends the call within the gap.
    first, second = events()[:2]
    wire = [HEAD + chunk(first), chunk(second), b"zz\r\nnot a chunk\r\n"]
    server.script("POST", GENERATE, Reply(wire=wire, keep_open=True, delay=0.05))
    limits = Timeouts(connect=1.0, first_byte=1.0, stream_gap=0.3, total=2.0)
    from hfinfer.config import ClientSettings
    from hfinfer.http.session import HttpClient

    async with aiohttp.ClientSession() as session:
        http = HttpClient(ClientSettings.resolve(timeout=limits), session=session)
        from hfinfer.providers import tgi_text

        text: list[str] = []

        async def consume() -> None:
            async for piece in tgi_text.generate_text(
                http, f"{server.url}{GENERATE}", MODEL, "hi", {}, True, False
            ):
                if isinstance(piece, str):
                    text.append(piece)

        started = time.monotonic()
        with pytest.raises((StreamError, TimeoutError)) as caught:
            await asyncio.wait_for(consume(), timeout=10)
    assert "".join(text) == "Once upon" == caught.value.partial_text
    assert time.monotonic() - started < 2.0


async def test_a_chunk_without_its_crlf(server: CountingHF) -> None:
    first = events()[0]
    wire = [HEAD + chunk(first) + b"5\r\nabcdeXX3\r\nabc\r\n0\r\n\r\n"]
    server.script("POST", GENERATE, Reply(wire=wire, keep_open=True))
    text, error = await run()
    assert isinstance(error, StreamError) and text == "Once" == error.partial_text


async def test_a_head_and_a_bad_first_chunk_in_one_read_are_not_sent_again(
    server: CountingHF,
) -> None:
    server.script("POST", GENERATE, Reply(wire=[HEAD + b"zz\r\n"], keep_open=True))
    text, error = await run()
    assert isinstance(error, StreamError), error  # the server answered: not retried
    assert "HTTP 400" not in str(error)
    assert text == ""
    assert posts(server) == 1


async def test_a_malformed_head_is_not_sent_again(server: CountingHF) -> None:
    bad = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nbroken header\r\n\r\n"
    server.script("POST", GENERATE, Reply(wire=[bad], keep_open=True))
    _, error = await run()
    assert isinstance(error, ResponseError), error
    assert posts(server) == 1


async def test_a_redirect_then_a_reset_is_retried(server: CountingHF) -> None:
    # The server that answered only redirected; the one that failed never answered.
    server.script("POST", GENERATE, Reply(307, {"location": "/models/elsewhere"}))
    server.script("POST", "/models/elsewhere", Reply(reset=True))
    text, error = await run()
    assert error is None and text == "".join(WORDS)
    assert posts(server) == 2


async def test_a_head_sent_a_byte_at_a_time_is_bounded_by_the_first_byte_limit(
    server: CountingHF,
) -> None:
    head = [HEAD[i : i + 1] for i in range(len(HEAD))]  # about 80 bytes, 0.1 s apart
    server.script("POST", GENERATE, Reply(wire=head, delay=0.1))
    limits = Timeouts(connect=1.0, first_byte=0.5, stream_gap=5.0, total=5.0)
    started = time.monotonic()
    _, error = await run(timeout=limits, retry=RetryPolicy(max_retries=0))
    assert isinstance(error, TimeoutError) and error.phase == "first_byte", error
    assert time.monotonic() - started < 1.5  # not the 8 s the head takes


async def test_a_stream_that_stops_mid_chunk_is_cut_by_the_gap(server: CountingHF) -> None:
    first, second = events()[:2]
    framed = chunk(second)
    wire = [HEAD + chunk(first), framed[:9]]  # then nothing, the connection open
    server.script("POST", GENERATE, Reply(wire=wire, keep_open=True, delay=5.0))
    limits = Timeouts(connect=1.0, first_byte=1.0, stream_gap=0.3, total=0.3)
    started = time.monotonic()
    text, error = await run(timeout=limits)
    assert isinstance(error, TimeoutError) and error.phase == "stream_gap", error
    assert text == "Once" == error.partial_text
    assert 0.3 <= time.monotonic() - started < 1.5  # within 1.25 gaps, plus slack


async def test_a_fixed_length_stream_that_stalls_is_cut_by_the_gap(server: CountingHF) -> None:
    body = b"".join(events())
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"content-length: %d\r\n\r\n" % len(body)
    )
    server.script("POST", GENERATE, Reply(wire=[head + events()[0]], keep_open=True, delay=5.0))
    limits = Timeouts(connect=1.0, first_byte=1.0, stream_gap=0.3, total=0.3)
    text, error = await run(timeout=limits)
    assert isinstance(error, TimeoutError) and error.phase == "stream_gap", error
    assert text == "Once"


async def test_a_json_answer_to_a_stream_request_over_chunked(server: CountingHF) -> None:
    body = json.dumps([{"generated_text": "Hello there"}]).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    wire = [head + chunk(body[:10]), chunk(body[10:]) + b"0\r\n\r\n"]
    server.script("POST", GENERATE, Reply(wire=wire, keep_open=True))
    text, error = await run()
    assert error is None and text == "Hello there"


# -- whole answers: size limits (counted after decompression), redirects ---------------------


async def test_a_huge_model_info_is_refused_and_not_cached(
    server: CountingHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HFINFER_MAX_METADATA_BYTES", str(64 * 1024))
    info = {**server.models[MODEL], "padding": "x" * (200 * 1024)}
    body = json.dumps(info).encode()
    server.script(
        "GET", f"/api/models/{MODEL}", Reply(200, {"content-type": "application/json"}, body)
    )
    text, error = await run()
    assert isinstance(error, ResponseError), error
    assert "larger than 65,536 bytes" in str(error) and "HFINFER_MAX_METADATA_BYTES" in str(error)
    assert posts(server) == 0
    # Refused answers are not cached: the next call asks the Hub again (and succeeds).
    text, error = await run()
    assert error is None and text == "".join(WORDS)
    assert server.count("GET", f"/api/models/{MODEL}") == 2


async def test_a_gzip_bomb_is_refused_after_decompression(
    server: CountingHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    monkeypatch.setenv("HFINFER_MAX_GENERATION_BYTES", str(1024 * 1024))
    inflated = b'[{"generated_text": "' + b" " * (64 * 1024 * 1024) + b'"}]'
    bomb = gzip.compress(inflated, compresslevel=9)
    assert len(bomb) < 200 * 1024
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    server.script("POST", GENERATE, Reply(200, headers, bomb))
    started = time.monotonic()
    _, error = await run(stream=False)
    assert isinstance(error, ResponseError), error
    assert "generation answer" in str(error) and "1,048,576 bytes" in str(error)
    assert time.monotonic() - started < 5.0
    assert posts(server) == 1


async def test_a_declared_length_past_the_limit_is_refused_before_reading(
    server: CountingHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HFINFER_MAX_GENERATION_BYTES", "1000")
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000000\r\n\r\n"
    server.script("POST", GENERATE, Reply(wire=[head, b"[{"], keep_open=True, delay=5.0))
    started = time.monotonic()
    _, error = await run(stream=False)
    assert isinstance(error, ResponseError) and "larger than 1,000 bytes" in str(error)
    assert time.monotonic() - started < 2.0  # refused at the head, not after the body


async def test_a_bad_limit_in_the_environment_is_a_clear_error(
    server: CountingHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hfinfer.errors import InvalidRequestError

    monkeypatch.setenv("HFINFER_MAX_IMAGE_BYTES", "lots")
    _, error = await run()
    assert isinstance(error, InvalidRequestError) and "HFINFER_MAX_IMAGE_BYTES" in str(error)


async def test_a_redirect_to_a_file_url_is_a_clear_error_not_retried(server: CountingHF) -> None:
    server.script("POST", GENERATE, Reply(307, {"location": "file:///etc/passwd"}))
    _, error = await run()
    assert isinstance(error, ResponseError), error
    assert "file:///etc/passwd" in str(error) and "not an http(s) address" in str(error)
    assert posts(server) == 1


# -- calls without an instance ------------------------------------------------------------------


async def test_overlapping_calls_without_an_instance_share_one_pool(server: CountingHF) -> None:
    slow = stream_reply(tgi_events(["a"] * 20), delay=0.05)  # about a second
    server.script("POST", GENERATE, slow)
    long_call = asyncio.ensure_future(run(retry=None))
    for _ in range(100):  # until the long call's stream has begun
        if posts(server):
            break
        await asyncio.sleep(0.01)
    for _ in range(2):  # one after the other while the long call runs: one connection
        text, error = await run(retry=None)
        assert error is None and text == "".join(WORDS)
    text, error = await long_call
    assert error is None and text == "a" * 20
    assert server.connections == 2
    # The last call to end closed the shared pool: a new call opens a new connection.
    text, error = await run(retry=None)
    assert error is None and server.connections == 3


# -- the decoder alone: any split, any garbage -------------------------------------------------


class _Socket:
    """What ChunkedBody asks of a transport while it decodes."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Aiohttp:
    def connection_lost(self, exc: BaseException | None) -> None:
        pass


def _decode(pieces: list[bytes]) -> tuple[bytes, BaseException | None, bool]:
    """Feed ``pieces`` to a ChunkedBody: (the payload, its error, whether it ended)."""
    from hfinfer.http.chunked import ChunkedBody

    loop = asyncio.new_event_loop()
    ended: list[bool] = []
    try:
        body = ChunkedBody(loop, _Socket(), None, _Aiohttp(), ended.append, lambda: None)  # type: ignore[arg-type]
        for piece in pieces:
            body.feed(piece)
        payload = b"".join(body._pending)
        return payload, body.exception(), bool(ended)
    finally:
        loop.close()


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(st.binary(min_size=1, max_size=40), max_size=12),
    extensions=st.lists(st.sampled_from([b"", b";a=b", b" ;x", b';q="v"']), min_size=12),
    upper=st.booleans(),
    trailers=st.sampled_from([b"", b"x-a: 1\r\n", b"x-a: 1\r\nx-b: 2\r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_any_split_of_a_chunked_body_gives_its_payload(
    payloads: list[bytes], extensions: list[bytes], upper: bool, trailers: bytes, cuts: list[int]
) -> None:
    wire = b""
    for data, extension in zip(payloads, extensions, strict=False):
        size = (b"%X" if upper else b"%x") % len(data)
        wire += size + extension + b"\r\n" + data + b"\r\n"
    wire += b"0\r\n" + trailers + b"\r\n"
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    pieces = [wire[a:b] for a, b in itertools.pairwise(points) if b > a]
    payload, error, ended = _decode(pieces)
    assert error is None and ended and payload == b"".join(payloads)


@pytest.mark.parametrize("size", [b"+5", b"-5", b" 5", b"0x5", b"0X5", b"5_", b"0_5", b"g"])
def test_a_size_that_is_not_plain_hex_is_refused_in_a_whole_read(size: bytes) -> None:
    """int(..., 16) takes signs, spaces, 0x and underscores; HTTP's chunk sizes do not."""
    from hfinfer.http.chunked import ChunkedFramingError

    bad = size + b"\r\nhello\r\n"
    for wire, before in (([bad], b""), ([b"5\r\nhello\r\n" + bad], b"hello")):
        payload, error, ended = _decode(wire)
        assert isinstance(error, ChunkedFramingError) and not ended
        assert payload == before  # what came before it stays


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=200), cuts=st.lists(st.integers(0, 200), max_size=10))
def test_garbage_ends_in_an_error_or_waits_for_more_never_an_exception(
    garbage: bytes, cuts: list[int]
) -> None:
    from hfinfer.http.chunked import ChunkedFramingError

    points = sorted({c % (len(garbage) + 1) for c in cuts} | {0, len(garbage)})
    pieces = [garbage[a:b] for a, b in itertools.pairwise(points) if b > a]
    _, error, _ = _decode(pieces)  # raises nothing itself
    assert error is None or isinstance(error, ChunkedFramingError)


# -- the import ---------------------------------------------------------------------------------


def test_importing_the_provider_does_not_load_aiohttp() -> None:
    # aiohttp's import builds SSL contexts (about 100 ms): the first call pays it.
    code = (
        "import sys\n"
        "from hfinfer import HuggingFaceInference, AsyncClient\n"
        "import hfinfer.http.session, hfinfer.http.errors, hfinfer.http.pool\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'yarl')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


async def test_a_body_read_by_hfinfer_iterates_by_lines_as_aiohttps_does() -> None:
    from hfinfer.http.chunked import ChunkedBody

    ended: list[bool] = []
    body = ChunkedBody(
        asyncio.get_running_loop(),
        _Socket(),
        None,
        _Aiohttp(),
        ended.append,
        lambda: None,  # type: ignore[arg-type]
    )
    body.feed(chunk(b"data: a\n\nda") + chunk(b"ta: b\n") + chunk(b"\ntail") + b"0\r\n\r\n")
    lines = [line async for line in body]
    assert lines == [b"data: a\n", b"\n", b"data: b\n", b"\n", b"tail"]
    assert ended == [True] and body.at_eof()
