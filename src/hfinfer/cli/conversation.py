"""A conversation as the command line holds it: the model, the system prompt and the
turns so far, which are sent again with each new prompt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..logs import TurnRecord, new_id
from ..logs.store import turn_messages

__all__ = ["Conversation"]


@dataclass
class Conversation:
    """What the next request is made of.

    ``turns`` are the exchanges in the conversation (loaded from the log when
    it is continued, then this process's own); ``options`` are generation
    options sent with every turn (``max_tokens``, ``temperature``...).
    """

    model: str
    id: str = field(default_factory=new_id)
    system: str | None = None
    provider: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    turns: list[TurnRecord] = field(default_factory=list)

    @classmethod
    def resumed(cls, conversation_id: str, turns: list[TurnRecord], **fields: Any) -> Conversation:
        """The conversation ``conversation_id`` as the log holds it; ``fields`` (a model,
        a system prompt given now) win over what the log says."""
        kept = [t for t in turns if t.in_history]
        latest = kept[-1] if kept else None
        given = {k: v for k, v in fields.items() if v is not None}
        if latest is not None:
            given.setdefault("model", latest.model)
            given.setdefault("system", next((t.system for t in reversed(kept) if t.system), None))
            provider = latest.options.get("provider")
            if isinstance(provider, str):
                given.setdefault("provider", provider)
        return cls(id=conversation_id, turns=kept, **given)

    @property
    def answered(self) -> list[TurnRecord]:
        """The turns sent again as history: those that said something."""
        return [t for t in self.turns if t.in_history and (t.output or t.tool_calls)]

    def messages(self, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The whole request: the system prompt, the history, then ``new``."""
        messages: list[dict[str, Any]] = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        for turn in self.answered:
            messages.extend(turn_messages(turn))
        messages.extend(new)
        return messages

    def call_options(self) -> dict[str, Any]:
        """The keywords for ``AsyncClient.chat``: the options and the provider."""
        options = {k: v for k, v in self.options.items() if v is not None}
        if self.provider:
            options["provider"] = self.provider
        return options

    def pop_turn(self) -> TurnRecord | None:
        """Take the last turn out (``/undo``, ``/retry``); ``None`` when there is none."""
        if not self.turns:
            return None
        turn = self.turns.pop()
        turn.in_history = False
        return turn
