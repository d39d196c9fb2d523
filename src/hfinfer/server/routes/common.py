"""Small pieces the routes share."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request

from ...client import ChatResponse
from ...types import Usage
from ..auth import authorize, bill_to
from ..exchange import Exchange
from ..gateway import Gateway

__all__ = [
    "call_options",
    "completion_stamp",
    "note_answer",
    "note_request",
    "note_tokens",
]


def note_request(exchange: Exchange, gateway: Gateway, model: str, messages: Any) -> None:
    """What the access log keeps of a request: its model, and its messages when the
    gateway keeps exchanges."""
    exchange.model = model
    if gateway.config.keeps_exchanges:
        exchange.messages = messages


def completion_stamp(exchange: Exchange, prefix: str) -> tuple[str, int]:
    """An answer's id (``prefix``, OpenAI's ``chatcmpl-`` or ``cmpl-``, then the
    exchange's own id) and its creation time."""
    return prefix + exchange.request_id.removeprefix("req_"), int(time.time())


def note_tokens(exchange: Exchange, usage: Usage | None, text_chunks: int) -> None:
    """A finished (or failed) stream's token counts for the access log: the usage
    the server sent, else the text chunks counted."""
    exchange.completion_tokens = (usage.completion_tokens if usage else None) or text_chunks
    exchange.prompt_tokens = usage.prompt_tokens if usage else None


def call_options(request: Request, gateway: Gateway) -> dict[str, Any]:
    """Per-call client options from the caller: their own token (when forwarding is on)
    and ``X-HF-Bill-To`` (when allowed)."""
    options: dict[str, Any] = {}
    token = authorize(request, gateway.config)
    if token is not None:
        options["api_key"] = token
    organisation = bill_to(request, gateway.config)
    if organisation is not None:
        options["bill_to"] = organisation
    return options


def note_answer(exchange: Exchange, response: ChatResponse, log_reply: bool) -> None:
    """What the answer tells the access log: provider, tokens, the upstream's request id."""
    exchange.provider = getattr(response, "provider", None)
    upstream_id = getattr(response, "request_id", None)
    if upstream_id:
        exchange.request_id = upstream_id
    if response.usage is not None:
        exchange.prompt_tokens = response.usage.prompt_tokens
        exchange.completion_tokens = response.usage.completion_tokens
    if log_reply:
        exchange.reply = response.text
