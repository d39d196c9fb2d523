"""``POST /v1/responses`` end to end: the ``openai`` package against ``hfinfer serve``.

Two gateway subprocesses in front of one local server on a thread (the Hub,
the router's routes with its own ``/v1/responses``, and a TGI model):

- ``gateway`` relays router-served models to the router's ``/v1/responses``,
  bridges the TGI upstream over chat, and keeps responses in a SQLite file;
- ``bridging`` (``HFINFER_RESPONSES_RELAY=0``, no store) bridges the router's
  models over chat completions too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from gatewayproc import Gateway, gateway_env, start_gateway
from hfserver import Reply, json_reply, running_in_thread
from routerserver import FakeRouter, chat_stream, chunk, completion, openai_error

SERVER_TOKEN = "hf_server_side_secret_token"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
#: A chat template that renders every turn, tool calls and results included.
TEMPLATE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}"
    "{% for c in m.tool_calls or [] %}[call {{ c.id }} {{ c.function.name }} "
    "{{ c.function.arguments }}]{% endfor %}"
    "{% if m.tool_call_id %}[result of {{ m.tool_call_id }}]{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


# -- the router's own Responses API, as the local server answers it ---------------


def last_text(body: dict[str, Any]) -> str:
    """The last user text or tool output of a Responses input."""
    items = body["input"]
    if isinstance(items, str):
        return items
    item = items[-1]
    if item.get("type") == "function_call_output":
        return f"tool said {item['output']}"
    content = item["content"]
    return content if isinstance(content, str) else content[-1]["text"]


def router_output(body: dict[str, Any]) -> list[dict[str, Any]]:
    wants_tool = body.get("tools") and not any(
        isinstance(i, dict) and i.get("type") == "function_call_output" for i in body["input"]
    )
    if wants_tool:
        call = {"type": "function_call", "id": "fc_r1", "call_id": "call_r1"}
        return [{**call, "name": "get_weather", "arguments": '{"city":"Paris"}'}]
    text = f"Relayed: {last_text(body)}"
    return [{"type": "message", "id": "msg_r1", "status": "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": text, "annotations": []}]}]  # fmt: skip


def router_response(body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_router_1", "object": "response", "created_at": 1, "status": status,
        "model": body["model"], "output": router_output(body) if status != "in_progress" else [],
        "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
        "metadata": {}, "parallel_tool_calls": True, "temperature": None, "top_p": None,
        "tool_choice": "auto", "tools": body.get("tools") or [],
        "usage": {"input_tokens": 4, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 6},
    }  # fmt: skip


def router_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The router's event stream for a text answer, written out by hand."""
    done = router_response(body)
    item = done["output"][0]
    text = item["content"][0]["text"]
    where = {"item_id": item["id"], "output_index": 0}
    started = {**item, "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": router_response(body, "in_progress")},
        {"type": "response.in_progress", "response": router_response(body, "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": started},
        {"type": "response.content_part.added", **where, "content_index": 0, "part": part},
        {"type": "response.output_text.delta", **where, "content_index": 0,
         "delta": text[:5], "logprobs": []},
        {"type": "response.output_text.delta", **where, "content_index": 0,
         "delta": text[5:], "logprobs": []},
        {"type": "response.output_text.done", **where, "content_index": 0, "text": text,
         "logprobs": []},
        {"type": "response.content_part.done", **where, "content_index": 0,
         "part": item["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": done},
    ]  # fmt: skip
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


class ResponsesRouter(FakeRouter):
    """The local router, serving ``POST /v1/responses`` as well."""

    def _route(self, request: Any) -> Reply:
        scripted = self._scripts.get((request.method, request.path))
        if request.method == "POST" and request.path == "/v1/responses" and not scripted:
            body = request.json()
            if not body.get("stream"):
                return json_reply(router_response(body), **{"x-request-id": "router-req-1"})
            frames = [
                f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
                for e in router_events(body)
            ]
            return Reply(200, {"content-type": "text/event-stream"}, chunks=frames)
        return super()._route(request)


def tool_or_words(request: Any) -> Reply:
    """The router's chat: a tool call while a tool is offered and unused, else words."""
    body = request.json()
    used = any(m.get("role") == "tool" for m in body["messages"])
    if body.get("tools") and not used:
        call = {"index": 0, "id": "call_w1", "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}  # fmt: skip
        if not body.get("stream"):
            message = {"tool_calls": [{k: v for k, v in call.items() if k != "index"}]}
            return json_reply(completion(None, finish="tool_calls", **message))
        return chat_stream([chunk(None, tool_calls=[call]), chunk(None, finish="tool_calls")])
    words = ["Sunny", " in", " Paris"] if used else ["Hello", " there", "!"]
    if not body.get("stream"):
        return json_reply(completion("".join(words)))
    usage = {"prompt_tokens": 9, "completion_tokens": 3}
    return chat_stream([chunk(w) for w in words] + [chunk("", finish="stop"),
                        chunk(usage=usage, choices=False)])  # fmt: skip


@pytest.fixture(scope="module")
def router() -> Iterator[ResponsesRouter]:
    server = ResponsesRouter()
    server.add_chat_model("org/chat")
    server.chat_handlers["org/chat"] = tool_or_words
    server.add_text_model("org/tgi", ["Hello", " from", " TGI"], template=TEMPLATE)
    with running_in_thread(server):
        yield server


def _start(router: FakeRouter, home: Any, config: str, **env: str) -> Gateway:
    (home / "serve.toml").write_text(config, encoding="utf-8")
    environment = gateway_env(router.url, home, HF_TOKEN=SERVER_TOKEN, HFINFER_MAX_RETRIES="0",
                              **env)  # fmt: skip
    return start_gateway(["--config", str(home / "serve.toml")], environment, home / "serve.log")


@pytest.fixture(scope="module")
def gateway(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("responses_gateway")
    config = (
        f'[server]\nlog_db = "{home / "log.db"}"\n\n'
        f'[upstreams.tgi]\nroute = "tgi"\napi_base = "{router.url}"\n'
        'models = ["org/tgi"]\n'
    )
    started = _start(router, home, config)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def bridging(router: FakeRouter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    home = tmp_path_factory.mktemp("bridging_gateway")
    started = _start(router, home, "", HFINFER_RESPONSES_RELAY="0")
    try:
        yield started
    finally:
        started.stop()


def client_of(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key="unused", max_retries=0, timeout=60)


# -- relayed to the router's /v1/responses ----------------------------------------


def test_a_router_model_is_relayed_whole(gateway: Gateway, router: FakeRouter) -> None:
    raw = client_of(gateway).responses.with_raw_response.create(
        model="org/chat", input="Hi", instructions="Be brief", metadata={"k": "v"}
    )
    response = raw.parse()
    assert response.output_text == "Relayed: Hi"
    assert response.id == "resp_router_1" and response.usage is not None
    assert raw.headers["x-request-id"] == "router-req-1"
    sent = router.last("POST", "/v1/responses")
    assert sent.json()["instructions"] == "Be brief" and sent.json()["metadata"] == {"k": "v"}
    assert sent.headers["authorization"] == f"Bearer {SERVER_TOKEN}"
    assert SERVER_TOKEN not in raw.text


def test_a_router_model_is_relayed_streamed(gateway: Gateway) -> None:
    events = list(client_of(gateway).responses.create(model="org/chat", input="Hi", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (
        "Relayed: Hi"
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_relayed_function_tools_and_a_tool_result_round_trip(gateway: Gateway) -> None:
    client = client_of(gateway)
    first = client.responses.create(model="org/chat", input="Weather in Paris?", tools=[WEATHER])
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    second = client.responses.create(
        model="org/chat",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert second.output_text == "Relayed: tool said sunny"


def test_a_router_refusal_before_the_first_byte_is_the_clients_error(
    gateway: Gateway, router: FakeRouter
) -> None:
    router.script("POST", "/v1/responses", openai_error("Slow down", 429, "rate_limit_error"))
    with pytest.raises(openai.RateLimitError, match="Slow down"):
        client_of(gateway).responses.create(model="org/chat", input="Hi")


# -- bridged over chat -------------------------------------------------------------


def test_a_tgi_model_is_bridged_whole(gateway: Gateway, router: FakeRouter) -> None:
    response = client_of(gateway).responses.create(
        model="org/tgi", input="Hi", instructions="Be brief", max_output_tokens=20,
        temperature=0.5, top_p=0.9,
    )  # fmt: skip
    assert response.output_text == "Hello from TGI"
    assert response.status == "completed" and response.model == "org/tgi"
    assert response.id.startswith("resp_") and response.instructions == "Be brief"
    assert response.usage is not None and response.usage.total_tokens > 0
    sent = router.last("POST", "/models/org/tgi").json()
    assert sent["inputs"] == "<|system|>Be brief\n<|user|>Hi\n<|assistant|>"
    assert sent["parameters"]["max_new_tokens"] == 20
    assert sent["parameters"]["temperature"] == 0.5 and sent["parameters"]["top_p"] == 0.9


def test_a_tgi_model_is_bridged_streamed_in_openais_order(gateway: Gateway) -> None:
    events = list(client_of(gateway).responses.create(model="org/tgi", input="Hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == "Hello from TGI"


def test_a_codex_shaped_exchange(gateway: Gateway, router: FakeRouter) -> None:
    """Codex sends the whole transcript every turn, store false, tool calls as items."""
    client = client_of(gateway)
    shell = {"type": "function", "name": "shell", "parameters": {"type": "object"},
             "strict": False, "description": "Run a command"}  # fmt: skip
    transcript: list[dict[str, Any]] = [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "Sandbox: read-only"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ls"}]},
    ]  # fmt: skip
    codex = {"store": False, "stream": True, "tools": [shell], "tool_choice": "auto",
             "parallel_tool_calls": False, "instructions": "You are Codex.",
             "reasoning": {"effort": "medium"}}  # fmt: skip
    extra = {"include": ["reasoning.encrypted_content"], "prompt_cache_key": "c-1"}
    for turn in range(3):
        events = list(
            client.responses.create(model="org/tgi", input=transcript, extra_body=extra, **codex)
        )
        final = events[-1].response
        assert events[-1].type == "response.completed" and final.store is False
        assert final.output_text == "Hello from TGI"
        transcript += [
            {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": final.output_text}]},
            {"type": "function_call", "call_id": f"call_{turn}", "name": "shell",
             "arguments": json.dumps({"command": ["ls"]})},
            {"type": "function_call_output", "call_id": f"call_{turn}", "output": "a.txt"},
        ]  # fmt: skip
    prompt = router.last("POST", "/models/org/tgi").json()["inputs"]
    assert prompt.startswith("<|system|>You are Codex.\n\nSandbox: read-only\n<|user|>ls\n")
    assert prompt.count("[call call_0 shell") == 1 and "[result of call_0]" in prompt
    assert prompt.count("<|assistant|>Hello from TGI[call call_1 shell") == 1
    assert prompt.endswith("<|tool|>a.txt[result of call_1]\n<|assistant|>")
    with pytest.raises(openai.BadRequestError, match="never stored"):
        client.responses.create(model="org/tgi", input="more", previous_response_id=final.id)


def test_bridged_function_tools_and_a_tool_result_round_trip(
    bridging: Gateway, router: FakeRouter
) -> None:
    client = client_of(bridging)
    first = client.responses.create(
        model="org/chat", input="Weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    call = first.output[0]
    assert call.type == "function_call" and call.call_id == "call_w1"
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    sent = router.last("POST", "/v1/chat/completions").json()
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": WEATHER["description"],
        "parameters": WEATHER["parameters"]}}]  # fmt: skip
    assert sent["tool_choice"] == "required"
    stream = client.responses.create(
        model="org/chat",
        tools=[WEATHER],
        stream=True,
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
        ],
    )
    events = list(stream)
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Sunny in Paris"
    assert events[-1].response.usage.input_tokens == 9
    messages = router.last("POST", "/v1/chat/completions").json()["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "call_w1"
    assert messages[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21 C"}


def test_a_streamed_tool_call_is_a_function_call_item(bridging: Gateway) -> None:
    events = list(
        client_of(bridging).responses.create(
            model="org/chat", input="Weather?", tools=[WEATHER], stream=True
        )
    )
    kinds = [e.type for e in events]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert done.arguments == '{"city":"Paris"}'
    assert events[-1].response.output[0].type == "function_call"


def test_a_failure_midway_ends_with_response_failed(bridging: Gateway, router: FakeRouter) -> None:
    router.chat_handlers["org/broken"] = lambda request: chat_stream(
        [chunk("Par"), {"error": {"message": "the provider fell over", "type": "server_error"}}]
    )
    router.models["org/broken"] = router.models["org/chat"]
    events = list(client_of(bridging).responses.create(model="org/broken", input="Hi", stream=True))
    assert events[-1].type == "response.failed"
    assert "the provider fell over" in events[-1].response.error.message
    assert events[-1].response.output_text == "Par"


def test_an_upstream_refusal_before_the_first_byte_is_the_clients_error(
    bridging: Gateway, router: FakeRouter
) -> None:
    router.script("POST", "/v1/chat/completions", openai_error("bad schema", 422))
    with pytest.raises(openai.UnprocessableEntityError, match="bad schema"):
        client_of(bridging).responses.create(model="org/chat", input="Hi", stream=True)


def test_json_schema_and_reasoning_effort_reach_the_chat_request(
    bridging: Gateway, router: FakeRouter
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    client_of(bridging).responses.create(
        model="org/chat", input="Hi", reasoning={"effort": "low"},
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema,
                         "strict": True}},
    )  # fmt: skip
    sent = router.last("POST", "/v1/chat/completions").json()
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert sent["reasoning_effort"] == "low"


# -- the store --------------------------------------------------------------------


def test_previous_response_id_continues_a_stored_conversation(
    gateway: Gateway, router: FakeRouter
) -> None:
    client = client_of(gateway)
    first = client.responses.create(model="org/chat", input="My name is Ada", store=True)
    assert first.output_text == "Relayed: My name is Ada"  # relayed, and kept here too
    second = client.responses.create(
        model="org/chat", input="What is my name?", previous_response_id=first.id,
        instructions="Answer in English",
    )  # fmt: skip
    assert second.output_text == "Hello there!" and second.previous_response_id == first.id
    messages = router.last("POST", "/v1/chat/completions").json()["messages"]
    assert messages == [
        {"role": "system", "content": "Answer in English"},
        {"role": "user", "content": "My name is Ada"},
        {"role": "assistant", "content": "Relayed: My name is Ada"},
        {"role": "user", "content": "What is my name?"},
    ]
    third = client.responses.create(
        model="org/tgi", input="And again?", previous_response_id=second.id
    )
    prompt = router.last("POST", "/models/org/tgi").json()["inputs"]
    assert "<|assistant|>Hello there!\n<|user|>And again?" in prompt
    assert "Answer in English" not in prompt  # instructions are not carried over
    assert client.responses.retrieve(third.id).output_text == "Hello from TGI"
    client.responses.delete(third.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(third.id)


def test_a_previous_response_id_without_a_store_is_refused_saying_so(bridging: Gateway) -> None:
    with pytest.raises(openai.BadRequestError, match="log database") as caught:
        client_of(bridging).responses.create(
            model="org/chat", input="Hi", previous_response_id="resp_123"
        )
    assert caught.value.code == "response_store_disabled"


def test_bad_requests_are_400_in_openais_shape(gateway: Gateway) -> None:
    request = urllib.request.Request(
        f"{gateway.v1}/responses", data=b'{"model": "org/tgi", "input": 5}',
        headers={"content-type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 400
    assert caught.value.headers["content-type"] == "application/json"
    error = json.loads(caught.value.read())["error"]
    caught.value.close()
    assert "input" in error["message"] and error["type"] == "invalid_request_error"


def test_the_chat_page_is_served_at_the_root(gateway: Gateway) -> None:
    with urllib.request.urlopen(f"{gateway.url}/", timeout=30) as answer:
        page = answer.read().decode()
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert '<script src="page/app.js" defer></script>' in page
    for name, kind in (("app.js", "text/javascript"), ("markdown.js", "text/javascript"),
                       ("style.css", "text/css")):  # fmt: skip
        with urllib.request.urlopen(f"{gateway.url}/page/{name}", timeout=30) as answer:
            assert answer.headers["content-type"].startswith(kind) and answer.read()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{gateway.url}/page/..%2Fapp.py", timeout=30)
    assert caught.value.code == 404
    caught.value.close()


def test_reasoning_streams_as_its_own_item_and_the_stream_helper_assembles_it(
    bridging: Gateway, router: FakeRouter
) -> None:
    router.models["org/think"] = router.models["org/chat"]
    router.chat_handlers["org/think"] = lambda request: chat_stream(
        [chunk(None, reasoning="Two and "), chunk(None, reasoning="two."), chunk("4"),
         chunk("", finish="stop")]
    )  # fmt: skip
    client = client_of(bridging)
    with client.responses.stream(model="org/think", input="2+2?") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.reasoning_text.delta") == 2
    assert kinds.index("response.reasoning_text.done") < kinds.index("response.output_text.delta")
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].content is not None
    assert final.output[0].content[0].text == "Two and two."
    assert final.output_text == "4"


@pytest.mark.parametrize("model", ["org/chat", "org/tgi"])  # relayed and bridged alike
def test_max_output_tokens_over_the_gateways_bound_is_refused(gateway: Gateway, model: str) -> None:
    with pytest.raises(openai.BadRequestError, match="limit of 32768"):
        client_of(gateway).responses.create(model=model, input="Hi", max_output_tokens=10**6)


async def test_the_async_client_streams_and_image_parts_reach_the_chat_request(
    bridging: Gateway, router: FakeRouter
) -> None:
    client = openai.AsyncOpenAI(base_url=bridging.v1, api_key="unused", max_retries=0, timeout=60)
    image = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": image, "detail": "low"},
    ]
    async with client:
        stream = await client.responses.create(
            model="org/chat", input=[{"role": "user", "content": content}], stream=True
        )
        events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "Hello there!"
    sent = router.last("POST", "/v1/chat/completions").json()["messages"]
    assert sent == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        }
    ]


@pytest.mark.parametrize("how", ["stream ends early", "connection breaks"])
def test_a_relayed_stream_cut_short_ends_with_an_error_event(
    gateway: Gateway, router: FakeRouter, how: str
) -> None:
    frames = [
        f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
        for e in router_events({"model": "org/chat", "input": "Hi"})
    ]
    if how == "stream ends early":
        reply = Reply(200, {"content-type": "text/event-stream"}, chunks=frames[:5])
    else:
        cut = sum(len(f) for f in frames[:5]) + 40  # inside the sixth event
        reply = Reply(200, {"content-type": "text/event-stream"}, chunks=frames, cut_after=cut)
    router.script("POST", "/v1/responses", reply)
    events = list(client_of(gateway).responses.create(model="org/chat", input="Hi", stream=True))
    assert [e.type for e in events[:5]] == [
        json.loads(f.split(b"data: ")[1])["type"] for f in frames[:5]
    ]
    assert events[-1].type == "error" and events[-1].sequence_number == 5
    assert len(events) == 6 and events[-1].message
