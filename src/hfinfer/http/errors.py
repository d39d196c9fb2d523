"""The one table from transport exceptions (aiohttp's, asyncio's) to hfinfer's errors,
and :class:`TransportGuard`, the context manager that applies it around a whole
exchange: sending, reading a body, or a stream's whole read loop (httpx's
``map_httpcore_exceptions`` is the model).

What a failure means depends on when it struck (its ``phase``): a timeout
before the headers is the first-byte limit, inside a stream the stream-gap
limit; a broken connection inside a stream is a :class:`StreamError` carrying
the text already delivered.

aiohttp is imported when the table is first needed (a failure to map), not
with this module: :mod:`hfinfer.http.session` imports this one at import time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from functools import cache
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

from ..config import Timeouts
from ..errors import (
    CertificateError,
    ConnectionError,
    HFInferenceError,
    NameResolutionError,
    ResponseError,
    StreamError,
    TimeoutError,
)

__all__ = ["Phase", "TransportGuard", "map_transport_error", "transport_errors"]

#: ``send``: until the answer's headers; ``body``: reading a whole body; ``stream``:
#: a stream's read loop.
Phase = Literal["send", "body", "stream"]


def _no_progress() -> tuple[int, str]:
    return 0, ""


def _aiohttp() -> Any:
    import aiohttp

    return aiohttp


def _timeout(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    aiohttp = _aiohttp()
    limits = where.timeouts
    if where.phase == "stream":
        received, text = where.progress()
        return TimeoutError(
            f"The stream from {where.url} stalled after {received} {where.unit}: nothing "
            f"arrived for {limits.stream_gap} s (stream-gap timeout). The text so far is "
            "in .partial_text.",
            phase="stream_gap",
            seconds=limits.stream_gap,
            partial_text=text,
        )
    if where.phase == "body":
        return TimeoutError(
            f"{where.url} did not finish its answer within {limits.total} s (total timeout).",
            phase="total",
            seconds=limits.total,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TimeoutError(
            f"Could not connect to {where.url} within {limits.connect} s (connect timeout).",
            phase="connect",
            seconds=limits.connect,
        )
    return TimeoutError(
        f"{where.url} sent no answer within {limits.first_byte} s (first-byte timeout). "
        "A cold model can take minutes; raise timeout= if needed.",
        phase="first_byte",
        seconds=limits.first_byte,
    )


def _proxy(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    return ConnectionError(f"Could not connect through the proxy: {exc}")


def _certificate(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    reason = getattr(exc, "os_error", None) or exc
    return CertificateError(
        f"The TLS handshake with {where.url} failed: {reason}. The server's certificate is "
        "not trusted (a proxy that inspects TLS needs its CA in SSL_CERT_FILE)."
    )


def _unreachable(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    reason = getattr(exc, "os_error", None) or exc
    if _is_name_resolution_failure(exc):
        return _name_not_resolved(exc, where)
    return ConnectionError(f"Could not connect to {where.url}: {reason}")


def _is_name_resolution_failure(exc: BaseException) -> bool:
    # aiohttp >= 3.11 raises ClientConnectorDNSError on a failed lookup; older
    # versions wrap socket.gaierror.
    dns = getattr(_aiohttp(), "ClientConnectorDNSError", ())
    return isinstance(exc, dns) or isinstance(getattr(exc, "os_error", None), socket.gaierror)


def _name_not_resolved(exc: BaseException, where: TransportGuard) -> NameResolutionError:
    # Behind a proxy, the name aiohttp failed to resolve is the proxy's.
    host = urlsplit(where.proxy or str(where.url)).hostname or getattr(exc, "host", None)
    what = "the proxy's host" if where.proxy else "the host"
    reason = getattr(getattr(exc, "os_error", None), "strerror", None) or "name not resolved"
    return NameResolutionError(
        f"Could not find {what} {host} ({reason}): check the network, or the URL.",
        host=host,
    )


def _broke(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    aiohttp = _aiohttp()
    if where.phase == "stream":
        received, text = where.progress()
        return StreamError(
            f"The connection to {where.url} broke after {received} {where.unit} ({exc}). "
            "The text so far is in .partial_text.",
            url=str(where.url),
            partial_text=text,
            tokens_received=received,
        )
    if where.phase == "body":
        if isinstance(exc, aiohttp.ClientPayloadError):
            return StreamError(
                f"The answer from {where.url} was cut off: {exc}", status=where.status
            )
        return ConnectionError(f"Reading the answer from {where.url} failed: {exc}")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return ConnectionError(f"The connection to {where.url} broke before an answer: {exc}")
    return ConnectionError(f"Request to {where.url} failed: {exc}")


def _refused(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    """An answer aiohttp refused before handing it over (a redirect loop, a proxy's
    refusal), in words only: the exception keeps the request's headers."""
    aiohttp = _aiohttp()
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ResponseError(
            f"{where.url} answered with {len(exc.history)} redirects in a row and no answer; "
            "check the base URL and proxy settings.",
            url=str(where.url),
        )
    assert isinstance(exc, aiohttp.ClientResponseError)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return ResponseError(
            f"The proxy refused to connect to {where.url}: HTTP {exc.status} {exc.message}. "
            "Check the proxy address and its credentials.",
            status=exc.status,
            url=str(where.url),
        )
    return ConnectionError(f"Request to {where.url} failed: HTTP {exc.status} {exc.message}")


def _not_http(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    """A redirect to an address aiohttp will not follow (``file://``, a broken URL)."""
    return ResponseError(
        f"{where.url} redirected to {exc}, which is not an http(s) address; not followed, "
        "and not retried.",
        url=str(where.url),
    )


def _other(exc: BaseException, where: TransportGuard) -> HFInferenceError:
    if where.phase == "stream":
        return ConnectionError(f"Reading the stream from {where.url} failed: {exc!r}")
    return _broke(exc, where)


Mapper = Callable[[BaseException, "TransportGuard"], HFInferenceError]
Table = tuple[tuple[tuple[type[BaseException], ...], Mapper, bool], ...]


@cache
def transport_errors() -> Table:
    """The one table, most specific first: the first row whose types match maps the
    exception. Rows marked ``False`` raise the mapped error without any link to
    aiohttp's exception (not even ``__context__``): that one holds the request's
    headers, the token among them. hfinfer's own reader raises aiohttp's types
    (:mod:`hfinfer.http.chunked`: a framing error is a ``ClientPayloadError``, a
    stall a ``SocketTimeoutError``), so it maps the same way."""
    import aiohttp

    tls = (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError)
    not_http = (aiohttp.InvalidUrlRedirectClientError, aiohttp.NonHttpUrlRedirectClientError)
    return (
        ((aiohttp.ServerTimeoutError, asyncio.TimeoutError), _timeout, True),
        ((aiohttp.ClientProxyConnectionError,), _proxy, True),
        (tls, _certificate, True),
        ((aiohttp.ClientConnectorError,), _unreachable, True),
        ((aiohttp.ClientResponseError,), _refused, False),
        (not_http, _not_http, True),
        ((aiohttp.ClientError,), _broke, True),
        ((OSError,), _other, True),
    )


def map_transport_error(
    exc: BaseException, where: TransportGuard
) -> tuple[HFInferenceError, bool] | None:
    """hfinfer's error for a transport exception and whether to chain it, or ``None``
    when ``exc`` is not a transport failure."""
    if isinstance(exc, HFInferenceError):
        return None
    for types, mapper, chain in transport_errors():
        if isinstance(exc, types):
            return mapper(exc, where), chain
    return None


class TransportGuard:
    """Where a transport failure may strike, and the context manager that maps it:
    the URL, the phase, the limits in force; for a stream, how far it got
    (``progress()`` gives the units received and the text delivered, ``unit``
    names the units); the answer's ``status`` and the ``proxy`` used, if any.

    ``with TransportGuard(...):`` turns the transport exceptions raised inside
    into hfinfer's errors (per :func:`transport_errors`); hfinfer's own errors
    and everything else pass. An error that must not be linked to aiohttp's
    exception can only be raised outside the ``with`` (inside, Python sets
    ``__context__``): while sending it is kept, and :meth:`raise_kept` raises it
    after the block. A plain class: one or two are made per call.
    """

    __slots__ = ("kept", "phase", "progress", "proxy", "status", "timeouts", "unit", "url")

    def __init__(
        self,
        url: object,
        phase: Phase,
        timeouts: Timeouts,
        progress: Callable[[], tuple[int, str]] = _no_progress,
        unit: str = "tokens",
        *,
        status: int | None = None,
        proxy: str | None = None,
    ) -> None:
        self.url = url  # a str, or the response's URL object: made text only on failure
        self.phase = phase
        self.timeouts = timeouts
        self.progress = progress
        self.unit = unit
        self.status = status
        self.proxy = proxy
        self.kept: HFInferenceError | None = None

    def __enter__(self) -> TransportGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        mapped = map_transport_error(exc, self)
        if mapped is None:
            return False
        error, chain = mapped
        if not chain and self.phase == "send":
            self.kept = error
            return True
        raise error from exc

    def raise_kept(self) -> None:
        """Raise the error kept from the block, with no link to what caused it."""
        if self.kept is not None:
            raise self.kept
