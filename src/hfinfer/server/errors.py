"""The edge table: every hfinfer error as OpenAI's status, error body and headers.

The one place where hfinfer's error tree meets HTTP. The ``openai`` client
picks its exception from the status (400 ``BadRequestError``, 401
``AuthenticationError``, 403 ``PermissionDeniedError``, 404
``NotFoundError``, 422 ``UnprocessableEntityError``, 429
``RateLimitError``, 5xx ``InternalServerError``) and retries 408, 409, 429
and 5xx unless ``x-should-retry: false`` says it cannot help.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..protocol.openai_wire import error_body

__all__ = ["EdgeError", "Failure", "failure_of"]

logger = logging.getLogger(__name__)


class EdgeError(Exception):
    """A refusal of the gateway's own (auth, limits, routing), already in OpenAI's words."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        retry: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.retry = retry
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Failure:
    """An error as the gateway answers it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    request_id: str | None = None

    @property
    def code(self) -> str | None:
        return self.body["error"].get("code")


@dataclass(frozen=True, slots=True)
class _Row:
    status: int
    kind: str
    code: str | None
    retry: bool


#: hfinfer's error classes, most specific first: (status, type, code, retry may help).
EDGE_TABLE: tuple[tuple[type[BaseException], _Row], ...] = (
    (errors.InvalidRequestError, _Row(400, "invalid_request_error", None, False)),
    (errors.TemplateError, _Row(400, "invalid_request_error", "template_error", False)),
    (errors.ModelNotFoundError, _Row(404, "invalid_request_error", "model_not_found", False)),
    (errors.ModelNotSupportedError,
     _Row(400, "invalid_request_error", "model_not_supported", False)),
    (errors.AuthenticationError, _Row(401, "authentication_error", "upstream_auth", False)),
    (errors.PaymentRequiredError, _Row(402, "insufficient_quota", "insufficient_quota", False)),
    (errors.RateLimitError, _Row(429, "rate_limit_error", "rate_limit_exceeded", True)),
    (errors.ModelLoadingError, _Row(503, "server_error", "model_loading", True)),
    (errors.ValidationError, _Row(400, "invalid_request_error", "upstream_rejected", False)),
    (errors.EndpointGoneError, _Row(502, "server_error", "upstream_gone", False)),
    (errors.HtmlResponseError, _Row(502, "server_error", "upstream_html", True)),
    (errors.CertificateError, _Row(502, "server_error", "upstream_certificate", False)),
    (errors.TimeoutError, _Row(504, "timeout", "upstream_timeout", True)),
    (errors.ConnectionError, _Row(502, "server_error", "upstream_unreachable", True)),
    (errors.StreamError, _Row(502, "server_error", "upstream_stream_broken", True)),
    (errors.ServerError, _Row(502, "server_error", "upstream_error", True)),
    (errors.ResponseError, _Row(502, "server_error", "upstream_error", True)),
    (errors.HFInferenceError, _Row(500, "server_error", None, False)),
)  # fmt: skip

_UNEXPECTED = _Row(500, "server_error", "internal_error", True)


def _row(exc: BaseException) -> _Row:
    for cls, row in EDGE_TABLE:
        if isinstance(exc, cls):
            return row
    return _UNEXPECTED


def _status(exc: BaseException, row: _Row) -> int:
    upstream = getattr(exc, "status", None)
    if isinstance(exc, errors.AuthenticationError) and upstream in (401, 403):
        return int(upstream)
    if isinstance(exc, errors.ValidationError) and upstream in (400, 413, 422):
        return int(upstream)
    if isinstance(exc, errors.ServerError) and upstream in (503, 504) and row.status == 502:
        return int(upstream)
    return row.status


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, errors.RateLimitError):
        return exc.retry_after
    if isinstance(exc, errors.ModelLoadingError):
        return exc.estimated_time
    return None


def failure_of(exc: BaseException) -> Failure:
    """The status, OpenAI-shaped body and headers for ``exc`` (the one mapping)."""
    if isinstance(exc, EdgeError):
        headers = {"x-should-retry": "true" if exc.retry else "false", **exc.headers}
        body = error_body(exc.message, exc.kind, param=exc.param, code=exc.code)
        return Failure(exc.status, body, headers)
    row = _row(exc)
    if row is _UNEXPECTED:
        logger.error("unexpected error in the gateway", exc_info=exc)
        message = "The gateway failed unexpectedly; the error is in its log."
    else:
        message = str(exc)
    headers = {"x-should-retry": "true" if row.retry else "false"}
    wait = _retry_after(exc)
    if wait is not None:
        headers["retry-after"] = str(max(1, round(wait)))
    param = getattr(exc, "param", None)
    body = error_body(message, row.kind, param=param if isinstance(param, str) else None,
                      code=row.code)  # fmt: skip
    request_id = getattr(exc, "request_id", None)
    return Failure(_status(exc, row), body, headers, request_id if request_id else None)
