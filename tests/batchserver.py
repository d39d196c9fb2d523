"""A local router for batch tests: slow answers, 429 with retry-after, rows that
fail, 402 on demand, and a count of every request per ``custom_id``.

Batch inputs made by :func:`rows` put the row's id first in the user message
(``"r7|question"``), so the server can tell rows apart without a side channel.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from hfserver import Reply, json_reply
from routerserver import FakeRouter, completion, openai_error

MODEL = "org/batch-model"


def row_id(request_json: dict[str, Any]) -> str:
    """The custom_id a request was made for (the part before ``|`` of its last message)."""
    content = request_json["messages"][-1]["content"]
    return str(content).split("|", 1)[0]


class BatchRouter(FakeRouter):
    """The router's chat route with faults by row and by count.

    - ``delay``: seconds before each chat answer's headers (a slow provider);
    - ``fail_rows``: rows answered 400 (never retried);
    - ``flaky_rows``: row -> how many 500s before it succeeds;
    - ``throttle_first``: the first N chat requests get 429 with ``retry-after``;
    - ``pay_after``: after N answered chat requests, every one gets 402;
    - ``refuse_token``: every chat request gets 401;
    - ``counts``: chat requests per row.
    """

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.fail_rows: set[str] = set()
        self.flaky_rows: dict[str, int] = {}
        self.throttle_first = 0
        self.retry_after = "0.2"
        self.pay_after: int | None = None
        self.refuse_token = False
        self.counts: Counter[str] = Counter()
        self.answered = 0
        self.chat_requests = 0
        self.lock = threading.Lock()
        self.add_chat_model(MODEL)
        self.chat_handlers[MODEL] = self.answer
        #: Raw files by path (the Hub's parquet listing and dataset files).
        self.raw: dict[str, tuple[str, bytes]] = {}

    def add_dataset(self, repo: str, config: str, split: str, parts: list[bytes]) -> list[str]:
        """A dataset split as the Hub lists it: its Parquet files at their resolve URLs."""
        urls = []
        for number, data in enumerate(parts):
            where = f"{config}/{split}/{number}.parquet"
            path = f"/datasets/{repo}/resolve/refs%2Fconvert%2Fparquet/{where}"
            self.raw[unquote(path)] = ("application/octet-stream", data)
            urls.append(self.url + path)
        listing = json.dumps(urls).encode()
        self.raw[f"/api/datasets/{repo}/parquet/{config}/{split}"] = ("application/json", listing)
        return urls

    def responses(self, request: Any) -> Reply:
        """``POST /v1/responses``: a whole Response object (the row's id from ``input``)."""
        body = request.json()
        text = body["input"] if isinstance(body["input"], str) else body["input"][-1]["content"]
        rid = str(text).split("|", 1)[0]
        with self.lock:
            self.counts[rid] += 1
        if rid in self.fail_rows:
            return openai_error(f"row {rid} is malformed", 400)
        answer = {
            "id": f"resp_{rid}", "object": "response", "status": "completed",
            "model": body["model"],
            "output": [{"type": "message", "id": f"msg_{rid}", "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": f"answer to {text}",
                                     "annotations": []}]}],
            "usage": {"input_tokens": 8, "output_tokens": 4, "total_tokens": 12},
        }  # fmt: skip
        return json_reply(answer, **{"x-request-id": f"req-{rid}"})

    def _route(self, request: Any) -> Reply:
        if request.method == "POST" and request.path == "/v1/responses":
            return self.responses(request)
        if request.method == "GET" and request.path in self.raw:
            kind, data = self.raw[request.path]
            return Reply(200, {"content-type": kind}, data)
        return super()._route(request)

    def answer(self, request: Any) -> Reply:
        body = request.json()
        rid = row_id(body)
        with self.lock:
            self.counts[rid] += 1
            self.chat_requests += 1
            number = self.chat_requests
            if self.refuse_token:
                return openai_error("Invalid credentials in Authorization header", 401)
            if self.pay_after is not None and self.answered >= self.pay_after:
                return openai_error("You have exceeded your monthly included credits.", 402,
                                    "payment_required")  # fmt: skip
            if number <= self.throttle_first:
                reply = openai_error("Rate limit reached", 429, "rate_limit")
                reply.headers["retry-after"] = self.retry_after
                return reply
            if rid in self.fail_rows:
                return openai_error(f"row {rid} is malformed", 400)
            if self.flaky_rows.get(rid, 0) > 0:
                self.flaky_rows[rid] -= 1
                return openai_error("upstream broke", 500, "server_error")
            self.answered += 1
        text = f"answer to {body['messages'][-1]['content']}"
        reply = json_reply(completion(text, usage=(10, 5)), **{"x-request-id": f"req-{rid}"})
        reply.delay_headers = self.delay
        return reply


def rows(count: int, *, prefix: str = "r", text: str = "question") -> list[dict[str, Any]]:
    """Shorthand lines ``{"custom_id", "prompt"}``."""
    return [{"custom_id": f"{prefix}{n}", "prompt": f"{prefix}{n}|{text} {n}"}
            for n in range(count)]  # fmt: skip


def openai_rows(count: int, model: str = MODEL) -> list[dict[str, Any]]:
    """Lines in OpenAI's batch format."""
    return [
        {
            "custom_id": f"r{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": f"r{n}|q {n}"}],
                     "max_tokens": 20},
        }
        for n in range(count)
    ]  # fmt: skip


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
