"""``hfinfer serve`` end to end: models, images, render, health, metrics, and what a
config file sets (aliases with fallback, an upstream of one's own, the
allow-list, dropped fields, forwarded tokens, logged prompts)."""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from gatewayproc import Gateway, gateway_env, start_gateway
from hfserver import PNG_1PX, Reply, running_in_thread
from routerserver import FakeRouter, json_reply, mapping, openai_error, words_reply

SERVER_TOKEN = "hf_server_side_secret_token"
USER = [{"role": "user", "content": "Hi"}]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def offer(provider: str) -> dict[str, Any]:
    return {
        "provider": provider,
        "status": "live",
        "context_length": 131072,
        "pricing": {"input": 0.1, "output": 0.3},
        "supports_tools": True,
        "supports_structured_output": True,
    }


@pytest.fixture(scope="module")
def router() -> Iterator[FakeRouter]:
    server = FakeRouter()
    server.add_chat_model("org/chat", ["Hello", " there", "!"])
    server.add_chat_model("org/busy", ["never"])
    server.add_chat_model("org/tmpl", template=TEMPLATE)
    server.add_text_model("org/tgi-m", ["Raw", " words"])
    server.models["org/img"] = {
        "id": "org/img",
        "pipeline_tag": "text-to-image",
        "inferenceProviderMapping": mapping(together="text-to-image"),
    }
    encoded = base64.b64encode(PNG_1PX).decode()
    server.image_routes["together"] = lambda request: json_reply({"data": [{"b64_json": encoded}]})
    server.router_models = [
        {
            "id": "org/chat",
            "object": "model",
            "created": 1700000000,
            "owned_by": "org",
            "providers": [offer("together"), offer("cerebras")],
        },
        {"id": "org/other", "object": "model", "owned_by": "org", "providers": [offer("novita")]},
    ]
    with running_in_thread(server):
        yield server


def _start(router: FakeRouter, folder: Path, args: list[str], **env: str) -> Gateway:
    environment = gateway_env(
        router.url, folder, HF_TOKEN=SERVER_TOKEN, HFINFER_MAX_RETRIES="0", **env
    )
    return start_gateway(args, environment, folder / "serve.log")


@pytest.fixture(scope="module")
def gateway(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    started = _start(router, tmp_path_factory.mktemp("plain"), [])
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def own() -> Iterator[FakeRouter]:
    """An OpenAI-compatible server of one's own (another host than the router)."""
    server = FakeRouter()
    server.chat_handlers["local-llama"] = lambda request: words_reply(request.json(), ["Own", "!"])
    with running_in_thread(server):
        yield server


@pytest.fixture(scope="module")
def configured(
    router: FakeRouter, own: FakeRouter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("configured")
    config = folder / "serve.toml"
    config.write_text(
        f"""
[server]
models = ["org/chat", "org/img"]
max_n = 2

[models.fast]
use = ["org/busy", "org/chat"]

[models.strict]
use = ["org/busy", "org/chat"]

[upstreams.oai]
api_base = "{own.url}/v1"
route = "openai"
api_key = "sk-oai-key"
models = ["local-llama"]

[upstreams.mine]
api_base = "{router.url}"
route = "tgi"
api_key_env = "MINE_KEY"
models = ["org/tgi-m"]
""",
        encoding="utf-8",
    )
    started = _start(
        router,
        folder,
        ["--config", str(config), "--drop-params", "--log-prompts", "--forward-client-token"],
        MINE_KEY="hf_mine_key",
    )
    try:
        yield started
    finally:
        started.stop()


def client_for(gateway: Gateway, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0, timeout=60)


# -- models -------------------------------------------------------------------------


def test_models_list_keeps_the_provider_block(gateway: Gateway) -> None:
    models = client_for(gateway).models.list()
    ids = [m.id for m in models.data]
    assert ids == ["org/chat", "org/other"]
    first = models.data[0].model_dump()
    assert first["owned_by"] == "org" and first["object"] == "model"
    assert first["providers"][0] == offer("together")


def test_one_model_by_an_id_with_a_slash(gateway: Gateway) -> None:
    model = client_for(gateway).models.retrieve("org/chat")
    assert model.id == "org/chat" and model.created == 1700000000
    assert model.model_dump()["providers"][1]["provider"] == "cerebras"
    with pytest.raises(openai.NotFoundError):
        client_for(gateway).models.retrieve("org/nothing")


def test_models_list_follows_the_allow_list_with_aliases_and_upstreams(configured: Gateway) -> None:
    ids = [m.id for m in client_for(configured).models.list().data]
    assert ids == ["fast", "strict", "local-llama", "org/tgi-m", "org/chat"]


# -- health and metrics -------------------------------------------------------------


def test_metrics_count_requests_tokens_and_latency(gateway: Gateway) -> None:
    client_for(gateway).chat.completions.create(model="org/chat", messages=USER)
    with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
        assert answer.headers["content-type"].startswith("text/plain")
    assert 'hfinfer_requests_total{route="chat",status="200"}' in text
    assert 'hfinfer_tokens_total{kind="completion",route="chat"}' in text
    assert "hfinfer_request_duration_seconds_bucket" in text
    assert "hfinfer_time_to_first_token_seconds" in text


# -- images -------------------------------------------------------------------------


def test_image_as_base64_by_default(gateway: Gateway, router: FakeRouter) -> None:
    result = client_for(gateway).images.generate(
        model="org/img", prompt="a dot", size="512x256", extra_body={"seed": 3}
    )
    assert result.data is not None and len(result.data) == 1
    assert base64.b64decode(result.data[0].b64_json or "") == PNG_1PX
    sent = router.last("POST", "/together/").json()
    assert (sent["prompt"], sent["width"], sent["height"]) == ("a dot", 512, 256)


def test_image_urls_are_served_by_the_gateway(configured: Gateway) -> None:
    result = client_for(configured).images.generate(
        model="org/img", prompt="two dots", n=2, response_format="url"
    )
    assert result.data is not None and len(result.data) == 2
    urls = [item.url or "" for item in result.data]
    assert all(url.startswith(f"{configured.url}/v1/images/files/") for url in urls)
    with urllib.request.urlopen(urls[0], timeout=30) as answer:
        assert answer.read() == PNG_1PX and answer.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"size": "99999x10"}, "size"),
        ({"size": "big"}, "size"),
        ({"n": 3}, "n"),
        ({"response_format": "gif"}, "response_format"),
    ],
)
def test_image_bounds(configured: Gateway, fields: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(configured).images.generate(model="org/img", prompt="x", **fields)
    assert caught.value.body["param"] == param


# -- render -------------------------------------------------------------------------


def test_render_is_the_exact_prompt(gateway: Gateway) -> None:
    body = {"model": "org/tmpl", "messages": [{"role": "user", "content": "Hi"}]}
    status, answer = _post(gateway, "/v1/chat/completions/render", body)
    assert status == 200
    assert answer["prompt"] == "<|user|>Hi<|end|><|assistant|>"
    assert "chat_template" in answer["source"] and answer["model"] == "org/tmpl"


def _post(gateway: Gateway, path: str, body: Any, **headers: str) -> tuple[int, Any]:
    port = int(gateway.url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", path, json.dumps(body), {"content-type": "application/json", **headers}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


# -- config: aliases, upstreams, allow-list, flags ----------------------------------


def test_alias_falls_back_on_429_before_the_first_byte(
    configured: Gateway, router: FakeRouter
) -> None:
    router.chat_handlers["org/busy"] = lambda request: openai_error("busy", 429)
    events = list(
        client_for(configured).chat.completions.create(model="fast", messages=USER, stream=True)
    )
    assert "".join(e.choices[0].delta.content or "" for e in events if e.choices) == "Hello there!"
    models = [r.json()["model"] for r in router.requests if r.path == "/v1/chat/completions"]
    assert models[-2:] == ["org/busy", "org/chat"]


def test_alias_does_not_fall_back_on_a_client_error(
    configured: Gateway, router: FakeRouter
) -> None:
    router.chat_handlers["org/busy"] = lambda request: openai_error("no such thing", 422)
    before = sum(r.path == "/v1/chat/completions" for r in router.requests)
    with pytest.raises(openai.UnprocessableEntityError):
        client_for(configured).chat.completions.create(model="strict", messages=USER)
    assert sum(r.path == "/v1/chat/completions" for r in router.requests) == before + 1


def test_a_model_outside_the_allow_list_is_404(configured: Gateway, router: FakeRouter) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(configured).chat.completions.create(model="org/tmpl", messages=USER)
    assert caught.value.code == "model_not_found"


def test_own_tgi_upstream_with_its_own_key(configured: Gateway, router: FakeRouter) -> None:
    reply = client_for(configured).chat.completions.create(model="org/tgi-m", messages=USER)
    assert reply.choices[0].message.content == "Raw words"
    sent = router.last("POST", "/models/org/tgi-m")
    assert sent.headers["authorization"] == "Bearer hf_mine_key"


def test_own_openai_compatible_upstream(
    configured: Gateway, router: FakeRouter, own: FakeRouter
) -> None:
    events = list(
        client_for(configured).chat.completions.create(
            model="local-llama", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(e.choices[0].delta.content or "" for e in events if e.choices) == "Own!"
    assert events[-1].usage is not None
    sent = own.last("POST", "/v1/chat/completions")
    assert sent.json()["model"] == "local-llama"
    assert sent.headers["authorization"] == "Bearer sk-oai-key"  # its key, not the HF token
    assert router.count("GET", "/api/models/local-llama") == 0  # no Hub request


def test_drop_params_strips_unknown_fields(configured: Gateway, router: FakeRouter) -> None:
    client_for(configured).chat.completions.create(
        model="org/chat", messages=USER, extra_body={"top_k": 5}, seed=1
    )
    body = router.last("POST", "/v1/chat/completions").json()
    assert "top_k" not in body and body["seed"] == 1


def test_unknown_fields_pass_without_drop_params(gateway: Gateway, router: FakeRouter) -> None:
    client_for(gateway).chat.completions.create(
        model="org/chat", messages=USER, extra_body={"top_k": 5}
    )
    assert router.last("POST", "/v1/chat/completions").json()["top_k"] == 5


def test_client_token_is_forwarded_only_when_asked(
    gateway: Gateway, configured: Gateway, router: FakeRouter
) -> None:
    client_for(gateway, "hf_callers_own").chat.completions.create(model="org/chat", messages=USER)
    assert router.last("POST", "/v1/chat/completions").headers["authorization"] == (
        f"Bearer {SERVER_TOKEN}"
    )
    client_for(configured, "hf_callers_own").chat.completions.create(
        model="org/chat", messages=USER
    )
    assert router.last("POST", "/v1/chat/completions").headers["authorization"] == (
        "Bearer hf_callers_own"
    )


def test_bill_to_is_passed_through(gateway: Gateway, router: FakeRouter) -> None:
    status, _ = _post(
        gateway,
        "/v1/chat/completions",
        {"model": "org/chat", "messages": USER},
        **{"x-hf-bill-to": "my-org"},
    )
    assert status == 200
    assert router.last("POST", "/v1/chat/completions").headers["x-hf-bill-to"] == "my-org"


def test_log_prompts_puts_the_exchange_in_the_log(configured: Gateway) -> None:
    client_for(configured).chat.completions.create(
        model="org/chat", messages=[{"role": "user", "content": "log me 51ab"}]
    )
    lines = [json.loads(x) for x in configured.output().splitlines() if x.startswith("{")]
    logged = [line for line in lines if line.get("messages")]
    assert logged and logged[-1]["messages"][0]["content"] == "log me 51ab"
    assert logged[-1]["reply"] == "Hello there!"


def test_upstream_request_id_is_the_answer_id(gateway: Gateway, router: FakeRouter) -> None:
    reply = json_reply(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        },
        **{"x-request-id": "up-123"},
    )
    router.script("POST", "/v1/chat/completions", reply)
    raw = client_for(gateway).chat.completions.with_raw_response.create(
        model="org/chat", messages=USER
    )
    assert raw.headers["x-request-id"] == "up-123"


def test_error_request_id_is_the_upstreams(gateway: Gateway, router: FakeRouter) -> None:
    refused: Reply = openai_error("credits", 402)
    refused.headers["x-request-id"] = "up-402"
    router.script("POST", "/v1/chat/completions", refused)
    status, _ = _post(gateway, "/v1/chat/completions", {"model": "org/chat", "messages": USER})
    assert status == 402
    log = [json.loads(x) for x in gateway.output().splitlines() if x.startswith("{")]
    assert log[-1]["request_id"] == "up-402"


# -- completions --------------------------------------------------------------------


def test_completion_sends_the_raw_prompt(gateway: Gateway, router: FakeRouter) -> None:
    reply = client_for(gateway).completions.create(
        model="org/tgi-m", prompt="<s>def fib(n):", max_tokens=5, stop=["\n\n"]
    )
    assert reply.choices[0].text == "Raw words" and reply.object == "text_completion"
    sent = router.last("POST", "/models/org/tgi-m").json()
    assert sent["inputs"] == "<s>def fib(n):"  # no chat template around it
    assert sent["parameters"]["max_new_tokens"] == 5
    assert sent["parameters"]["stop"] == ["\n\n"]


async def test_completion_stream_async(gateway: Gateway) -> None:
    client = openai.AsyncOpenAI(base_url=gateway.v1, api_key="x", max_retries=0, timeout=60)
    async with client:
        stream = await client.completions.create(
            model="org/tgi-m", prompt="Once", stream=True, stream_options={"include_usage": True}
        )
        events = [event async for event in stream]
    assert "".join(e.choices[0].text for e in events if e.choices) == "Raw words"
    assert [e.choices[0].finish_reason for e in events if e.choices][-1] in ("stop", "length")
    assert events[-1].usage is not None and events[-1].choices == []


def test_completion_refuses_what_it_cannot_do(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(gateway).completions.create(model="org/tgi-m", prompt=["a", "b"])
    assert caught.value.body["param"] == "prompt"


# -- workers ------------------------------------------------------------------------


def test_workers_serve_the_same_port(router: FakeRouter, tmp_path: Path) -> None:
    started = _start(router, tmp_path, ["--workers", "2"])
    try:
        client = client_for(started)
        for _ in range(4):
            reply = client.chat.completions.create(model="org/chat", messages=USER)
            assert reply.choices[0].message.content == "Hello there!"
        deadline = time.monotonic() + 60  # a loaded machine starts the second one late
        while started.output().count("Started server process") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.output().count("Started server process") == 2
    finally:
        started.stop()
    assert started.process.returncode is not None


def test_n_above_one_is_refused_where_the_upstream_cannot(configured: Gateway) -> None:
    # TGI's own protocol makes one answer per request: refused before anything is sent.
    with pytest.raises(openai.BadRequestError):
        client_for(configured).chat.completions.create(model="org/tgi-m", messages=USER, n=2)


# -- embeddings ---------------------------------------------------------------------

PIPELINE = "/hf-inference/models/org/emb/pipeline/feature-extraction"


def _embedding_model(router: FakeRouter) -> None:
    offer = {"status": "live", "providerId": "org/emb", "task": "feature-extraction"}
    router.models["org/emb"] = {
        "id": "org/emb",
        "pipeline_tag": "feature-extraction",
        "inferenceProviderMapping": {"hf-inference": offer},
    }


def test_embeddings_as_floats_and_as_base64(gateway: Gateway, router: FakeRouter) -> None:
    _embedding_model(router)
    vectors = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.125]]
    router.script("POST", PIPELINE, json_reply(vectors), json_reply(vectors))
    client = client_for(gateway)
    floats = client.embeddings.create(model="org/emb", input=["a", "bb"], encoding_format="float")
    assert [item.embedding for item in floats.data] == vectors
    assert [item.index for item in floats.data] == [0, 1] and floats.model == "org/emb"
    # The openai client asks for base64 by default and decodes it itself.
    decoded = client.embeddings.create(model="org/emb", input=["a", "bb"])
    assert [item.embedding for item in decoded.data] == vectors
    assert router.last("POST", PIPELINE).json()["inputs"] == ["a", "bb"]


def test_embeddings_bounds(configured: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(configured).embeddings.create(model="org/emb", input=[])
    assert caught.value.body["param"] == "input"
# -- the SQLite log -----------------------------------------------------------------


def test_log_db_keeps_each_exchange(router: FakeRouter, tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "logs.db"
    started = _start(router, tmp_path, ["--log-db", str(database)])
    try:
        client_for(started).chat.completions.create(
            model="org/chat", messages=[{"role": "user", "content": "remember me"}]
        )
        list(
            client_for(started).chat.completions.create(
                model="org/chat", messages=USER, stream=True
            )
        )
    finally:
        started.stop()
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT model, output, status, input_messages, completion_tokens FROM turns "
            "ORDER BY created"
        ).fetchall()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("org/chat", "Hello there!", "done", 3), ("org/chat", "Hello there!", "done", 3)
    ]  # fmt: skip
    assert json.loads(rows[0][3])[0]["content"] == "remember me"


def test_log_db_flag_also_keeps_stored_responses(router: FakeRouter, tmp_path: Path) -> None:
    # One file for both: the exchanges as turns, and the Responses store's own table.
    database = tmp_path / "shared.db"
    started = _start(
        router, tmp_path, ["--log-db", str(database)], HFINFER_RESPONSES_RELAY="0"
    )
    try:
        client = client_for(started)
        first = client.responses.create(model="org/chat", input="My name is Ada", store=True)
        second = client.responses.create(
            model="org/chat", input="What is my name?", previous_response_id=first.id
        )
    finally:
        started.stop()
    assert second.previous_response_id == first.id and second.output_text == "Hello there!"
    import sqlite3

    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        turns = db.execute("SELECT count(*) FROM turns").fetchone()[0]
    assert "turns" in tables and any("response" in name for name in tables)
    assert turns >= 2
