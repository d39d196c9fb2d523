"""``POST /v1/chat/completions/render``: the exact prompt hfinfer would send.

vLLM's name for it. For models served with the text-generation protocol
(the TGI route), this is the chat template's (or the prompt family's)
rendering of the messages, with what built it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ...protocol.openai_wire import parse_chat_request
from ..edge import endpoint, json_response, read_json
from ..exchange import Exchange
from ..gateway import Gateway
from ..resolve import Target, first_answer, resolve_model

__all__ = ["routes"]


async def render(request: Request, gateway: Gateway, exchange: Exchange) -> Any:
    """``{"model", "prompt", "source"}`` for a chat-completions body."""
    config = gateway.config
    chat = parse_chat_request(await read_json(request, config.max_body_bytes),
                              max_tokens=config.max_tokens, max_n=1)  # fmt: skip
    exchange.model = chat.model
    options: dict[str, Any] = {}
    if "tools" in chat.options:
        options["tools"] = chat.options["tools"]

    messages: Any = chat.messages  # checked by parse_chat_request

    async def call(target: Target) -> Any:
        return await target.client.render_prompt(target.model, messages, **options)

    rendered, target = await first_answer(resolve_model(gateway, chat.model), call)
    exchange.upstream = target.upstream
    return json_response({"model": chat.model, "prompt": rendered.text, "source": rendered.source})


def routes() -> list[BaseRoute]:
    """The render route."""
    return [Route("/v1/chat/completions/render", endpoint("render", render), methods=["POST"])]
