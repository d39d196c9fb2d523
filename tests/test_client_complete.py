"""AsyncClient.complete: a raw prompt continued with the text-generation protocol."""

from __future__ import annotations

import pytest

from hfinfer import AsyncClient, InvalidRequestError
from hfserver import FakeHF

TEMPLATE = "{% for m in messages %}[{{ m['content'] }}]{% endfor %}"


async def test_complete_sends_the_prompt_as_it_is(hf: FakeHF) -> None:
    hf.add_text_model("org/m", ["a", "b"], template=TEMPLATE)
    async with AsyncClient(api_base=hf.url, route="tgi") as client:
        reply = await client.complete("org/m", "<fim_prefix>x = ", max_tokens=3)
        assert reply.text == "ab"
        stream = await client.complete("org/m", "raw", stream=True)
        async with stream:
            assert "".join([c async for c in stream if isinstance(c, str)]) == "ab"
    sent = [r.json() for r in hf.requests if r.method == "POST"]
    # The prompts went as they were: no template around them.
    assert [s["inputs"] for s in sent] == ["<fim_prefix>x = ", "raw"]
    assert sent[0]["parameters"]["max_new_tokens"] == 3


async def test_complete_on_the_router_uses_its_text_generation_route(hf: FakeHF) -> None:
    hf.add_text_model("org/m", ["z"])
    async with AsyncClient() as client:  # the router route; HFINFER_API_BASE is the server
        assert client.route == "router"
        assert (await client.complete("org/m", "go")).text == "z"
    assert hf.last("POST", "/models/org/m").json()["inputs"] == "go"


async def test_complete_needs_a_string() -> None:
    with pytest.raises(InvalidRequestError):
        await AsyncClient(route="tgi", api_base="http://127.0.0.1:9").complete("m", ["x"])  # type: ignore[call-overload]
