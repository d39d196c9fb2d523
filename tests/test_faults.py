"""Fault injection: one scenario per way hosted inference fails, against the local server.

Every test runs the public provider end to end against ``FaultyHF`` (the
local Hub + inference server of ``hfserver`` that also counts TCP
connections and can reset instead of closing). Limits are small so the whole
file runs in seconds; an autouse fixture fails a test that leaves a task
running or makes the loop complain (unclosed sessions, destroyed tasks).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import select
import socket
import struct
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hfinfer import FinishReason, HuggingFaceInference, Timeouts
from hfinfer.errors import (
    AuthenticationError,
    ConnectionError,
    EndpointGoneError,
    HFInferenceError,
    HtmlResponseError,
    ModelLoadingError,
    ModelNotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
    TimeoutError,
    ValidationError,
)
from hfinfer.http.retry import RetryPolicy
from hfserver import FakeHF, Reply, Request, json_reply, sse_events, stream_reply, tgi_events

MODEL = "org/m"
GENERATE = "/models/org/m"
INFO = "/api/models/org/m"
USER = [{"role": "user", "content": "Say hello"}]
#: Small limits, so a fault shows within a fraction of a second.
QUICK = Timeouts(connect=1.0, first_byte=1.0, stream_gap=1.0, total=2.0)
#: Retries with waits of a few milliseconds (the server's own asks capped at 0.3 s).
FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_cap=0.02, max_wait=0.3, max_total=5.0)
PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>corporate proxy</body></html>"


# -- the server and the guards -----------------------------------------------------------------


class FaultyHF(FakeHF):
    """FakeHF that counts TCP connections and, with ``rst_on_cut``, resets (RST)
    where ``Reply.cut_after`` would otherwise close (FIN)."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0
        self.open_connections = 0
        self.rst_on_cut = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        if self.rst_on_cut:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            await super()._serve(reader, writer)
        finally:
            self.open_connections -= 1


@pytest.fixture(autouse=True)
async def loop_stays_quiet() -> AsyncIterator[None]:
    """Fail a test that leaves a task behind or makes the loop report a problem
    ("Unclosed client session", "Task was destroyed but it is pending", ...).
    Set up before the server fixture, so it checks after the server stopped."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    try:
        yield
        for _ in range(3):  # finalizers of abandoned generators schedule their aclose()
            gc.collect()
            await asyncio.sleep(0.01)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not others, f"tasks left running: {others}"
        assert not reports, f"the loop reported: {[r.get('message') for r in reports]}"
    finally:
        loop.set_exception_handler(previous)


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FaultyHF]:
    """The local Hub + inference server serving the text model ``org/m``."""
    hf = FaultyHF()
    await hf.start()
    for name in ("HF_ENDPOINT", "HFINFER_API_BASE", "HF_ROUTER_URL"):
        monkeypatch.setenv(name, hf.url)
    hf.add_text_model(MODEL)
    try:
        yield hf
    finally:
        await hf.stop()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A port bound but not listening: every connection is refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def stalled_url() -> Iterator[str]:
    """A listening port whose accept queue is full: the kernel drops new SYNs,
    so a connection attempt hangs as it would towards a black-holed host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            filler.connect_ex(address)
            _, writable, _ = select.select([], [filler], [], 0.2)
            if not writable:
                break  # this SYN was dropped: the queue is full
        else:
            pytest.skip("this kernel completes every connection; a connect cannot be stalled")
        yield f"http://{address[0]}:{address[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# -- helpers -----------------------------------------------------------------------------------


def generator(
    *,
    provider: HuggingFaceInference | None = None,
    messages: list[dict[str, Any]] | None = None,
    retry: RetryPolicy | None = FAST,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """The provider's stream with test limits (``retry=None``: the provider's own policy)."""
    kwargs.setdefault("timeout", QUICK)
    if retry is not None:
        kwargs["retry"] = retry
    owner: Any = provider if provider is not None else HuggingFaceInference
    return owner.create_async_generator(MODEL, messages or USER, **kwargs)


async def run(**kwargs: Any) -> tuple[list[Any], HFInferenceError | None]:
    """Everything the stream yields, and the hfinfer error that ended it (or None)."""
    chunks: list[Any] = []
    try:
        async for chunk in generator(**kwargs):
            chunks.append(chunk)
    except HFInferenceError as exc:
        return chunks, exc
    return chunks, None


async def fails(kind: type[HFInferenceError], **kwargs: Any) -> tuple[str, Any]:
    """Run a call that must fail with ``kind``: (the text delivered before, the error)."""
    chunks, error = await run(**kwargs)
    assert isinstance(error, kind), f"expected {kind.__name__}, got {error!r}"
    return text_of(chunks), error


def text_of(chunks: list[Any]) -> str:
    return "".join(c for c in chunks if isinstance(c, str))


async def until(predicate: Callable[[], bool], timeout: float = 1.5) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed (bounded)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def posts(hf: FakeHF) -> list[Request]:
    return [r for r in hf.requests if r.method == "POST" and r.path == GENERATE]


def long_stream(words: int = 100, delay: float = 0.02) -> Reply:
    """A stream that takes ``words * delay`` seconds to send."""
    return stream_reply(tgi_events(["Once", *[f" w{i}" for i in range(words)]]), delay=delay)


def wire_length(frame: bytes) -> int:
    """Bytes one frame takes as an HTTP chunk (``size CRLF data CRLF``)."""
    return len(b"%x\r\n" % len(frame)) + len(frame) + 2


# -- retries: what is retried, how long it waits ---------------------------------------------


async def test_cold_model_waits_its_estimated_time_then_asks_to_wait_for_model(
    server: FaultyHF,
) -> None:
    loading = {"error": "Model org/m is currently loading", "estimated_time": 0.25}
    server.script("POST", GENERATE, json_reply(loading, 503))
    started = time.monotonic()
    chunks, error = await run(retry=RetryPolicy(max_retries=2, max_wait=5.0))
    assert error is None and text_of(chunks) == "Hello world!"
    assert time.monotonic() - started >= 0.25  # the server's estimate was honoured
    first, second = posts(server)
    assert "x-wait-for-model" not in first.headers
    assert second.headers["x-wait-for-model"] == "true"


async def test_a_long_estimated_time_is_capped(server: FaultyHF) -> None:
    loading = {"error": "Model org/m is currently loading", "estimated_time": 600.0}
    server.script("POST", GENERATE, json_reply(loading, 503))
    started = time.monotonic()
    chunks, error = await run(retry=RetryPolicy(max_retries=2, max_wait=0.1))
    assert error is None and text_of(chunks) == "Hello world!"
    assert time.monotonic() - started < 1.5


async def test_a_model_that_stays_cold_ends_in_model_loading_error(server: FaultyHF) -> None:
    loading = {"error": "Model org/m is currently loading", "estimated_time": 0.01}
    server.script("POST", GENERATE, *[json_reply(loading, 503)] * 3)
    _, error = await fails(ModelLoadingError, retry=RetryPolicy(max_retries=2, max_wait=0.05))
    assert error.estimated_time == 0.01 and "loading" in str(error)
    assert len(posts(server)) == 3


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "0.25"}, {"ratelimit": '"api";r=0;t=0.25'}],
    ids=["retry-after", "ratelimit"],
)
async def test_rate_limit_waits_retry_after_then_succeeds(
    server: FaultyHF, headers: dict[str, str]
) -> None:
    server.script("POST", GENERATE, json_reply({"error": "Rate limit reached"}, 429, **headers))
    started = time.monotonic()
    chunks, error = await run(retry=RetryPolicy(max_retries=1, max_wait=5.0))
    assert error is None and text_of(chunks) == "Hello world!"
    assert time.monotonic() - started >= 0.25
    assert len(posts(server)) == 2
    assert "x-wait-for-model" not in posts(server)[1].headers


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(server: FaultyHF, status: int) -> None:
    server.script("POST", GENERATE, json_reply({"error": "try again"}, status))
    chunks, error = await run()
    assert error is None and text_of(chunks) == "Hello world!"
    assert len(posts(server)) == 2


async def test_a_gateway_html_page_is_retried(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(502, {"content-type": "text/html"}, PAGE))
    chunks, error = await run()
    assert error is None and text_of(chunks) == "Hello world!"
    assert len(posts(server)) == 2


@pytest.mark.parametrize(
    ("status", "body", "kind", "gist"),
    [
        (401, {"error": "Invalid credentials"}, AuthenticationError, "HF_TOKEN"),
        (402, {"error": "You have exceeded your monthly credits"}, PaymentRequiredError, "credits"),
        (403, {"error": "Access to model org/m is restricted"}, AuthenticationError, "token"),
        (403, {"error": "The model org/m is too large to be loaded"}, ResponseError, "smaller"),
        (404, {"error": "Model org/m does not exist"}, ModelNotFoundError, "org/m"),
        (410, {"error": "no longer supported"}, EndpointGoneError, "router.huggingface.co"),
        (422, {"error": "Input validation error", "error_type": "validation"}, ValidationError, ""),
        (424, {"error": "Request failed during generation"}, ResponseError, "generation"),
    ],
    ids=["401", "402", "403", "403-too-large", "404", "410", "422", "424"],
)
async def test_permanent_failures_are_not_retried(
    server: FaultyHF, status: int, body: dict[str, str], kind: type, gist: str
) -> None:
    server.script("POST", GENERATE, json_reply(body, status))  # a success would follow
    _, error = await fails(kind)
    assert getattr(error, "status", status) == status and gist in str(error)
    assert body["error"] in str(error)  # the server's own words
    assert len(posts(server)) == 1


async def test_retries_are_bounded_in_attempts(server: FaultyHF) -> None:
    server.script("POST", GENERATE, *[json_reply({"error": "bad gateway"}, 502)] * 10)
    _, error = await fails(ServerError)
    assert error.status == 502 and "bad gateway" in str(error)
    assert len(posts(server)) == FAST.max_retries + 1


async def test_retries_are_bounded_in_total_time_by_the_waits(server: FaultyHF) -> None:
    # Each answer asks for 0.4 s; a second wait would end past the 0.6 s budget,
    # so it is not started (the caller hears now, not after a doomed wait).
    limited = json_reply({"error": "Rate limit reached"}, 429, **{"retry-after": "0.4"})
    server.script("POST", GENERATE, *[limited] * 20)
    policy = RetryPolicy(max_retries=50, max_wait=1.0, max_total=0.6)
    started = time.monotonic()
    await fails(RateLimitError, retry=policy)
    assert time.monotonic() - started < 0.6 + 0.3
    assert len(posts(server)) == 2


async def test_retries_are_bounded_in_total_time_by_slow_attempts(server: FaultyHF) -> None:
    # Waits are tiny, but every attempt takes 0.15 s: the clock, not the waits, ends it.
    slow = Reply(503, {"content-type": "application/json"}, b'{"error":"busy"}', delay_headers=0.15)
    server.script("POST", GENERATE, *[slow] * 30)
    policy = RetryPolicy(max_retries=50, backoff_base=0.001, backoff_cap=0.001, max_total=0.5)
    started = time.monotonic()
    await fails(ServerError, retry=policy)
    assert time.monotonic() - started < 0.5 + 0.4
    assert len(posts(server)) <= 5


async def test_max_retries_zero_turns_retrying_off(server: FaultyHF) -> None:
    server.script("POST", GENERATE, json_reply({"error": "busy"}, 503), Reply(reset=True))
    await fails(ServerError, retry=None, max_retries=0)
    assert len(posts(server)) == 1
    await fails(ConnectionError, retry=None, max_retries=0)
    assert len(posts(server)) == 2


async def test_max_retries_sets_the_number_of_attempts(server: FaultyHF) -> None:
    # Retry-After: 0 keeps the provider's own policy fast.
    limited = json_reply({"error": "Rate limit reached"}, 429, **{"retry-after": "0"})
    server.script("POST", GENERATE, *[limited] * 10)
    await fails(RateLimitError, retry=None, max_retries=2)
    assert len(posts(server)) == 3


async def test_metadata_requests_are_retried_too(server: FaultyHF) -> None:
    server.script("GET", INFO, json_reply({"error": "bad gateway"}, 502))
    chunks, error = await run()
    assert error is None and text_of(chunks) == "Hello world!"
    assert server.count("GET", INFO) == 2


# -- connections that fail ----------------------------------------------------------------------


async def test_connection_refused_is_retried_then_a_clear_connection_error(
    server: FaultyHF, refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hfinfer")
    started = time.monotonic()
    _, error = await fails(ConnectionError, api_base=refused_url)
    assert "Could not connect" in str(error) and refused_url in str(error)
    assert time.monotonic() - started < 1.0
    assert caplog.text.count("retrying POST") == FAST.max_retries


async def test_an_unreachable_proxy_is_named(server: FaultyHF, refused_url: str) -> None:
    _, error = await fails(ConnectionError, proxy=refused_url, retry=RetryPolicy(max_retries=0))
    assert "through the proxy" in str(error)


async def test_a_reset_before_the_answer_is_retried(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(reset=True), Reply(reset=True))
    chunks, error = await run()
    assert error is None and text_of(chunks) == "Hello world!"
    assert len(posts(server)) == 3


async def test_resets_every_time_end_in_a_clear_connection_error(server: FaultyHF) -> None:
    server.script("POST", GENERATE, *[Reply(reset=True)] * 10)
    _, error = await fails(ConnectionError)
    assert "broke before an answer" in str(error) or "failed" in str(error)
    assert len(posts(server)) == FAST.max_retries + 1


# -- answers that are not what was asked for ------------------------------------------------


async def test_an_html_page_instead_of_a_stream(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(200, {"content-type": "text/html"}, PAGE))
    _, error = await fails(HtmlResponseError)
    assert "HTML page" in str(error) and "proxy" in str(error)
    assert len(posts(server)) == 1


async def test_an_html_page_labelled_json(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(200, {"content-type": "application/json"}, PAGE))
    _, error = await fails(HtmlResponseError, stream=False)
    assert "HTML page" in str(error)


async def test_a_redirect_loop_is_not_retried(server: FaultyHF) -> None:
    loop = Reply(307, {"location": f"{server.url}{GENERATE}"})
    server.script("POST", GENERATE, *[loop] * 50)
    _, error = await fails(ResponseError)
    assert "10 redirects in a row" in str(error) and error.__context__ is None
    assert len(posts(server)) == 10  # one attempt (aiohttp's limit): not retried


async def test_a_non_json_line_in_the_stream(server: FaultyHF) -> None:
    events = [*tgi_events(["A", "B"])[:2], b"this is not json", *tgi_events(["C"])]
    server.script("POST", GENERATE, stream_reply(events))
    delivered, error = await fails(StreamError)
    assert "Malformed stream event after 2 tokens" in str(error)
    assert delivered == "AB" == error.partial_text and error.tokens_received == 2
    assert len(posts(server)) == 1


async def test_lines_that_are_not_data_are_skipped(server: FaultyHF) -> None:
    frames = [b": keep-alive\n\n", b"event: ping\nid: 1\n\n", *sse_events(tgi_events(["A", "B"]))]
    server.script(
        "POST", GENERATE, Reply(200, {"content-type": "text/event-stream"}, chunks=frames)
    )
    chunks, error = await run()
    assert error is None and text_of(chunks) == "AB" and chunks[-1] == FinishReason("stop")


async def test_an_error_event_first_in_a_200_stream(server: FaultyHF) -> None:
    events = [{"error": "Model is overloaded", "error_type": "overloaded"}]
    server.script("POST", GENERATE, stream_reply(events))
    delivered, error = await fails(StreamError)
    assert "Model is overloaded" in str(error) and "after 0 tokens" in str(error)
    assert error.error_type == "overloaded"
    assert delivered == "" == error.partial_text and error.tokens_received == 0


@pytest.mark.parametrize("per_event_chunks", [True, False], ids=["one-chunk-each", "one-read"])
async def test_an_error_event_midway_keeps_the_text(
    server: FaultyHF, per_event_chunks: bool
) -> None:
    events = [
        *tgi_events(["Once", " upon"])[:2],
        {"error": "Request failed during generation: CUDA OOM", "error_type": "generation"},
        *tgi_events([" never"]),
    ]
    server.script("POST", GENERATE, stream_reply(events, per_event_chunks=per_event_chunks))
    delivered, error = await fails(StreamError)
    assert "CUDA OOM" in str(error) and error.error_type == "generation"
    assert delivered == "Once upon" == error.partial_text and error.tokens_received == 2
    assert len(posts(server)) == 1


async def test_a_stream_that_ends_without_its_final_event(server: FaultyHF) -> None:
    events = tgi_events(["Once", " upon", " a"])[:-1]  # the final event never comes
    server.script("POST", GENERATE, stream_reply(events))
    delivered, error = await fails(StreamError)
    assert "ended before its final event, after 3 tokens" in str(error)
    assert delivered == "Once upon a" == error.partial_text and error.tokens_received == 3


async def test_a_chunked_body_cut_mid_chunk(server: FaultyHF) -> None:
    frames = sse_events(tgi_events(["Once", " upon", " a", " time"]))
    cut = wire_length(frames[0]) + wire_length(frames[1]) + 12  # inside the third chunk
    server.script(
        "POST",
        GENERATE,
        Reply(200, {"content-type": "text/event-stream"}, chunks=frames, cut_after=cut),
    )
    delivered, error = await fails(StreamError)
    assert "broke after 2 tokens" in str(error)
    assert delivered == "Once upon" == error.partial_text and error.tokens_received == 2
    assert len(posts(server)) == 1


async def test_a_non_streamed_body_cut_short(server: FaultyHF) -> None:
    body = b'[{"generated_text": "Hello world!", "details": null}]'
    server.script(
        "POST",
        GENERATE,
        Reply(200, {"content-type": "application/json"}, body, cut_after=12),
    )
    _, error = await fails(StreamError, stream=False)
    assert "cut off" in str(error)
    assert len(posts(server)) == 1


async def test_a_connection_reset_mid_stream(server: FaultyHF) -> None:
    server.rst_on_cut = True
    frames = sse_events(tgi_events(["Once", " upon", " a", " time"]))
    cut = wire_length(frames[0]) + wire_length(frames[1])  # right after two whole chunks
    server.script(
        "POST",
        GENERATE,
        Reply(200, {"content-type": "text/event-stream"}, chunks=frames, delay=0.05, cut_after=cut),
    )
    delivered, error = await fails(StreamError)
    assert "broke after 2 tokens" in str(error)
    assert delivered == "Once upon" == error.partial_text and error.tokens_received == 2
    assert len(posts(server)) == 1


async def test_nothing_is_retried_after_the_first_token(server: FaultyHF) -> None:
    frames = sse_events(tgi_events(["Once", " upon", " a"]))
    cut = wire_length(frames[0]) + 5
    broken = Reply(200, {"content-type": "text/event-stream"}, chunks=frames, cut_after=cut)
    server.script("POST", GENERATE, broken, stream_reply(tgi_events(["second"])))
    delivered, error = await fails(StreamError, retry=RetryPolicy(max_retries=5))
    assert delivered == "Once" == error.partial_text
    assert len(posts(server)) == 1  # a generation is not idempotent: never sent twice


# -- slow servers, one per limit ---------------------------------------------------------------


async def test_connect_timeout(server: FaultyHF, stalled_url: str) -> None:
    limits = Timeouts(connect=0.2, first_byte=5.0, stream_gap=5.0, total=5.0)
    started = time.monotonic()
    _, error = await fails(
        TimeoutError, api_base=stalled_url, timeout=limits, retry=None, max_retries=0
    )
    assert error.phase == "connect" and error.seconds == 0.2
    assert "connect timeout" in str(error)
    assert 0.2 <= time.monotonic() - started < 1.0


async def test_a_connect_timeout_is_retried(
    server: FaultyHF, stalled_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hfinfer")
    limits = Timeouts(connect=0.15, first_byte=5.0, stream_gap=5.0, total=5.0)
    started = time.monotonic()
    _, error = await fails(
        TimeoutError,
        api_base=stalled_url,
        timeout=limits,
        retry=RetryPolicy(max_retries=1, backoff_base=0.01),
    )
    assert error.phase == "connect"
    assert caplog.text.count("retrying POST") == 1
    assert 0.3 <= time.monotonic() - started < 1.2


async def test_first_byte_timeout(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(200, delay_headers=3.0))
    limits = Timeouts(connect=1.0, first_byte=0.2, stream_gap=5.0, total=5.0)
    started = time.monotonic()
    _, error = await fails(TimeoutError, timeout=limits)
    assert error.phase == "first_byte" and error.seconds == 0.2
    assert "first-byte timeout" in str(error)
    assert time.monotonic() - started < 1.0
    assert len(posts(server)) == 1  # the server may be generating: not sent again


async def test_a_server_that_accepts_and_never_answers(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(hang=True))
    started = time.monotonic()
    _, error = await fails(TimeoutError, timeout=0.3)  # the seed's timeout=<seconds>
    assert error.phase == "first_byte" and error.seconds == 0.3
    assert time.monotonic() - started < 1.0
    assert len(posts(server)) == 1


async def test_stream_gap_timeout_keeps_the_text(server: FaultyHF) -> None:
    # Headers and the first token come at once, then the server stalls for 2 s.
    events = tgi_events(["Once", " upon", " a"])
    server.script("POST", GENERATE, stream_reply(events, delay=2.0))
    limits = Timeouts(connect=1.0, first_byte=5.0, stream_gap=0.2, total=0.2)
    started = time.monotonic()
    delivered, error = await fails(TimeoutError, timeout=limits)
    assert error.phase == "stream_gap" and error.seconds == 0.2
    assert "stream-gap timeout" in str(error)
    assert delivered == "Once" == error.partial_text
    assert time.monotonic() - started < 1.0  # the gap, not the first-byte limit, applied


async def test_a_flowing_stream_is_never_cut_by_the_gap_or_total_limit(server: FaultyHF) -> None:
    words = [f" w{i}" for i in range(10)]
    server.script("POST", GENERATE, stream_reply(tgi_events(["Go", *words]), delay=0.05))
    limits = Timeouts(connect=1.0, first_byte=0.3, stream_gap=0.3, total=0.3)
    chunks, error = await run(timeout=limits)  # lasts about 0.6 s in all
    assert error is None and text_of(chunks) == "Go" + "".join(words)


async def test_total_timeout_for_a_non_streamed_body(server: FaultyHF) -> None:
    body = b'[{"generated_text": "Hello world!"}]'
    pieces = [body[i : i + 6] for i in range(0, len(body), 6)]
    trickle = Reply(200, {"content-type": "application/json"}, chunks=pieces, delay=0.15)
    server.script("POST", GENERATE, trickle)
    limits = Timeouts(connect=1.0, first_byte=1.0, stream_gap=1.0, total=0.3)
    started = time.monotonic()
    _, error = await fails(TimeoutError, stream=False, timeout=limits)
    assert error.phase == "total" and error.seconds == 0.3
    assert "total timeout" in str(error)
    assert time.monotonic() - started < 1.0


# -- many at once ------------------------------------------------------------------------------


def numbered_generation(request: Request) -> Reply:
    """Stream ``s{i} alpha beta gamma delta`` for the prompt ``req-{i}``; every third
    request fails midway, in one of three ways."""
    match = re.search(r"req-(\d+)", request.json()["inputs"])
    assert match is not None
    number = int(match[1])
    events = tgi_events([f"s{number}", " alpha", " beta", " gamma", " delta"])
    if number % 3 != 0:
        return stream_reply(events, delay=0.01)
    kind = (number // 3) % 3
    if kind == 0:  # the error event of a failed generation
        broken = [*events[:2], {"error": "CUDA OOM", "error_type": "generation"}]
        return stream_reply(broken, delay=0.01)
    if kind == 1:  # the final event never comes
        return stream_reply(events[:-1], delay=0.01)
    frames = sse_events(events)  # the connection drops mid-chunk
    cut = wire_length(frames[0]) + wire_length(frames[1]) + 9
    return Reply(
        200, {"content-type": "text/event-stream"}, chunks=frames, delay=0.01, cut_after=cut
    )


async def test_fifty_concurrent_streams_where_a_third_fail(server: FaultyHF) -> None:
    server.generations[MODEL] = numbered_generation

    async def one(provider: HuggingFaceInference, number: int) -> tuple[str, list[Any], Any]:
        text, others = [], []
        messages = [{"role": "user", "content": f"req-{number}"}]
        try:
            async for chunk in generator(provider=provider, messages=messages, retry=None):
                (text if isinstance(chunk, str) else others).append(chunk)
        except StreamError as exc:
            return "".join(text), others, exc
        return "".join(text), others, None

    async with HuggingFaceInference(max_retries=0) as provider:
        results = await asyncio.wait_for(
            asyncio.gather(*(one(provider, n) for n in range(50))), timeout=15
        )
    failed = 0
    for number, (text, others, error) in enumerate(results):
        full = f"s{number} alpha beta gamma delta"
        if number % 3:
            assert error is None, (number, error)
            assert text == full and others[-1] == FinishReason("stop"), number
        else:
            failed += 1
            assert isinstance(error, StreamError), (number, error)
            assert text == error.partial_text and full.startswith(text)
            assert not others  # no finish reason for a broken stream
    assert failed == 17
    assert len(posts(server)) == 50  # nothing retried
    assert await until(lambda: server.open_connections == 0)


# -- cancellation ----------------------------------------------------------------------------


async def test_breaking_out_of_async_for_closes_the_connection(server: FaultyHF) -> None:
    server.script("POST", GENERATE, long_stream())
    async with HuggingFaceInference() as provider:
        async for chunk in generator(provider=provider, retry=None):
            if isinstance(chunk, str):
                break  # the generator is dropped here, unclosed
        # The pool stays open, but the streaming connection must close now, not
        # after the 2 s the server would take to finish.
        assert await until(lambda: server.open_connections == 0, timeout=1.0)
        chunks, error = await run(provider=provider, retry=None)  # the instance still works
        assert error is None and text_of(chunks) == "Hello world!"


async def test_aclose_closes_the_connection(server: FaultyHF) -> None:
    server.script("POST", GENERATE, long_stream())
    async with HuggingFaceInference() as provider:
        stream = generator(provider=provider, retry=None)
        assert await stream.__anext__() == "Once"
        await stream.aclose()
        assert await until(lambda: server.open_connections == 0, timeout=1.0)


async def test_cancelling_the_task_closes_the_connection(server: FaultyHF) -> None:
    server.script("POST", GENERATE, long_stream())
    first = asyncio.Event()
    received: list[str] = []

    async def consume() -> None:
        async for chunk in generator():
            received.append(chunk)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received and len(received) < 50
    assert await until(lambda: server.open_connections == 0, timeout=1.0)


async def test_aclose_closes_the_inner_generators_at_once(server: FaultyHF) -> None:
    server.script("POST", GENERATE, long_stream())
    firstiter, finalizer = sys.get_asyncgen_hooks()
    left_to_gc: list[str] = []

    def record(agen: Any) -> None:
        if "hfinfer" in agen.ag_code.co_filename:
            left_to_gc.append(agen.__qualname__)
        finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=record)
    try:
        stream = generator()
        assert await stream.__anext__() == "Once"
        await stream.aclose()
        del stream
        gc.collect()
        await asyncio.sleep(0.05)
    finally:
        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
    assert left_to_gc == []


async def test_cancelling_during_a_retry_wait_leaves_nothing_behind(server: FaultyHF) -> None:
    server.script("POST", GENERATE, json_reply({"error": "busy"}, 429, **{"retry-after": "5"}))
    task = asyncio.create_task(run(retry=RetryPolicy(max_retries=1, max_wait=5.0)))
    assert await until(lambda: len(posts(server)) == 1)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await until(lambda: server.open_connections == 0, timeout=1.0)


# -- sessions -----------------------------------------------------------------------------------


async def test_one_instance_reuses_one_connection_and_closes_it(server: FaultyHF) -> None:
    async with HuggingFaceInference(timeout=QUICK) as provider:
        for stream in (True, True, False, True):
            chunks, error = await run(provider=provider, retry=None, stream=stream)
            assert error is None and text_of(chunks) == "Hello world!"
        assert provider._http is not None
        session = provider._http.session()
        assert server.open_connections == 1
    assert session.closed and provider._http is None
    assert server.connections == 1  # metadata and four generations, one TCP connection
    assert len(posts(server)) == 4
    assert await until(lambda: server.open_connections == 0)


async def test_a_calls_max_retries_applies_on_an_instance(server: FaultyHF) -> None:
    server.script("POST", GENERATE, json_reply({"error": "busy"}, 503))
    async with HuggingFaceInference() as provider:
        _, error = await run(provider=provider, retry=None, max_retries=0)
    assert isinstance(error, ServerError)
    assert len(posts(server)) == 1


async def test_a_calls_timeout_applies_on_an_instance(server: FaultyHF) -> None:
    server.script("POST", GENERATE, Reply(hang=True))
    limits = Timeouts(connect=1.0, first_byte=0.2, stream_gap=1.0, total=1.0)
    async with HuggingFaceInference() as provider:
        # Bounded here: with the pool's limits the call would wait 600 s.
        _, error = await asyncio.wait_for(
            run(provider=provider, retry=None, timeout=limits), timeout=1.0
        )
    assert isinstance(error, TimeoutError) and error.phase == "first_byte"


async def test_calls_without_an_instance_close_their_connections(server: FaultyHF) -> None:
    for _ in range(2):
        chunks, error = await run()
        assert error is None and text_of(chunks) == "Hello world!"
    assert await until(lambda: server.open_connections == 0)


#: Runs in a fresh interpreter: a server on a loop in a thread, then the code under test.
EXIT_PRELUDE = """
import asyncio, os, sys, threading
sys.path.insert(0, {tests!r})
from hfserver import FakeHF, stream_reply, tgi_events
from hfinfer import HuggingFaceInference

USER = [{{"role": "user", "content": "hi"}}]
LONG = stream_reply(tgi_events(["a"] * 50), delay=0.02)
server_loop = asyncio.new_event_loop()
server_thread = threading.Thread(target=server_loop.run_forever, daemon=True)
server_thread.start()
server = FakeHF()
server.add_text_model("org/m")
asyncio.run_coroutine_threadsafe(server.start(), server_loop).result(5)
os.environ["HF_ENDPOINT"] = os.environ["HFINFER_API_BASE"] = server.url


def stop_server():
    asyncio.run_coroutine_threadsafe(server.stop(), server_loop).result(5)
    server_loop.call_soon_threadsafe(server_loop.stop)
    server_thread.join(5)
    server_loop.close()
"""

EXIT_ABANDONED_ASYNC = """
async def main():
    server.script("POST", "/models/org/m", LONG, LONG)
    async for chunk in HuggingFaceInference.create_async_generator("org/m", USER):
        break  # dropped unclosed: the loop's finalizer hook closes it
    async with HuggingFaceInference() as provider:
        async for chunk in provider.create_async_generator("org/m", USER):
            break
    print(await HuggingFaceInference.create_async("org/m", USER))

asyncio.run(main())
print("".join(c for c in HuggingFaceInference.create_completion("org/m", USER)
              if isinstance(c, str)))
for chunk in HuggingFaceInference.create_completion("org/m", USER):
    break  # a blocking stream left early, then dropped
stop_server()
print("done")
"""

#: A blocking stream still open when the interpreter exits.
EXIT_ABANDONED_SYNC = """
server.script("POST", "/models/org/m", LONG)
abandoned = HuggingFaceInference.create_completion("org/m", USER)
print(next(abandoned))
stop_server()
print("done")
"""


def run_script(tmp_path: Path, body: str, timeout: float) -> subprocess.CompletedProcess[str]:
    tests = str(Path(__file__).resolve().parent)
    script = tmp_path / "exit_check.py"
    script.write_text(textwrap.dedent(EXIT_PRELUDE.format(tests=tests)) + body)
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_quiet(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    for complaint in ("Unclosed", "Task was destroyed", "Exception ignored", "Warning", "Error"):
        assert complaint not in result.stderr, result.stderr


def test_interpreter_exit_is_quiet_after_abandoned_streams(tmp_path: Path) -> None:
    result = run_script(tmp_path, EXIT_ABANDONED_ASYNC, timeout=20)
    assert_quiet(result)
    assert result.stdout.splitlines() == ["Hello world!", "Hello world!", "done"]


def test_interpreter_exit_is_prompt_with_a_blocking_stream_left_open(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_script(tmp_path, EXIT_ABANDONED_SYNC, timeout=3)
    assert_quiet(result)
    assert result.stdout.splitlines() == ["a", "done"]
    assert time.monotonic() - started < 3


# -- secrets -----------------------------------------------------------------------------------

SECRET = "hf_SECRETtokenVALUE0123456789"


def _everything_about(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    cause: BaseException | None = error
    while cause is not None:
        parts += [repr(cause), str(getattr(cause, "request_info", ""))]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


async def test_the_token_never_shows_in_errors_reprs_or_debug_logs(
    server: FaultyHF, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    frames = sse_events(tgi_events(["Once", " upon"]))
    server.script(
        "POST",
        GENERATE,
        json_reply({"error": "busy"}, 503),
        json_reply({"error": "Invalid credentials"}, 401),
        Reply(reset=True),
        Reply(200, {"content-type": "text/event-stream"}, chunks=frames, cut_after=40),
        *[Reply(307, {"location": f"{server.url}{GENERATE}"})] * 10,
        Reply(hang=True),
    )
    limits = Timeouts(connect=1.0, first_byte=0.3, stream_gap=0.3, total=1.0)
    errors = []
    async with HuggingFaceInference(api_key=SECRET) as provider:
        for _ in range(5):
            _, error = await run(
                provider=provider, api_key=SECRET, timeout=limits, retry=RetryPolicy(max_retries=0)
            )
            errors.append(error)
        errors.append((await run(api_key=SECRET, timeout=limits, retry=FAST))[1])
        assert SECRET not in repr(provider) and SECRET not in repr(provider._http)
        assert provider._http is not None and SECRET not in repr(provider._http.session())
    kinds = [type(e) for e in errors]
    assert kinds == [
        ServerError,
        AuthenticationError,
        ConnectionError,
        StreamError,
        ResponseError,  # a redirect loop: aiohttp's exception held the headers
        TimeoutError,
    ]
    for error in errors:
        assert SECRET not in _everything_about(error)
    assert posts(server)[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent
    assert "'authorization': '***'" in caplog.text
    assert SECRET not in caplog.text
