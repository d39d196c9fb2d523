"""Small pieces the routes share."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ...client import ChatResponse
from ..auth import authorize, bill_to
from ..exchange import Exchange
from ..gateway import Gateway

__all__ = ["call_options", "note_answer"]


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
