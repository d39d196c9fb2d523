"""The one error tree of hfinfer, and the table from HTTP answers to it.

Every failure a user can cause or meet surfaces as a subclass of
:class:`HFInferenceError`. Messages say what happened and what to do; they
never contain the token. Imports nothing from the rest of the package.

::

    HFInferenceError
    ├── InvalidRequestError (ValueError)    the arguments cannot make a request
    ├── TemplateError                       a chat template failed
    ├── OfflineCacheMiss                    HF_HUB_OFFLINE and nothing cached
    ├── ModelNotFoundError *                404, or no such model on the Hub
    ├── ModelNotSupportedError *            the model's task is not served here
    ├── TimeoutError (builtins.TimeoutError), alias APITimeoutError
    ├── ConnectionError (builtins.ConnectionError), alias APIConnectionError
    │   ├── CertificateError                TLS refused: not retried
    │   └── NameResolutionError             the host name does not resolve: not retried
    └── ResponseError *                     the server answered with an error
        ├── AuthenticationError (MissingAuthError)   401, 403
        ├── PaymentRequiredError            402
        ├── RateLimitError                  429 (retry_after)
        ├── ValidationError (ValueError)    400, 413, 422
        ├── EndpointGoneError               410
        ├── ServerError                     5xx
        │   └── ModelLoadingError           503 with estimated_time
        ├── HtmlResponseError               an HTML page instead of the API
        └── StreamError                     a stream broke (partial_text)

``*``: born of an HTTP answer, so it carries ``status``, ``url`` and
``request_id`` (``None`` when no answer was involved). :data:`STATUS_ERRORS`
is the one table from a status to its class.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "STATUS_ERRORS",
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "CertificateError",
    "ConnectionError",
    "EndpointGoneError",
    "HFInferenceError",
    "HtmlResponseError",
    "InvalidRequestError",
    "MissingAuthError",
    "ModelLoadingError",
    "ModelNotFoundError",
    "ModelNotSupportedError",
    "NameResolutionError",
    "OfflineCacheMiss",
    "PaymentRequiredError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "StreamError",
    "TemplateError",
    "TimeoutError",
    "ValidationError",
    "error_from_response",
]

#: How much of a server's body an error keeps (a proxy's HTML page can be large).
BODY_EXCERPT_CHARS = 500


class HFInferenceError(Exception):
    """Base of every error hfinfer raises."""


class InvalidRequestError(HFInferenceError, ValueError):
    """The caller's arguments cannot make a valid request (checked before sending)."""


class TemplateError(HFInferenceError):
    """A chat template failed to compile or raised while rendering."""


class OfflineCacheMiss(HFInferenceError):
    """``HF_HUB_OFFLINE`` is set and the answer is not in the cache."""


class _HttpBorn(HFInferenceError):
    """An error that may come from an HTTP answer: ``status``, ``url`` and
    ``request_id`` (the ``x-request-id`` header) say which one, else ``None``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.request_id = request_id


class ModelNotFoundError(_HttpBorn):
    """The model id does not exist on the Hub, or the inference base does not serve it."""

    def __init__(self, message: str, *, model: str | None = None, **answer: Any) -> None:
        super().__init__(message, **answer)
        self.model = model


class ModelNotSupportedError(_HttpBorn):
    """The model exists but this provider cannot run its task (its ``pipeline_tag``)."""

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        pipeline_tag: str | None = None,
        **answer: Any,
    ) -> None:
        super().__init__(message, **answer)
        self.model = model
        self.pipeline_tag = pipeline_tag


class TimeoutError(HFInferenceError, builtins.TimeoutError):
    """A time limit fired; ``phase`` names which one.

    ``phase`` is ``"connect"``, ``"first_byte"``, ``"stream_gap"`` or ``"total"``.
    In a stream, ``partial_text`` holds what had already been yielded.
    """

    def __init__(
        self, message: str, *, phase: str, seconds: float | None, partial_text: str = ""
    ) -> None:
        super().__init__(message)
        self.phase = phase
        self.seconds = seconds
        self.partial_text = partial_text


#: The name that does not shadow the builtin under ``from hfinfer import *`` (openai's).
APITimeoutError = TimeoutError


class ConnectionError(HFInferenceError, builtins.ConnectionError):
    """The server could not be reached, or the connection broke before an answer."""


#: The name that does not shadow the builtin under ``from hfinfer import *`` (openai's).
APIConnectionError = ConnectionError


class CertificateError(ConnectionError):
    """The TLS handshake failed (an untrusted or wrong certificate): not retried,
    since it will fail the same way again."""


class NameResolutionError(ConnectionError):
    """The server's host name does not resolve (no network, DNS, or a wrong URL): not
    retried, since a name that does not resolve rarely does a second later."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class ResponseError(_HttpBorn):
    """The server answered with an error.

    Attributes: ``status`` (HTTP status, or ``None`` for an error event inside
    a 200 stream), ``error_type`` (the server's ``error_type`` when given),
    ``body`` (an excerpt of the body), ``request_id`` (the ``x-request-id``
    header when present), ``url``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        body: str = "",
        request_id: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url, request_id=request_id)
        self.error_type = error_type
        self.body = body[:BODY_EXCERPT_CHARS]


class AuthenticationError(ResponseError):
    """401/403: a token is missing, wrong, or lacks access (gated or private repo)."""


#: The name gpt4free's code uses for the same failure.
MissingAuthError = AuthenticationError


class PaymentRequiredError(ResponseError):
    """402: the account's inference credits are used up (not a rate limit)."""


class RateLimitError(ResponseError):
    """429: too many requests; ``retry_after`` is the server's wait in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ValidationError(ResponseError, ValueError):
    """422 (or 400): the server rejected the input; the message is the server's own."""


class EndpointGoneError(ResponseError):
    """410: the endpoint was retired (the old serverless ``api-inference`` host)."""


class ServerError(ResponseError):
    """5xx: the server or a gateway failed."""


class ModelLoadingError(ServerError):
    """503 with ``estimated_time``: a cold model is loading."""

    def __init__(self, message: str, *, estimated_time: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.estimated_time = estimated_time


class HtmlResponseError(ResponseError):
    """An HTML page came back where JSON or an event stream was expected.

    Usually a proxy, captive portal or firewall answered instead of the API.
    """


class StreamError(ResponseError):
    """A stream broke: it ended before its final event, or sent a malformed event.

    ``partial_text`` holds the text that had already been yielded and
    ``tokens_received`` how many tokens had arrived, so nothing is lost.
    """

    def __init__(
        self, message: str, *, partial_text: str = "", tokens_received: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.partial_text = partial_text
        self.tokens_received = tokens_received


OLD_SERVERLESS_HOST = "api-inference.huggingface.co"
ROUTER_HF_INFERENCE = "https://router.huggingface.co/hf-inference"


def looks_like_html(body: bytes | str, content_type: str = "") -> bool:
    """Tell a proxy's or firewall's HTML page from an API answer."""
    if "html" in content_type.lower():
        return True
    head = body[:256].lstrip().lower()
    if isinstance(head, bytes):
        return head.startswith((b"<!doctype html", b"<html"))
    return head.startswith(("<!doctype html", "<html"))


def parse_error_body(body: bytes, content_type: str = "") -> tuple[str, str | None, dict[str, Any]]:
    """Return (message, error_type, the decoded JSON object or {}) of an error body.

    Understands TGI's ``{"error", "error_type"}``, OpenAI's ``{"error": {"message",
    "type"}}``, pydantic's ``{"detail": [...]}``, a list of errors, and plain text.
    """
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return text[:BODY_EXCERPT_CHARS], None, {}
    if not isinstance(data, dict):
        return text[:BODY_EXCERPT_CHARS], None, {}
    error = data.get("error")
    error_type = data.get("error_type")
    if isinstance(error, dict):  # OpenAI's shape, used by the router
        message = str(error.get("message") or error)
        error_type = error.get("type") or error.get("code") or error_type
    elif isinstance(error, list):
        message = "; ".join(str(item) for item in error)
    elif error is not None:
        message = str(error)
    elif "detail" in data:
        message = str(data["detail"])
    elif "message" in data:
        message = str(data["message"])
    else:
        message = text[:BODY_EXCERPT_CHARS]
    return message, str(error_type) if error_type is not None else None, data


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` or HF's ``ratelimit: "api";r=0;t=N``."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            import datetime

            now = datetime.datetime.now(when.tzinfo or datetime.timezone.utc)
            return max(0.0, (when - now).total_seconds())
    ratelimit = headers.get("ratelimit") or headers.get("RateLimit")
    if ratelimit:
        for part in ratelimit.split(";"):
            name, _, number = part.strip().partition("=")
            if name == "t":
                try:
                    return max(0.0, float(number))
                except ValueError:
                    return None
    return None


#: The one table from an HTTP status to its error class (5xx: :class:`ServerError`;
#: :func:`error_from_response` refines 403 "too large", 410 and a loading 503).
STATUS_ERRORS: dict[int, type[HFInferenceError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: AuthenticationError,
    404: ModelNotFoundError,
    410: EndpointGoneError,
    413: ValidationError,
    422: ValidationError,
    429: RateLimitError,
}

#: What to do, per class, after the server's own words.
_ADVICE: dict[type[HFInferenceError], str] = {
    AuthenticationError: ". A valid token with access to this model is needed: pass "
    "api_key=..., set HF_TOKEN, or run `hf auth login`; for a gated model, accept its terms "
    "on the Hub first.",
    PaymentRequiredError: ". The account's inference credits are used up; this is not a rate "
    "limit and waiting will not help.",
    EndpointGoneError: f". The serverless host {OLD_SERVERLESS_HOST} is retired; use "
    f"api_base={ROUTER_HF_INFERENCE!r} (hfinfer's default).",
    RateLimitError: ". Rate limited: wait and retry, or use a token with a higher limit.",
}
#: The same for a server of the user's own: its key and its names, not Hugging Face's.
_OWN_ADVICE: dict[type[HFInferenceError], str] = {
    AuthenticationError: ". The server refused the key: pass the key it expects as "
    "api_key=... (--api-key); it is sent to that server only.",
    RateLimitError: ". The server is busy or rate limited; wait and retry.",
}


def error_class(status: int, message: str = "", data: Mapping[str, Any] | None = None) -> type:
    """The class :func:`error_from_response` raises for ``status`` and the server's words."""
    if status == 403 and "too large" in message.lower():
        return ResponseError
    if status == 410 or (status not in (401, 402, 403, 404) and OLD_SERVERLESS_HOST in message):
        return EndpointGoneError
    if status == 503 and "estimated_time" in (data or {}):
        return ModelLoadingError
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ServerError if status >= 500 else ResponseError


def error_from_response(
    status: int,
    body: bytes,
    *,
    content_type: str = "",
    headers: Mapping[str, str] | None = None,
    url: str | None = None,
    model: str | None = None,
    hf_host: bool = True,
) -> HFInferenceError:
    """Map one HTTP error answer onto the error tree (through :data:`STATUS_ERRORS`).

    ``hf_host=False``: the answer came from a server of the user's own, so the
    advice is about that server (its key, its model names), not Hugging Face's.
    """
    headers = headers or {}
    request_id = headers.get("x-request-id") or headers.get("X-Request-Id")
    where = f" from {url}" if url else ""
    text = body.decode("utf-8", errors="replace")
    if looks_like_html(body, content_type):
        return HtmlResponseError(
            f"HTTP {status}{where}: got an HTML page instead of an API answer. A proxy, "
            "captive portal or firewall probably answered; check the base URL and proxy settings.",
            status=status,
            body=text,
            request_id=request_id,
            url=url,
        )
    message, error_type, data = parse_error_body(body, content_type)
    answer: dict[str, Any] = {"status": status, "request_id": request_id, "url": url}
    common: dict[str, Any] = {**answer, "error_type": error_type, "body": text}
    server_says = f": {message}" if message else ""
    kind = error_class(status, message, data) if hf_host else _own_error_class(status, data)
    if kind is ModelNotFoundError:
        check = (
            "Check the model id (it is case-sensitive, in the form owner/name)."
            if hf_host
            else "Check the model name against the names the server lists (GET /v1/models) "
            "and the base URL."
        )
        return ModelNotFoundError(
            f"{model or 'the model'} was not found{where}{server_says}. {check}",
            model=model,
            **answer,
        )
    if kind is RateLimitError:
        common["retry_after"] = parse_retry_after(headers)
    if kind is ModelLoadingError:
        return _loading(data, f"HTTP 503{where}{server_says}", common)
    if kind is ResponseError and status == 403:
        return ResponseError(
            f"HTTP {status}{where}{server_says}. This model cannot be served by this "
            "endpoint; pick a smaller model or a dedicated endpoint.",
            **common,
        )
    if kind is ValidationError:
        return ValidationError(
            f"HTTP {status}{where}: the server rejected the input{server_says}", **common
        )
    if kind is ServerError:
        return ServerError(f"HTTP {status}{where}: server error{server_says}", **common)
    advice = (_ADVICE if hf_host else _OWN_ADVICE).get(kind, "")
    error: HFInferenceError = kind(f"HTTP {status}{where}{server_says}{advice}", **common)
    return error


def _own_error_class(status: int, data: Mapping[str, Any] | None) -> type:
    """:func:`error_class` for a server of the user's own: no retired Hugging Face host,
    no credits, no "too large for this endpoint"."""
    kind = error_class(status, "", data)
    return ResponseError if kind in (EndpointGoneError, PaymentRequiredError) else kind


def _loading(data: Mapping[str, Any], said: str, common: dict[str, Any]) -> ModelLoadingError:
    try:
        estimate: float | None = float(data["estimated_time"])
    except (TypeError, ValueError):
        estimate = None
    return ModelLoadingError(
        said
        + ". The model is loading"
        + (f" (about {estimate:.0f} s)" if estimate is not None else "")
        + "; retry shortly.",
        estimated_time=estimate,
        **common,
    )
