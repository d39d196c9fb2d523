"""The local test server grown with the Inference Providers router's routes.

``FakeRouter`` is :class:`hfserver.FakeHF` (the Hub and the TGI routes) plus:

- ``POST /v1/chat/completions``: OpenAI's chat protocol, answered per model
  (the ``model:suffix`` is dropped to find it); a model nobody serves gets
  the router's 400 "not supported by any provider you have enabled";
- ``GET /v1/models``: :attr:`FakeRouter.router_models`;
- ``POST /{provider}/v1/images/generations`` and ``POST /fal-ai/...``:
  :attr:`FakeRouter.image_routes` by provider;
- ``POST /hf-inference/models/{id}``: the TGI/image routes of ``FakeHF``.

Scripted replies (``script()``) win over all of these, as in ``FakeHF``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from hfinfer.providers.hf_router import HuggingFaceRouter
from hfserver import CASSETTES, FakeHF, Recorded, Reply, json_reply, text_model

TAPES = CASSETTES / "huggingface_js" / "tapes__2025-04-22_457119eb.json"


def openai_error(message: str, status: int = 400, kind: str = "invalid_request_error") -> Reply:
    """An error in OpenAI's shape, as the router sends it."""
    return json_reply({"error": {"message": message, "type": kind, "param": None}}, status)


def chunk(
    content: str | None = None,
    *,
    reasoning: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    choices: bool = True,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``."""
    delta: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def chat_stream(chunks: list[Any], *, done: bool = True, delay: float = 0.0) -> Reply:
    """``data: {...}`` events, one HTTP chunk each, then ``data: [DONE]``."""
    frames = [
        b"data: " + (c if isinstance(c, bytes) else json.dumps(c).encode()) + b"\n\n"
        for c in chunks
    ]
    if done:
        frames.append(b"data: [DONE]\n\n")
    return Reply(200, {"content-type": "text/event-stream"}, chunks=frames, delay=delay)


def completion(
    content: str | None, *, finish: str = "stop", usage: tuple[int, int] = (5, 3), **message: Any
) -> dict[str, Any]:
    """A whole ``chat.completion``."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def words_reply(request_json: dict[str, Any], words: list[str]) -> Reply:
    """The default answer: ``words`` streamed (with usage when asked) or whole."""
    if not request_json.get("stream"):
        return json_reply(completion("".join(words)))
    chunks = [chunk(w) for w in words] + [chunk("", finish="stop")]
    if (request_json.get("stream_options") or {}).get("include_usage"):
        chunks.append(chunk(usage={"prompt_tokens": 5, "completion_tokens": 3}, choices=False))
    return chat_stream(chunks)


def mapping(**providers: str | tuple[str, str]) -> dict[str, dict[str, str]]:
    """``inferenceProviderMapping``: ``together="conversational"`` or ``("task", "status")``."""
    out = {}
    for name, value in providers.items():
        task, status = (value, "live") if isinstance(value, str) else value
        out[name.replace("_", "-")] = {"status": status, "providerId": f"{name}/m", "task": task}
    return out


class FakeRouter(FakeHF):
    """The Hub, the TGI routes and the router's routes in one local server."""

    def __init__(self) -> None:
        super().__init__()
        self.chat_handlers: dict[str, Callable[[Any], Reply]] = {}
        self.router_models: list[dict[str, Any]] = []
        self.image_routes: dict[str, Callable[[Any], Reply]] = {}

    def add_chat_model(
        self,
        model_id: str,
        words: list[str] | None = None,
        *,
        providers: dict[str, Any] | None = None,
        template: str | None = None,
    ) -> dict[str, Any]:
        """A chat model the router serves (by default through together)."""
        info = text_model(model_id, template=template)
        info["inferenceProviderMapping"] = (
            mapping(together="conversational") if providers is None else providers
        )
        self.models[model_id] = info
        answer = words or ["Hello", " world", "!"]
        self.chat_handlers[model_id] = lambda request: words_reply(request.json(), answer)
        return info

    def _route(self, request: Any) -> Reply:
        if self._scripts.get((request.method, request.path)):
            return super()._route(request)
        path = request.path
        if request.method == "POST" and path == "/v1/chat/completions":
            model = str(request.json().get("model", "")).rpartition(":")
            name = model[0] or model[2]
            handler = self.chat_handlers.get(name)
            if handler is None:
                return openai_error(
                    f"The requested model '{name}' is not supported by any provider you have "
                    "enabled."
                )
            return handler(request)
        if request.method == "GET" and path == "/v1/models":
            return json_reply({"object": "list", "data": self.router_models})
        provider = path.strip("/").split("/", 1)[0]
        if request.method == "POST" and provider in self.image_routes:
            return self.image_routes[provider](request)
        if request.method == "POST" and path.startswith("/hf-inference/models/"):
            request = dataclasses.replace(request, path=path.removeprefix("/hf-inference"))
        return super()._route(request)


@asynccontextmanager
async def serve_router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRouter]:
    """A started :class:`FakeRouter`; the Hub, the inference base and the router point at it."""
    server = FakeRouter()
    await server.start()
    for name in ("HF_ENDPOINT", "HFINFER_API_BASE", "HF_ROUTER_URL"):
        monkeypatch.setenv(name, server.url)
    clear_router_caches()
    try:
        yield server
    finally:
        clear_router_caches()
        await server.stop()


def clear_router_caches() -> None:
    # Ports are reused between tests: an answer kept in memory must not leak into the next.
    HuggingFaceRouter.router_models.clear()
    HuggingFaceRouter.provider_mappings.clear()
    HuggingFaceRouter.mapping_failures.clear()
    HuggingFaceRouter.models = []


def load_tape(key_prefix: str) -> Recorded:
    """One exchange of huggingface.js's recorded tapes (text bodies only)."""
    tapes = json.loads(TAPES.read_text(encoding="utf-8"))
    key = next(k for k in tapes if k.startswith(key_prefix))
    tape = tapes[key]
    response = tape["response"]
    headers = {k.lower(): v for k, v in response["headers"].items()}
    return Recorded(
        tape["init"].get("method", "GET"),
        tape["url"],
        tape["init"].get("body"),
        int(response["status"]),
        headers,
        response["body"].encode("utf-8"),
    )


def snapshot_stream(name: str) -> list[dict[str, Any]]:
    """The parsed chunks of a TGI integration-test snapshot (``tgi_snapshots/<name>``)."""
    return json.loads((CASSETTES / "tgi_snapshots" / name).read_text(encoding="utf-8"))
