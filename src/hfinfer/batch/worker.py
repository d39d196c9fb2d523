"""One attempt at one request through the public client, as an output line."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from ..errors import HFInferenceError, ResponseError
from .cost import PriceList, split_provider
from .inputs import EMBEDDINGS_URL, RESPONSES_URL, BatchRequest
from .outputs import Meta, chat_body, embedding_body, failure_line, success_line
from .state import Record

__all__ = ["Outcome", "send_request"]

logger = logging.getLogger(__name__)

#: Body keys the batch handles itself: the answer is always read whole.
_OWN_KEYS = frozenset({"model", "messages", "stream", "stream_options"})


@dataclass
class Outcome:
    """The line one attempt produced, its error (``None`` on success) and its cost."""

    line: dict[str, Any]
    error: HFInferenceError | None
    attempts: int
    cost: float | None = None
    tokens: int | None = None

    def tokens_used(self) -> int:
        return self.tokens or 0

    def error_status(self) -> int | None:
        return getattr(self.error, "status", None)

    def record(self, request: BatchRequest) -> Record:
        return Record(request.custom_id, request.key, self.error is None, self.line,
                      self.attempts, self.cost)  # fmt: skip


async def send_request(
    client: Any, request: BatchRequest, provider: str | None, prices: PriceList, attempt: int
) -> Outcome:
    """Send ``request`` once; never raises an hfinfer error (it is in the outcome)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        if request.url == EMBEDDINGS_URL:
            return await _embed(client, request, provider, prices, attempt, started)
        if request.url == RESPONSES_URL:
            return await _responses(client, request, provider, prices, attempt, started)
        return await _chat(client, request, provider, prices, attempt, started)
    except HFInferenceError as exc:
        meta = Meta(provider, None, loop.time() - started, attempt)
        return Outcome(_failure(request, exc, meta), exc, attempt)


async def _chat(client: Any, request: BatchRequest, provider: str | None, prices: PriceList,
                attempt: int, started: float) -> Outcome:  # fmt: skip
    body = request.body
    model = body["model"]
    extra = {k: v for k, v in body.items() if k not in _OWN_KEYS}
    kwargs: dict[str, Any] = {"extra_body": extra} if extra else {}
    if provider is not None:
        kwargs["provider"] = provider
    reply = await client.chat(model, body["messages"], **kwargs)
    elapsed = asyncio.get_running_loop().time() - started
    answered_by = reply.provider or split_provider(model, provider)[1]
    usage = reply.usage
    prompt = (usage.prompt_tokens if usage else None) or 0
    completion = (usage.completion_tokens if usage else None) or 0
    cost = prices.cost(model, answered_by, prompt, completion)
    meta = Meta(answered_by, cost, elapsed, attempt)
    line = success_line(request.custom_id, request.key, chat_body(request.key, model, reply, meta),
                        reply.request_id)  # fmt: skip
    return Outcome(line, None, attempt, cost, prompt + completion)


async def _embed(client: Any, request: BatchRequest, provider: str | None, prices: PriceList,
                 attempt: int, started: float) -> Outcome:  # fmt: skip
    """An embeddings body through :meth:`hfinfer.AsyncClient.embed`."""
    body = request.body
    model = str(body["model"])
    options = {k: v for k, v in body.items() if k not in ("model", "input")}
    if provider is not None:
        options["provider"] = provider
    answer = await client.embed(model, body.get("input"), **options)
    elapsed = asyncio.get_running_loop().time() - started
    answered_by = answer.provider or split_provider(model, provider)[1]
    prompt = (answer.usage.prompt_tokens if answer.usage else None) or 0
    cost = prices.cost(model, answered_by, prompt, 0)
    meta = Meta(answered_by, cost, elapsed, attempt)
    out = embedding_body(model, answer.vectors, prompt if answer.usage else None, meta)
    line = success_line(request.custom_id, request.key, out, None)
    return Outcome(line, None, attempt, cost, prompt)


async def _responses(client: Any, request: BatchRequest, provider: str | None,
                     prices: PriceList, attempt: int, started: float) -> Outcome:  # fmt: skip
    """A Responses API body, relayed to the router as it is; its answer kept whole."""
    body = {k: v for k, v in request.body.items() if k != "stream"}
    model = str(body["model"])
    if provider is not None and ":" not in model:
        body["model"] = f"{model}:{provider}"
    relayed = await client.relay_responses(body)
    try:
        answer = orjson.loads(relayed.body or b"")
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        raise ResponseError("the router's Responses answer is not a JSON object",
                            status=relayed.status, request_id=relayed.request_id)  # fmt: skip
    elapsed = asyncio.get_running_loop().time() - started
    found = answer.get("usage")
    usage: dict[str, Any] = found if isinstance(found, dict) else {}
    prompt, completion = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
    answered_by = split_provider(model, provider)[1]
    cost = prices.cost(model, answered_by, prompt, completion)
    answer["hfinfer"] = Meta(answered_by, cost, elapsed, attempt).as_dict()
    line = success_line(request.custom_id, request.key, answer, relayed.request_id)
    return Outcome(line, None, attempt, cost, prompt + completion)


def _failure(request: BatchRequest, exc: HFInferenceError, meta: Meta) -> dict[str, Any]:
    status = exc.status if isinstance(exc, ResponseError) else None
    if status is not None and status < 400:
        status = None  # a 200 whose body broke: no answer to keep
    request_id = exc.request_id if isinstance(exc, ResponseError) else None
    code = (exc.error_type if isinstance(exc, ResponseError) else None) or type(exc).__name__
    return failure_line(request.custom_id, request.key, status=status, code=code,
                        message=str(exc), request_id=request_id, meta=meta)  # fmt: skip
