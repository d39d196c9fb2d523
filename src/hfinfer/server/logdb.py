"""``--log-db``: each exchange as a turn of the conversation log the CLI writes
(:mod:`hfinfer.logs.store`), on its worker thread, never failing a request."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..logs.store import ConversationLog, TurnRecord, new_id
from .exchange import Exchange

__all__ = ["ExchangeLog"]

logger = logging.getLogger(__name__)

_STATUS = {200: "done", 499: "interrupted"}


class ExchangeLog:
    """Writes finished exchanges into the SQLite log at ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.log = ConversationLog(path, warn=logger.warning)
        self._pending: set[asyncio.Task[None]] = set()

    def write(self, exchange: Exchange) -> None:
        """Queue the exchange's turn (the request does not wait for the disk)."""
        turn = TurnRecord(
            conversation_id=new_id(),
            model=exchange.model or "",
            route=exchange.route,
            provider=exchange.provider,
            request_id=exchange.request_id,
            prompt=_last_user_text(exchange.messages),
            input_messages=_messages(exchange.messages),
            output=exchange.reply or "",
            prompt_tokens=exchange.prompt_tokens,
            completion_tokens=exchange.completion_tokens,
            ttft=exchange.ttft,
            duration=exchange.elapsed(),
            status=_STATUS.get(exchange.status, "error"),
            error=exchange.error_code,
        )
        task = asyncio.ensure_future(self.log.write_turn(turn))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def aclose(self) -> None:
        """Finish the queued writes and close the database."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.log.aclose()


def _messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str):  # a completions prompt
        return [{"role": "user", "content": messages}]
    return list(messages) if isinstance(messages, list) else []


def _last_user_text(messages: Any) -> str | None:
    if isinstance(messages, str):
        return messages
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else None
    return None
