"""Hugging Face credentials go to Hugging Face hosts only (issue 11, point 1).

A model given as a URL, or an ``api_base`` of another server, must never
receive the environment's token; a key for that server is sent when the
caller passes it for the call, or when its host is opted in
(``HFINFER_TOKEN_HOSTS``). An endpoint's ``/info`` is data from that server:
what it names is checked before the Hub is asked about it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hfinfer import HuggingFaceInference
from hfinfer.hosts import is_hf_host
from hfserver import FakeHF, json_reply, stream_reply, tgi_events
from ownserver import FakeTGI

ENV_TOKEN = "hf_operator_secret"
USER = [{"role": "user", "content": "Say hello"}]


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co",
        "https://router.huggingface.co/v1",
        "https://router.huggingface.co/hf-inference",
        "https://abc123.us-east-1.aws.endpoints.huggingface.cloud",
        "https://hf.co/api/models/x",
        "https://HUGGINGFACE.CO./api",
    ],
)
def test_hugging_face_hosts(url: str) -> None:
    assert is_hf_host(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://endpoints.huggingface.cloud.evil.example",
        "https://huggingface.co.evil.example/api",
        "https://evilhuggingface.co",
        "https://nothf.co",
        "http://127.0.0.1:8080",
        "http://localhost:11434/v1",
        "https://user@evil.example/@huggingface.co",
        "not a url",
    ],
)
def test_other_hosts(url: str) -> None:
    assert not is_hf_host(url)


def test_configured_hub_and_router_are_trusted_by_origin() -> None:
    trusted = ("http://127.0.0.1:5000", "https://hub.internal.example")
    assert is_hf_host("http://127.0.0.1:5000/api/models/x", trusted)
    assert not is_hf_host("http://127.0.0.1:5001/", trusted)  # another port, another server
    assert not is_hf_host("https://127.0.0.1:5000/", trusted)  # another scheme
    assert is_hf_host("https://hub.internal.example/x", trusted)
    assert not is_hf_host("https://evil.hub.internal.example/x", trusted)


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeHF]:
    async with FakeHF() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", ENV_TOKEN)
        yield server


async def collect(model: str, **kwargs: object) -> str:
    parts = [
        c
        async for c in HuggingFaceInference.create_async_generator(model, USER, **kwargs)
        if isinstance(c, str)
    ]
    return "".join(parts)


async def test_a_model_url_on_another_host_gets_no_token(hub: FakeHF) -> None:
    async with FakeTGI() as other:
        assert await collect(other.url) == "From TGI"
        assert [r.path for r in other.requests] == ["/info", "/"]
        for request in other.requests:
            assert "authorization" not in request.headers
    assert hub.requests == []  # a server of the user's own: no Hub question either


async def test_a_key_passed_for_the_call_goes_to_that_server_only(hub: FakeHF) -> None:
    async with FakeTGI() as other:
        assert await collect(other.url, api_key="sk-endpoint") == "From TGI"
        assert {r.headers.get("authorization") for r in other.requests} == {"Bearer sk-endpoint"}
    assert hub.requests == []


async def test_opted_in_host_gets_the_token(hub: FakeHF, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFINFER_TOKEN_HOSTS", "localhost, 127.0.0.1")
    async with FakeTGI() as other:
        await collect(other.url)
        assert other.last("POST", "/").headers["authorization"] == f"Bearer {ENV_TOKEN}"


async def test_bill_to_goes_to_hugging_face_only(
    hub: FakeHF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_BILL_TO", "my-org")
    async with FakeTGI() as other:
        await collect(other.url)
        assert all("x-hf-bill-to" not in r.headers for r in other.requests)


@pytest.mark.parametrize(
    "served",
    ["../../api/whoami-v2", "org/m?x=1", "%2e%2e/x", 42, None, "", "a" * 200, ["org/m"]],
)
async def test_endpoint_info_is_checked_before_the_hub_is_asked(
    hub: FakeHF, served: object
) -> None:
    # The endpoint is on the configured Hub's origin, so it counts as Hugging Face's:
    # a valid model id would be looked up; these are not, and nothing is asked.
    hub.add_text_model("org/m")
    hub.script("GET", "/info", json_reply({"model_id": served}))
    hub.script("POST", "/", stream_reply(tgi_events(["ok"])))
    assert await collect(hub.url) == "ok"
    assert hub.count("GET", "/api/") == 0 and hub.count("GET", "/org/") == 0


async def test_endpoint_info_naming_a_valid_model_uses_its_template(hub: FakeHF) -> None:
    hub.add_text_model(
        "org/served", template="{% for m in messages %}<{{ m.content }}>{% endfor %}"
    )
    hub.script("GET", "/info", json_reply({"model_id": "org/served"}))
    hub.script("POST", "/", stream_reply(tgi_events(["ok"])))
    assert await collect(hub.url) == "ok"
    assert hub.last("POST", "/").json()["inputs"] == "<Say hello>"
    assert hub.last("GET", "/api/models/").headers["authorization"] == f"Bearer {ENV_TOKEN}"
