"""One turn of a conversation: ask, show the answer as it comes, and log it.

The turn's log row is written when the first token arrives and completed at
the end, so Ctrl-C (the task is cancelled) or a broken stream still leaves
what had arrived in the log, with its status. Used by one-shot ``hfinfer
chat`` and by the interactive session alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from ..errors import HFInferenceError, ModelLoadingError
from ..logs import ConversationLog, TurnRecord, estimate_cost
from ..types import Reasoning, ToolCalls, content_text
from .conversation import Conversation
from .errors import describe_error
from .render import AnswerView

__all__ = ["EmptyResponse", "PriceBook", "ask", "retry_notes"]

#: The logger whose "retrying ..." records say that an attempt failed and another follows.
RETRY_LOGGER = "hfinfer.http"


class PriceBook:
    """Providers' prices from the router's catalogue, asked once per command.

    Only the router lists prices; on another route, or when the catalogue cannot
    be had, a turn's cost is unknown (``None``), never an error.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._offers: dict[tuple[str, str], Any] | None = None

    async def offer(self, model: str, provider: str | None) -> Any:
        """The ``ProviderOffer`` of ``provider`` for ``model``, or ``None``."""
        if not provider or getattr(self.client, "route", None) != "router":
            return None
        if self._offers is None:
            self._offers = {}
            try:
                catalogue = await self.client.models()
            except HFInferenceError:
                return None
            for entry in catalogue:
                for offer in entry.providers:
                    self._offers[(entry.id, offer.provider)] = offer
        return self._offers.get((model.partition(":")[0], provider))


async def ask(
    client: Any,
    conversation: Conversation,
    new_messages: list[dict[str, Any]],
    view: AnswerView,
    *,
    log: ConversationLog | None = None,
    prices: PriceBook | None = None,
    stream: bool = True,
) -> tuple[TurnRecord, Any]:
    """Send the conversation plus ``new_messages``; returns the turn and the response.

    Raises what the call raised (an :class:`~hfinfer.errors.HFInferenceError`,
    or ``CancelledError`` on Ctrl-C) after the turn is logged and shown.
    """
    record = TurnRecord(
        conversation_id=conversation.id,
        model=conversation.model,
        route=getattr(client, "route", None),
        provider=conversation.provider,
        system=conversation.system,
        prompt="\n\n".join(content_text(m.get("content")) for m in new_messages) or None,
        input_messages=new_messages,
        options=conversation.call_options(),
    )
    messages = conversation.messages(new_messages)
    progress = _Progress()
    error: BaseException | None = None
    view.waiting(conversation.model)
    try:
        with retry_notes(view):
            await _converse(client, conversation, messages, record, view, log, stream, progress)
        record.status = "done"
    except asyncio.CancelledError as exc:
        record.status, error = "interrupted", exc
        raise
    except BaseException as exc:
        record.status, record.error, error = "error", describe_error(exc), exc
        raise
    finally:
        if progress.first_write is not None:
            await asyncio.wait([progress.first_write])  # before the final write, not after
        await _complete(record, progress.response, conversation, log, prices)
        shown = progress.response or EmptyResponse(conversation.model)
        view.end(shown, error=error, extra=_extra(record))
    return record, progress.response


class _Progress:
    """The response being assembled, reachable when the turn stops early."""

    response: Any = None
    #: The row written at the first token; the final write waits for it.
    first_write: asyncio.Future[None] | None = None


async def _converse(
    client: Any,
    conversation: Conversation,
    messages: list[dict[str, Any]],
    record: TurnRecord,
    view: AnswerView,
    log: ConversationLog | None,
    stream: bool,
    progress: _Progress,
) -> None:
    options = conversation.call_options()
    if not stream:
        response = await client.chat(conversation.model, messages, **options)
        progress.response = response
        for piece in (Reasoning(response.reasoning) if response.reasoning else None, response.text):
            if piece:
                view.chunk(piece)
        if response.tool_calls:
            view.chunk(ToolCalls(tuple(response.tool_calls)))
        return
    chat_stream = await client.chat(conversation.model, messages, stream=True, **options)
    progress.response = chat_stream.response
    started = False
    async with chat_stream:
        async for chunk in chat_stream:
            if not started and isinstance(chunk, (str, Reasoning, ToolCalls)):
                started = True
                _fill(record, chat_stream.response)
                if log is not None:  # written at the first token: Ctrl-C later keeps it
                    progress.first_write = asyncio.ensure_future(log.write_turn(record))
            view.chunk(chunk)


def _fill(record: TurnRecord, response: Any) -> None:
    """Copy what the response knows so far into the record."""
    record.output = response.text
    record.reasoning = response.reasoning
    record.tool_calls = [call.to_dict() for call in response.tool_calls]
    record.finish_reason = response.finish_reason
    usage = response.usage
    if usage is not None:
        record.prompt_tokens = usage.prompt_tokens
        record.completion_tokens = usage.completion_tokens
    record.provider = getattr(response, "provider", None) or record.provider
    # The client learns which protocol a server speaks, and the model it serves, on the call.
    record.route = getattr(response, "route", None) or record.route
    record.model = record.model or getattr(response, "model", None) or ""
    record.request_id = getattr(response, "request_id", None)
    record.ttft = getattr(response, "time_to_first_token", None)
    record.duration = getattr(response, "duration", None)


async def _complete(
    record: TurnRecord,
    response: Any,
    conversation: Conversation,
    log: ConversationLog | None,
    prices: PriceBook | None,
) -> None:
    if response is not None:
        _fill(record, response)
    if prices is not None and record.status != "error":
        with contextlib.suppress(HFInferenceError):
            offer = await prices.offer(record.model, record.provider)
            record.cost_usd = estimate_cost(record.prompt_tokens, record.completion_tokens, offer)
    if log is not None:
        await log.write_turn(record)
    if record.output or record.tool_calls:
        conversation.turns.append(record)


def _extra(record: TurnRecord) -> dict[str, Any]:
    return {
        "conversation_id": record.conversation_id,
        "turn_id": record.id,
        "status": record.status,
        "cost_usd": record.cost_usd,
    }


class EmptyResponse:
    """What ``--json`` reports when the call failed before any answer existed."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finish_reason = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "text": "",
            "reasoning": None,
            "tool_calls": [],
            "finish_reason": None,
            "usage": None,
        }


@contextlib.contextmanager
def retry_notes(view: AnswerView) -> Iterator[None]:
    """Tell ``view`` of each retry the HTTP layer makes while the block runs."""
    handler = _RetryHandler(view)
    logger = logging.getLogger(RETRY_LOGGER)
    previous = logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


class _RetryHandler(logging.Handler):
    def __init__(self, view: AnswerView) -> None:
        super().__init__(logging.INFO)
        self.view = view

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("retrying") or not isinstance(record.args, tuple):
            return
        args = record.args
        delay = next((a for a in args if isinstance(a, float)), None)
        error = next((a for a in args if isinstance(a, BaseException)), None)
        loading = error.estimated_time if isinstance(error, ModelLoadingError) else None
        if isinstance(error, ModelLoadingError):
            why = "the model is loading" + (f" (about {loading:.0f} s)" if loading else "")
        else:
            why = describe_error(error) if error is not None else "the attempt failed"
        wait = f" in {delay:.0f} s" if delay is not None else ""
        self.view.retrying(f"retrying{wait}: {why}", loading)
