"""hfinfer's stream vocabulary as OpenAI Responses events. No I/O.

:class:`ResponsesEncoder` is fed the chunks of one chat answer (``str``
text, :class:`~hfinfer.types.Reasoning`, :class:`~hfinfer.types.ToolCalls`,
:class:`~hfinfer.types.Usage`, :class:`~hfinfer.types.FinishReason`) and
returns the events OpenAI sends for them, in OpenAI's order, numbered by
``sequence_number``::

    response.created, response.in_progress
    per output item: response.output_item.added
      message:   content_part.added, output_text.delta..., output_text.done,
                 content_part.done
      reasoning: content_part.added, reasoning_text.delta..., reasoning_text.done,
                 content_part.done
      function_call: function_call_arguments.delta, function_call_arguments.done
    response.output_item.done
    response.completed | response.incomplete | response.failed

The same object assembles the whole ``response`` (:attr:`ResponsesEncoder.response`),
so a non-streamed answer and a streamed one cannot disagree.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from ..types import Chunk, FinishReason, Reasoning, ToolCalls, Usage

__all__ = ["ResponsesEncoder", "encode_sse", "new_id"]

Event = dict[str, Any]

#: Finish reasons that end a response as "incomplete", with OpenAI's word for why.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: ``resp_``, ``msg_``, ``rs_``, ``fc_`` and 32 hex digits."""
    return f"{prefix}_{secrets.token_hex(16)}"


def encode_sse(event: Event) -> bytes:
    """One event as Server-Sent Events bytes, named by its ``type`` as OpenAI does."""
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponsesEncoder:
    """The events and the ``response`` object of one answer.

    ``model`` is echoed; ``echo`` holds the request's settings as the
    ``response`` object repeats them (see ``ResponsesRequest.echo``).
    Call :meth:`start` once, :meth:`feed` per chunk, then :meth:`finish` or
    :meth:`fail`; each returns the events to send, in order.
    """

    def __init__(
        self,
        model: str,
        echo: dict[str, Any] | None = None,
        *,
        response_id: str | None = None,
        created_at: float | None = None,
        make_id: Callable[[str], str] = new_id,
    ) -> None:
        self._make_id = make_id
        self._sequence = 0
        self._open: Event | None = None  # the output item receiving deltas
        self._finish: str | None = None
        self._usage: Usage | None = None
        self.response: dict[str, Any] = {
            "id": response_id or make_id("resp"),
            "object": "response",
            "created_at": int(time.time() if created_at is None else created_at),
            "status": "in_progress",
            "error": None,
            "incomplete_details": None,
            "model": model,
            "output": [],
            **(echo or _default_echo()),
            "usage": None,
        }

    @property
    def text(self) -> str:
        """The answer text so far (all message items)."""
        return "".join(
            part["text"]
            for item in self.response["output"]
            if item["type"] == "message"
            for part in item["content"]
        )

    def start(self) -> list[Event]:
        """``response.created`` and ``response.in_progress``."""
        snapshot = {**self.response, "output": []}
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=snapshot),
        ]

    def feed(self, chunk: Chunk) -> list[Event]:
        """The events for one chunk of the stream (none for usage and finish)."""
        if isinstance(chunk, str):
            return self._delta("message", chunk) if chunk else []
        if isinstance(chunk, Reasoning):
            return self._delta("reasoning", chunk.token) if chunk.token else []
        if isinstance(chunk, ToolCalls):
            events = self._close("completed")
            for call in chunk:
                events += self._function_call(call.id, call.name, call.arguments)
            return events
        if isinstance(chunk, Usage):
            self._usage = chunk
        elif isinstance(chunk, FinishReason):
            self._finish = chunk.reason
        return []

    def finish(self) -> list[Event]:
        """Close the open item; ``response.completed``, or ``response.incomplete``
        when the answer stopped at the token limit or a content filter."""
        reason = _INCOMPLETE.get(self._finish or "")
        events = self._close("incomplete" if reason else "completed")
        self.response["usage"] = _usage(self._usage)
        if reason:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": reason}
            return [*events, self._event("response.incomplete", response=self.response)]
        self.response["status"] = "completed"
        self.response["completed_at"] = int(time.time())
        return [*events, self._event("response.completed", response=self.response)]

    def fail(self, message: str, code: str = "server_error") -> list[Event]:
        """Close the open item as incomplete; ``response.failed`` with ``error``.
        What was streamed before stays in ``output``."""
        events = self._close("incomplete")
        self.response["status"] = "failed"
        self.response["error"] = {"code": code, "message": message}
        self.response["usage"] = _usage(self._usage)
        return [*events, self._event("response.failed", response=self.response)]

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _delta(self, kind: str, text: str) -> list[Event]:
        events: list[Event] = []
        if self._open is None or self._open["type"] != kind:
            events = self._close("completed") + self._open_item(kind)
        assert self._open is not None
        self._open["_text"].append(text)
        name = (
            "response.output_text.delta" if kind == "message" else "response.reasoning_text.delta"
        )
        extra: dict[str, Any] = {"logprobs": []} if kind == "message" else {}
        events.append(self._event(name, **self._where(), content_index=0, delta=text, **extra))
        return events

    def _where(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": self._open["_index"]}

    def _open_item(self, kind: str) -> list[Event]:
        item: Event
        if kind == "message":
            item = {"id": self._make_id("msg"), "type": "message", "status": "in_progress"}
            item.update(role="assistant", content=[])
            part: Event = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        else:
            item = {"id": self._make_id("rs"), "type": "reasoning", "status": "in_progress"}
            item.update(summary=[], content=[])
            part = {"type": "reasoning_text", "text": ""}
        self._open = {"id": item["id"], "type": kind, "_index": len(self.response["output"])}
        self._open["_text"] = []
        self.response["output"].append(item)
        return [
            self._event(
                "response.output_item.added", output_index=self._open["_index"], item=dict(item)
            ),
            self._event("response.content_part.added", **self._where(), content_index=0, part=part),
        ]

    def _close(self, status: str) -> list[Event]:
        """End the open message or reasoning item: its .done events, in order."""
        if self._open is None:
            return []
        where, text = self._where(), "".join(self._open["_text"])
        item = self.response["output"][self._open["_index"]]
        if self._open["type"] == "message":
            part: Event = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            done = self._event(
                "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
            )
        else:
            part = {"type": "reasoning_text", "text": text}
            done = self._event("response.reasoning_text.done", **where, content_index=0, text=text)
        item.update(status=status, content=[part])
        self._open = None
        return [
            done,
            self._event("response.content_part.done", **where, content_index=0, part=part),
            self._event("response.output_item.done", output_index=where["output_index"], item=item),
        ]

    def _function_call(self, call_id: str, name: str, arguments: str) -> list[Event]:
        index = len(self.response["output"])
        item: Event = {"id": self._make_id("fc"), "type": "function_call", "status": "in_progress"}
        item.update(call_id=call_id, name=name, arguments="")
        self.response["output"].append(item)
        where = {"item_id": item["id"], "output_index": index}
        events = [self._event("response.output_item.added", output_index=index, item=dict(item))]
        if arguments:
            events.append(
                self._event("response.function_call_arguments.delta", **where, delta=arguments)
            )
        events.append(
            self._event("response.function_call_arguments.done", **where, arguments=arguments)
        )
        item.update(arguments=arguments, status="completed")
        events.append(self._event("response.output_item.done", output_index=index, item=item))
        return events


def _usage(usage: Usage | None) -> dict[str, Any]:
    prompt = (usage.prompt_tokens if usage else None) or 0
    completion = (usage.completion_tokens if usage else None) or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _default_echo() -> dict[str, Any]:
    return {
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
    }
