"""One request's record: what the access log, the metrics and the SQLite log are told."""

from __future__ import annotations

import secrets
import time
from typing import Any

__all__ = ["Exchange", "new_request_id"]


def new_request_id() -> str:
    """A fresh id for a request the upstream gave none for."""
    return "req_" + secrets.token_hex(12)


class Exchange:
    """Route, model, provider, status, tokens and timings of one request."""

    __slots__ = ("completion_tokens", "error_code", "messages", "model", "prompt_tokens",
                 "provider", "reply", "request_id", "route", "started", "status", "ttft",
                 "upstream")  # fmt: skip

    def __init__(self, route: str) -> None:
        self.route = route
        self.started = time.perf_counter()
        self.request_id = new_request_id()
        self.model: str | None = None
        self.provider: str | None = None
        self.upstream: str | None = None
        self.status = 200
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.ttft: float | None = None
        self.error_code: str | None = None
        self.messages: Any = None  # kept only when prompts are logged
        self.reply: str | None = None

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return time.perf_counter() - self.started

    def first_token(self) -> None:
        """Note the time of the first token sent (once)."""
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.started

    def log_fields(self, *, with_prompts: bool) -> dict[str, Any]:
        """The access-log line's fields (prompts and answers only when asked)."""
        fields: dict[str, Any] = {
            "route": self.route,
            "model": self.model,
            "upstream": self.upstream,
            "provider": self.provider,
            "status": self.status,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "ttft_ms": None if self.ttft is None else round(self.ttft * 1000, 2),
            "duration_ms": round(self.elapsed() * 1000, 2),
            "request_id": self.request_id,
        }
        if self.error_code is not None:
            fields["error"] = self.error_code
        if with_prompts:
            fields["messages"] = self.messages
            fields["reply"] = self.reply
        return fields
