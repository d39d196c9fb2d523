"""Chat and raw-prompt completion, whole or streamed: the request each sends and
the provider that sends it."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError, ModelNotFoundError
from ..http.session import Exchange
from ..protocol.routing import POLICIES, split_model
from ..types import Messages
from .answers import ChatResponse
from .connection import Connection
from .stream import ChatStream, start_answer

__all__ = ["send_chat", "send_completion"]


async def send_chat(
    conn: Connection, model: str, messages: Messages | str, *, stream: bool, **kwargs: Any
) -> ChatResponse | ChatStream:
    """:meth:`AsyncClient.chat`, for the client's connection."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    provider, sent_model = await _provider_and_model(conn, model)
    exchange = Exchange()
    response = ChatResponse(
        model=model or sent_model,
        route=conn.route,
        messages=list(messages),
        options={"stream": stream, **kwargs},
        provider=_asked_provider(conn, model, kwargs.get("provider")),
    )
    chunks = provider.create_async_generator(
        sent_model, messages, stream=stream, _exchange=exchange, **kwargs
    )
    result = ChatStream(chunks, response, exchange)
    try:
        return await start_answer(result, stream)
    except ModelNotFoundError as exc:
        better = _not_served(conn, exc, sent_model)
        if better is exc:
            raise
        raise better from exc


async def send_completion(
    conn: Connection, model: str, prompt: str, *, stream: bool, **kwargs: Any
) -> ChatResponse | ChatStream:
    """:meth:`AsyncClient.complete`, for the client's connection."""
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt must be a string")
    target = conn.target
    provider, sent = await conn.text_route(), model
    if not target.hf:
        if conn.route != "tgi":
            raise InvalidRequestError(
                f"complete() speaks the text-generation protocol; {target.base} "
                "speaks OpenAI's chat protocol: use chat(), or route='tgi' for a TGI server."
            )
        sent = target.base  # TGI serves one model, found at the URL
    exchange = Exchange()
    response = ChatResponse(model=model, route="tgi", options={"stream": stream, **kwargs})
    chunks = provider.create_async_generator(
        sent, [], stream=stream, raw_prompt=prompt, _exchange=exchange, **kwargs
    )
    return await start_answer(ChatStream(chunks, response, exchange), stream)


async def _provider_and_model(conn: Connection, model: str) -> tuple[Any, str]:
    """The provider for the client's server, and the model name to send."""
    target = conn.target
    provider = await conn.chat_provider()
    if target.kind in ("own", "endpoint") and conn.route == "tgi":
        return provider, target.base  # TGI serves one model, found at the URL
    if not model and target.kind in ("own", "endpoint"):
        served = (await conn.server_info()).models
        if not served:
            raise InvalidRequestError(
                f"Name the model to ask: the server at {target.base} lists none."
            )
        model = served[0]
    return provider, model


def _asked_provider(conn: Connection, model: str, provider: Any) -> str | None:
    """The provider a router call named (not a policy): who answers, unless told otherwise."""
    if conn.route != "router":
        return None
    choice = provider if isinstance(provider, str) else split_model(model or "")[1]
    return choice if choice and choice not in POLICIES else None


def _not_served(conn: Connection, exc: ModelNotFoundError, model: str) -> ModelNotFoundError:
    """A server of the user's own that lacks ``model``: say what it does serve."""
    served = conn.server.models if conn.server is not None else ()
    if conn.target.kind != "own" or not served:
        return exc
    names = ", ".join(served[:20])
    return ModelNotFoundError(f"{exc} The server serves: {names}.", model=model)
