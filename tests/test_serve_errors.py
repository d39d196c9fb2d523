"""``hfinfer serve``: errors in OpenAI's shape, limits, safety, and a caller that leaves.

Raw HTTP for the error cases (the exact status, headers and body), the
``openai`` client where the point is which exception it raises.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from click.testing import CliRunner

from gatewayproc import Gateway, gateway_env, serving_gateway, start_gateway
from hfinfer.cli.main import cli
from hfserver import Reply, running_in_thread
from routerserver import FakeRouter, chat_stream, chunk, openai_error

SERVER_TOKEN = "hf_server_side_secret_token"
USER = [{"role": "user", "content": "Hi"}]
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    server = FakeRouter()
    server.add_chat_model("org/chat", ["Hello", " there", "!"])
    with running_in_thread(server):
        yield server


@pytest.fixture(scope="module")
def gateway(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("gateway_home")
    limit = ["--max-body-bytes", "20000"]
    with serving_gateway(
        router.url, home, limit, HF_TOKEN=SERVER_TOKEN, HFINFER_MAX_RETRIES="0"
    ) as started:
        yield started


def post(
    gateway: Gateway, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One raw request; (status, lower-cased headers, decoded JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", int(gateway.url.rsplit(":", 1)[1]), 60)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request(
        "POST", path, payload, {"content-type": "application/json", **(headers or {})}
    )
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data)


def chat(model: str = "org/chat", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": USER, **fields}


def assert_openai_error(body: Any, kind: str, code: str | None = None) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == kind and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


@pytest.mark.parametrize(
    ("reply", "status", "kind", "code", "should_retry"),
    [
        (
            openai_error("credits used up", 402),
            402,
            "insufficient_quota",
            "insufficient_quota",
            "false",
        ),
        (openai_error("bad token", 401), 401, "authentication_error", None, "false"),
        (openai_error("gated", 403), 403, "authentication_error", None, "false"),
        (openai_error("messages: bad", 422), 422, "invalid_request_error", None, "false"),
        (openai_error("boom", 500), 502, "server_error", None, "true"),
    ],
)
def test_upstream_errors_map_through_the_table(
    gateway: Gateway,
    router: FakeRouter,
    reply: Reply,
    status: int,
    kind: str,
    code: str | None,
    should_retry: str,
) -> None:
    router.script("POST", CHAT, reply)
    got, headers, body = post(gateway, CHAT, chat())
    assert got == status
    assert headers["content-type"].startswith("application/json")
    assert headers["x-should-retry"] == should_retry
    assert headers["x-request-id"]
    assert_openai_error(body, kind, code)
    assert SERVER_TOKEN not in json.dumps(body)


def test_rate_limit_keeps_retry_after(gateway: Gateway, router: FakeRouter) -> None:
    limited = openai_error("slow down", 429)
    limited.headers["retry-after"] = "7"
    router.script("POST", CHAT, limited)
    status, headers, body = post(gateway, CHAT, chat())
    assert status == 429 and headers["retry-after"] == "7"
    assert_openai_error(body, "rate_limit_error", "rate_limit_exceeded")


def test_loading_model_is_503_with_retry_after(gateway: Gateway, router: FakeRouter) -> None:
    router.script(
        "POST",
        CHAT,
        Reply(
            503,
            {"content-type": "application/json"},
            b'{"error": "Model is loading", "estimated_time": 12.5}',
        ),
    )
    status, headers, body = post(gateway, CHAT, chat())
    assert status == 503 and headers["retry-after"] == "12"
    assert_openai_error(body, "server_error", "model_loading")


def test_openai_client_exceptions(gateway: Gateway, router: FakeRouter) -> None:
    client = openai.OpenAI(base_url=gateway.v1, api_key="x", max_retries=0, timeout=60)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="org/does-not-exist", messages=USER)
    assert missing.value.code == "model_not_found"
    router.script("POST", CHAT, openai_error("credits used up", 402))
    with pytest.raises(openai.APIStatusError) as quota:
        client.chat.completions.create(model="org/chat", messages=USER)
    assert quota.value.status_code == 402 and quota.value.code == "insufficient_quota"
    router.script("POST", CHAT, openai_error("slow down", 429))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="org/chat", messages=USER)


def test_failure_after_the_first_byte_is_one_error_event(
    gateway: Gateway, router: FakeRouter
) -> None:
    error = {"error": {"message": "the provider fell over", "type": "server_error"}}
    router.script("POST", CHAT, chat_stream([chunk("Hello"), error], done=False))
    client = openai.OpenAI(base_url=gateway.v1, api_key="x", max_retries=0, timeout=60)
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="fell over"):
        for event in client.chat.completions.create(model="org/chat", messages=USER, stream=True):
            seen.extend(c.delta.content or "" for c in event.choices)
    assert "".join(seen) == "Hello"


def test_cut_stream_ends_with_an_error_event_not_done(gateway: Gateway, router: FakeRouter) -> None:
    stream = chat_stream([chunk("Hello"), chunk(" wor")], done=False)
    router.script("POST", CHAT, stream)
    status, _, text = _raw_stream(gateway, chat(stream=True))
    assert status == 200
    events = [e for e in text.split("\n\n") if e]
    assert json.loads(events[0].removeprefix("data: "))["choices"][0]["delta"]["content"] == "Hello"
    last = json.loads(events[-1].removeprefix("data: "))
    assert_openai_error(last, "server_error")
    assert "[DONE]" not in text


def _raw_stream(gateway: Gateway, body: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection("127.0.0.1", int(gateway.url.rsplit(":", 1)[1]), 60)
    connection.request("POST", CHAT, json.dumps(body), {"content-type": "application/json"})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, text


@pytest.mark.parametrize(
    "model",
    ["http://127.0.0.1:9/v1", "https://evil.invalid/x", "//evil.invalid/m", "HTTP://x.invalid"],
)
def test_model_names_that_are_urls_are_refused(
    gateway: Gateway, router: FakeRouter, model: str
) -> None:
    before = len(router.requests)
    status, headers, body = post(gateway, CHAT, chat(model))
    assert status == 400 and headers["x-should-retry"] == "false"
    assert_openai_error(body, "invalid_request_error", "invalid_model")
    assert body["error"]["param"] == "model"
    assert len(router.requests) == before  # nothing was sent anywhere


@pytest.mark.parametrize("model", ["org/../etc", "org/m?x=1", "a b", "org/m#frag", "@host/m"])
def test_model_names_that_are_no_ids_are_refused(gateway: Gateway, model: str) -> None:
    status, _, body = post(gateway, CHAT, chat(model))
    assert status == 400
    assert body["error"]["param"] == "model"


def test_oversized_body_is_413(gateway: Gateway, router: FakeRouter) -> None:
    before = len(router.requests)
    huge = chat(messages=[{"role": "user", "content": "x" * 50_000}])
    status, headers, body = post(gateway, CHAT, huge)
    assert status == 413 and headers["x-should-retry"] == "false"
    assert_openai_error(body, "invalid_request_error", "request_too_large")
    assert len(router.requests) == before


def test_oversized_chunked_body_is_413(gateway: Gateway) -> None:
    # No content-length: the limit holds while the body is read.
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 8000
        try:
            for _ in range(5):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except OSError:
            pass  # the gateway may answer and close before the whole body is sent
        answer = _read_head(sock)
    assert answer.startswith(b"HTTP/1.1 413")


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"messages": USER}).encode(), "model"),
        (json.dumps({"model": "org/chat", "messages": []}).encode(), "messages"),
        (json.dumps({"model": "org/chat", "messages": [{"content": "x"}]}).encode(), "messages[0]"),
        (json.dumps(chat(temperature=5)).encode(), "temperature"),
        (json.dumps(chat(max_tokens=0)).encode(), "max_tokens"),
        (json.dumps(chat(max_tokens=10**9)).encode(), "max_tokens"),
        (json.dumps(chat(stream="yes")).encode(), "stream"),
        (json.dumps(chat(stop=[1, 2])).encode(), "stop"),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    gateway: Gateway, body: bytes, param: str | None
) -> None:
    status, headers, answer = post(gateway, CHAT, body)
    assert status == 400 and headers["x-should-retry"] == "false"
    assert_openai_error(answer, "invalid_request_error")
    assert answer["error"]["param"] == param


def get(gateway: Gateway, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", int(gateway.url.rsplit(":", 1)[1]), 60)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_get_on_a_post_route_is_a_json_405(gateway: Gateway) -> None:
    status, headers, data = get(gateway, CHAT)
    body = json.loads(data)
    assert status == 405 and headers["x-request-id"]
    assert headers["content-type"].startswith("application/json")
    assert "POST" in body["error"]["message"]
    assert_openai_error(body, "invalid_request_error", "method_not_allowed")


def test_unknown_route_is_a_json_404(gateway: Gateway) -> None:
    status, headers, body = post(gateway, "/v1/nothing-here", {})
    assert status == 404 and headers["x-request-id"]
    assert_openai_error(body, "invalid_request_error", "unknown_route")


def test_a_caller_who_leaves_mid_stream_closes_the_upstream(
    gateway: Gateway, router: FakeRouter
) -> None:
    # A stream that would take a minute: the gateway must hang up on it at once.
    router.script("POST", CHAT, chat_stream([chunk(f"w{i} ") for i in range(300)], delay=0.2))
    port = int(gateway.url.rsplit(":", 1)[1])
    body = json.dumps(chat(stream=True)).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
        b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    received = b""
    while received.count(b"data: ") < 2:
        part = sock.recv(65536)
        assert part, "the gateway closed the stream early"
        received += part
    streaming = len(router._writers)
    assert streaming >= 1
    sock.close()
    deadline = time.monotonic() + 20  # the whole stream would take 60 s
    while len(router._writers) >= streaming and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(router._writers) < streaming, "the upstream connection stayed open"
    log = gateway.output()
    deadline = time.monotonic() + 10
    while '"status":499' not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = gateway.output()
    assert '"status":499' in log


@pytest.fixture(scope="module")
def keyed_gateway(
    router: FakeRouter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("keyed_home")
    keyed = {"HF_TOKEN": SERVER_TOKEN, "HFINFER_SERVE_API_KEY": "sk-gate"}
    with serving_gateway(router.url, home, **keyed) as started:
        yield started


def test_api_key_is_required_when_set(keyed_gateway: Gateway) -> None:
    status, headers, body = post(keyed_gateway, CHAT, chat())
    assert status == 401 and headers["x-should-retry"] == "false"
    assert_openai_error(body, "invalid_request_error", "invalid_api_key")
    wrong = openai.OpenAI(base_url=keyed_gateway.v1, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="org/chat", messages=USER)
    right = openai.OpenAI(base_url=keyed_gateway.v1, api_key="sk-gate", max_retries=0)
    assert right.chat.completions.create(model="org/chat", messages=USER).choices


def test_health_needs_no_key_and_asks_no_upstream(
    keyed_gateway: Gateway, router: FakeRouter
) -> None:
    before = len(router.requests)
    status, headers, data = get(keyed_gateway, "/health")
    assert status == 200 and json.loads(data) == {"status": "ok"} and headers["x-request-id"]
    assert len(router.requests) == before


def test_listening_beyond_loopback_needs_a_key() -> None:
    # A host that is not loopback and could never be bound: were the check gone, the
    # command would fail to listen rather than serve on every interface.
    result = CliRunner().invoke(cli, ["serve", "--host", "gateway.invalid", "--port", "0"])
    assert result.exit_code == 2
    assert "without an API key" in result.output and "--insecure-no-auth" in result.output


class HangingRouter:
    """A router that reads a request and never answers; notes when the peer hangs up."""

    def __init__(self) -> None:
        self.requests = 0
        self.hung_up = 0
        self.url = ""

    async def serve(self, reader: Any, writer: Any) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        await reader.read()  # returns at EOF: the gateway closed the connection
        self.hung_up += 1
        writer.close()

    async def start(self) -> None:
        import asyncio

        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def hanging(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import asyncio
    import threading

    upstream = HangingRouter()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(upstream.start(), loop).result(10)
    home = tmp_path_factory.mktemp("hanging_home")
    env = gateway_env(router.url, home, HF_TOKEN=SERVER_TOKEN, HF_ROUTER_URL=upstream.url)
    started = start_gateway([], env, home / "serve.log")
    try:
        yield started, upstream
    finally:
        started.stop()
        asyncio.run_coroutine_threadsafe(upstream.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("stream", [True, False])
def test_a_caller_who_leaves_before_the_first_byte_closes_the_upstream(
    hanging: Any, stream: bool
) -> None:
    gateway, upstream = hanging
    asked, before = upstream.requests, upstream.hung_up
    port = int(gateway.url.rsplit(":", 1)[1])
    body = json.dumps(chat(stream=stream)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
            b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        deadline = time.monotonic() + 30
        while upstream.requests == asked and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.requests > asked, "the gateway never called the upstream"
    deadline = time.monotonic() + 20  # the upstream would wait forever
    while upstream.hung_up == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.hung_up > before, "the upstream request went on after the caller left"
