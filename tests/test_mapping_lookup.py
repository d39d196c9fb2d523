"""The router's optional provider-mapping lookup when the Hub misbehaves.

Through Hugging Face's router, the Hub is asked which providers serve a model.
That answer is optional: when the Hub refuses or stalls, the call goes on after
a short, separate timeout and at most one retry; the failure is remembered
(no second wait on the next call) and warned about once per model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from hfinfer import HuggingFaceRouter
from hfinfer.errors import ModelNotFoundError
from ownserver import BadHub
from routerserver import FakeRouter, clear_router_caches

USER = [{"role": "user", "content": "Hi"}]


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    server = FakeRouter()
    server.add_chat_model("org/m")
    async with server:
        monkeypatch.setenv("HF_ROUTER_URL", server.url)
        monkeypatch.setattr(HuggingFaceRouter, "mapping_timeout", 1.0)
        clear_router_caches()
        yield server
        clear_router_caches()


async def text(model: str = "org/m") -> str:
    call = HuggingFaceRouter.create_async(model, USER)
    return await asyncio.wait_for(call, 60)  # a hang fails the test, not the suite


# "503" rather than a reset connection: aiohttp itself sends a GET again once after a
# reset, below hfinfer's retries, which would blur the count of hfinfer's own attempts.
@pytest.mark.parametrize("mode", ["503", "stall"])
async def test_a_failing_hub_costs_one_short_wait_and_one_warning(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.WARNING)
    async with BadHub(mode) as hub:  # type: ignore[arg-type]
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert await text() == "Hello world!"
        asked = len(hub.requests)
        assert 1 <= asked <= 2  # at most one retry
        for _ in range(3):
            assert await text() == "Hello world!"
        assert len(hub.requests) == asked  # the failure is remembered
    warnings = [r for r in caplog.records if "org/m" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert router.count("POST", "/v1/chat/completions") == 4


async def test_the_lookup_has_its_own_timeout(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The call's own timeout is ten minutes; the stalled Hub must not hold it that long.
    async with BadHub("stall") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        reply = HuggingFaceRouter.create_async("org/m", USER, timeout=600)
        assert await asyncio.wait_for(reply, 60) == "Hello world!"


async def test_a_missing_model_is_remembered_too(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with BadHub("404") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        for _ in range(3):
            with pytest.raises(ModelNotFoundError):
                await text("org/nope")
        assert len(hub.requests) == 1
    assert router.count("POST", "/v1/chat/completions") == 0


async def test_a_closed_hub_port_is_remembered(
    router: FakeRouter, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    for _ in range(3):
        assert await text() == "Hello world!"
    assert len([r for r in caplog.records if "org/m" in r.getMessage()]) == 1
