"""Local servers of a user's own, and a Hub that misbehaves, for the "own server" tests.

- :class:`FakeOpenAI`: an OpenAI-compatible server (as llama.cpp's
  ``llama-server``, vLLM and ollama speak it) with model names of its own
  (``tiny-llama``, ``qwen2.5:7b``): ``GET /v1/models``, ``POST
  /v1/chat/completions`` streamed or whole, ``n=2`` streams whose events
  interleave ``choices[].index``, an optional key (401 without it). Every
  other path answers 404, as those servers do (``/v1/v1/...``, ``/info``).
- :class:`FakeTGI`: text-generation-inference's own protocol: ``GET /info``
  and the compat route ``POST /``; with ``messages_api=True`` also TGI's
  ``GET /v1/models`` and ``POST /v1/chat/completions`` (its Messages API).
- :class:`BadHub`: a Hub that refuses (resets every connection), stalls
  (accepts and never answers), is unavailable (503) or answers 404, counting
  what it is asked.

All are :class:`hfserver.FakeHF` underneath (the same byte-level HTTP), so
every request, headers and body, is in ``requests``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from hfserver import FakeHF, Reply, Request, json_reply, stream_reply, tgi_events

OWN_MODELS = ("tiny-llama", "qwen2.5:7b")


def openai_error(message: str, status: int, kind: str) -> Reply:
    return json_reply({"error": {"message": message, "type": kind, "code": status}}, status)


def answer_words(model: str, index: int = 0) -> list[str]:
    """What the server answers: its model's name in the text, so a test sees which one ran."""
    return [f"[{model}]", " choice", f" {index}"]


def _event(model: str, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-own",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _delta(index: int, content: str | None, finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": {"content": content}, "finish_reason": finish}


def openai_stream(model: str, n: int, include_usage: bool) -> Reply:
    """One event per word; with ``n > 1`` the choices take turns, word by word, and
    one event carries two choices at once (servers do both)."""
    words = [answer_words(model, i) for i in range(n)]
    frames = [_event(model, [{"index": i, "delta": {"role": "assistant"}} for i in range(n)])]
    for position in range(len(words[0])):
        if n > 1 and position == 1:
            frames.append(_event(model, [_delta(i, words[i][position]) for i in range(n)]))
            continue
        frames.extend(_event(model, [_delta(i, words[i][position])]) for i in range(n))
    frames.extend(_event(model, [_delta(i, None, "stop")]) for i in reversed(range(n)))
    if include_usage:
        frames.append(_event(model, [], {"prompt_tokens": 4, "completion_tokens": 3 * n}))
    frames.append(b"data: [DONE]\n\n")
    return Reply(200, {"content-type": "text/event-stream"}, chunks=frames)


def openai_completion(model: str, n: int) -> Reply:
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": "".join(answer_words(model, i))},
            "finish_reason": "stop",
        }
        for i in range(n)
    ]
    usage = {"prompt_tokens": 4, "completion_tokens": 3 * n, "total_tokens": 4 + 3 * n}
    return json_reply(
        {
            "id": "chatcmpl-own",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
    )


class FakeOpenAI(FakeHF):
    """An OpenAI-compatible server with its own model names (no Hub routes at all)."""

    def __init__(self, models: tuple[str, ...] = OWN_MODELS, api_key: str | None = None) -> None:
        super().__init__()
        self.served = list(models)
        self.api_key = api_key

    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def _route(self, request: Request) -> Reply:
        queued = self._scripts.get((request.method, request.path))
        if queued:
            return queued.pop(0)
        key = self.api_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return openai_error("Invalid API Key", 401, "authentication_error")
        if request.method == "GET" and request.path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "me"} for m in self.served]
            return json_reply({"object": "list", "data": data})
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._chat(request.json())
        return json_reply({"error": {"message": "File Not Found", "type": "not_found_error"}}, 404)

    def _chat(self, body: dict[str, Any]) -> Reply:
        model = body.get("model")
        if model not in self.served:
            return openai_error(f"model {model!r} not found", 404, "not_found_error")
        n = int(body.get("n") or 1)
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return openai_stream(str(model), n, usage)
        return openai_completion(str(model), n)


class FakeTGI(FakeHF):
    """text-generation-inference serving one model: ``/info`` and the compat route
    ``POST /``; with ``messages_api`` its OpenAI routes too (TGI 2 and later)."""

    def __init__(
        self,
        model_id: str = "org/tiny",
        *,
        messages_api: bool = False,
        info: Any = None,
        words: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.model_id = model_id
        self.messages_api = messages_api
        self.info = info if info is not None else {"model_id": model_id, "version": "3.0.1"}
        self.words = words or ["From", " TGI"]

    def _route(self, request: Request) -> Reply:
        queued = self._scripts.get((request.method, request.path))
        if queued:
            return queued.pop(0)
        if request.method == "GET" and request.path == "/info":
            return json_reply(self.info)
        if request.method == "POST" and request.path == "/":
            if request.json().get("stream"):
                return stream_reply(tgi_events(self.words))
            details = {"finish_reason": "eos_token", "generated_tokens": len(self.words) + 1}
            return json_reply([{"generated_text": "".join(self.words), "details": details}])
        if self.messages_api and request.method == "GET" and request.path == "/v1/models":
            # TGI lists the one model it serves.
            return json_reply({"object": "list", "data": [{"id": self.model_id}]})
        if (
            self.messages_api
            and request.method == "POST"
            and request.path == "/v1/chat/completions"
        ):
            body = request.json()
            # TGI ignores the model name ("tgi" in its docs): it has one model.
            if body.get("stream"):
                usage = bool((body.get("stream_options") or {}).get("include_usage"))
                return openai_stream(self.model_id, int(body.get("n") or 1), usage)
            return openai_completion(self.model_id, int(body.get("n") or 1))
        return json_reply({"error": "Not Found"}, 404)


class BadHub(FakeHF):
    """A Hub that does one bad thing to every request, and counts them."""

    def __init__(self, mode: Literal["refuse", "stall", "503", "404"]) -> None:
        super().__init__()
        self.mode = mode

    def _route(self, request: Request) -> Reply:
        if self.mode == "refuse":
            return Reply(reset=True)
        if self.mode == "stall":
            return Reply(hang=True)
        if self.mode == "503":
            return json_reply({"error": "Service Unavailable"}, 503)
        return json_reply(
            {"error": "Repository not found"}, 404, **{"x-error-code": "RepoNotFound"}
        )
