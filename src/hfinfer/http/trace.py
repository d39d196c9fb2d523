"""What one request sent by :class:`~hfinfer.http.session.HttpClient` learns from
the connection it went out on (see :mod:`hfinfer.http.tap`). No aiohttp here:
the session module imports this at import time."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["RequestTrace", "trace_requests"]


class RequestTrace:
    """What the taps of one request (one per hop of its redirects) learned."""

    __slots__ = ("answered", "first_byte", "stream", "tap")

    def __init__(self, stream: bool, first_byte: float | None) -> None:
        self.stream = stream
        self.first_byte = first_byte
        #: Some byte of an answer came back: the request reached the server.
        self.answered = False
        #: The tap of the last hop (a :class:`~hfinfer.http.tap.Tap`).
        self.tap: Any = None


#: The request being sent in this task: the connector's tap finds it here.
trace_requests: ContextVar[RequestTrace | None] = ContextVar("hfinfer_request", default=None)
