"""The one place that opens connections: an aiohttp session with retries, timeouts
and errors mapped onto hfinfer's tree.

A request is retried (per :class:`RetryPolicy`) only until its answer's
headers arrive; once a body is handed to the caller nothing is retried, since
a generation is not idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from .._version import __version__
from ..config import ClientSettings
from ..errors import (
    CertificateError,
    ConnectionError,
    HFInferenceError,
    HtmlResponseError,
    InvalidRequestError,
    ModelLoadingError,
    NameResolutionError,
    ResponseError,
    StreamError,
    TimeoutError,
    error_from_response,
    looks_like_html,
)
from .limits import BodyKind, BodyLimits, read_capped
from .retry import RetryPolicy

__all__ = ["Exchange", "HttpClient", "redact_headers"]

logger = logging.getLogger(__name__)

USER_AGENT = f"hfinfer/{__version__}; aiohttp/{aiohttp.__version__}"
#: An error body is read up to this size; the rest of a proxy's page is not needed.
MAX_ERROR_BODY = 64 * 1024
WAIT_FOR_MODEL_HEADER = "x-wait-for-model"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to log: credentials replaced by ``***``."""
    secret = {"authorization", "proxy-authorization", "cookie", "x-api-key"}
    return {k: ("***" if k.lower() in secret else v) for k, v in headers.items()}


class Exchange:
    """What one call learned from the answer's headers, for its response's log:
    the request id, the provider that answered (router) and the status."""

    __slots__ = ("provider", "request_id", "status", "url")

    def __init__(self) -> None:
        self.request_id: str | None = None
        self.provider: str | None = None
        self.status: int | None = None
        self.url: str | None = None

    def record(self, response: aiohttp.ClientResponse) -> None:
        headers = response.headers
        self.request_id = headers.get("x-request-id") or self.request_id
        self.provider = headers.get("x-inference-provider") or self.provider
        self.status = response.status
        self.url = str(response.url)


class HttpClient:
    """An aiohttp session plus hfinfer's request rules; reuse one for many calls.

    Use as ``async with HttpClient(settings) as http: ...`` or call
    :meth:`aclose`. A caller's own ``aiohttp.ClientSession`` can be passed in;
    it is then used as is and not closed here.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy(max_retries=settings.max_retries)
        self._session = session
        self._owns_session = session is None
        self._env_proxies = urllib.request.getproxies_environment()
        #: Size limits of whole answers, per kind (``HFINFER_MAX_*_BYTES``).
        self.limits = BodyLimits.from_env()

    def __repr__(self) -> str:
        return (
            f"HttpClient(hub={self.settings.hub_endpoint!r}, "
            f"token={'set' if self.settings.token else 'none'}, proxy={self.settings.proxy!r})"
        )

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._session is not None and self._session.closed

    async def aclose(self) -> None:
        """Close the session and its connections (only if this client made them)."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, made on first use (inside the running loop)."""
        if self._session is None or (self._owns_session and self._session.closed):
            timeouts = self.settings.timeouts
            self._session = aiohttp.ClientSession(
                connector=self._make_connector(),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeouts.connect, sock_read=timeouts.first_byte
                ),
                # Proxies from the environment are read once, in __init__ (_env_proxies):
                # aiohttp's trust_env would look them (and netrc) up in a thread per request.
                trust_env=False,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
            )
            self._owns_session = True
        return self._session

    def _make_connector(self) -> aiohttp.BaseConnector:
        proxy = self.settings.proxy
        if proxy and proxy.startswith(("socks4://", "socks5://", "socks5h://")):
            try:
                from aiohttp_socks import ProxyConnector  # type: ignore[import-not-found]
            except ImportError as exc:
                raise InvalidRequestError(
                    f"A SOCKS proxy needs the extra: pip install 'hfinfer[socks]' ({proxy.split('://')[0]})"
                ) from exc
            return ProxyConnector.from_url(proxy, limit=0)
        from .tap import TapConnector

        # No cap on connections: a gateway relays hundreds of streams at once.
        return TapConnector(limit=0, enable_cleanup_closed=False)

    def _http_proxy(self, url: str) -> str | None:
        """The HTTP proxy for ``url``: the configured one, else ``HTTPS_PROXY``/
        ``HTTP_PROXY`` unless ``NO_PROXY`` names the host (every call, discovery too)."""
        proxy = self.settings.proxy
        if proxy:
            return proxy if proxy.startswith(("http://", "https://")) else None
        if not self._env_proxies:
            return None
        split = urlsplit(url)
        chosen = self._env_proxies.get(split.scheme)
        if chosen is None or urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
            split.hostname or "", self._env_proxies
        ):
            return None
        return chosen

    def build_headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"user-agent": USER_AGENT}
        if self.settings.token:
            headers["authorization"] = f"Bearer {self.settings.token}"
        if self.settings.bill_to:
            headers["x-hf-bill-to"] = self.settings.bill_to
        if extra:
            headers.update(extra)
        return headers

    @asynccontextmanager
    async def open(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        model: str | None = None,
        retry: RetryPolicy | None = None,
        exchange: Exchange | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield its successful response (status < 400).

        Retries per the policy; an error answer raises the matching hfinfer
        error. With ``stream=True`` the read limit switches from the first-byte
        timeout to the stream-gap timeout once headers arrive. The response is
        closed on exit, freeing its connection even when abandoned mid-body.
        ``exchange``, when given, records the answer's request id and provider.
        """
        policy = retry or self.retry
        # A copy at its exact size: orjson's buffer keeps 4 KiB or more, and the body
        # stays referenced for the whole stream (retries, aiohttp's request).
        body = bytes(memoryview(orjson.dumps(json))) if json is not None else None
        request_headers = self.build_headers(headers)
        if body is not None:
            request_headers.setdefault("content-type", "application/json")
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        while True:
            try:
                response = await self._send(
                    method, url, body, params, request_headers, model, stream
                )
                break
            except HFInferenceError as error:
                delay = policy.delay(attempt, error)
                # The budget is wall-clock time (slow attempts count, not only the
                # waits), and a wait that would end past it is not started.
                spent = loop.time() - started + delay
                if not policy.should_retry(attempt, error, spent):
                    raise
                if isinstance(error, ModelLoadingError) or getattr(error, "status", None) == 503:
                    # Ask the inference API to hold the request until the model is up.
                    request_headers[WAIT_FOR_MODEL_HEADER] = "true"
                logger.info("retrying %s %s in %.2fs after: %s", method, url, delay, error)
                await asyncio.sleep(delay)
                attempt += 1
        if exchange is not None:
            exchange.record(response)
        watch = self._watch_stream(response) if stream else None
        try:
            yield response
        finally:
            if watch is not None:
                watch.cancel()
            # close() rather than release(): an unread body must not go back to the pool.
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        params: Any,
        headers: dict[str, str],
        model: str | None,
        stream: bool = False,
    ) -> aiohttp.ClientResponse:
        from .tap import RequestTrace

        trace = RequestTrace(stream, self.settings.timeouts.first_byte)
        failed: HFInferenceError | None = None
        try:
            return await self._send_traced(trace, method, url, body, params, headers, model)
        except ConnectionError as error:
            if not trace.answered:
                raise
            failed = ResponseError(
                f"{url} answered with something that is not HTTP ({error}); not retried, since "
                "the server may have acted on the request.",
                url=url,
            )
        raise failed  # outside the handler: aiohttp's exception holds the token

    async def _send_traced(
        self,
        trace: Any,
        method: str,
        url: str,
        body: bytes | None,
        params: Any,
        headers: dict[str, str],
        model: str | None,
    ) -> aiohttp.ClientResponse:
        timeouts = self.settings.timeouts
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s headers=%s", method, url, redact_headers(headers))
        unchained: HFInferenceError | None = None
        from .tap import trace_requests

        reset = trace_requests.set(trace)
        try:
            response = await self.session().request(
                method, url, data=body, params=params, headers=headers, proxy=self._http_proxy(url)
            )
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimeoutError(
                f"Could not connect to {url} within {timeouts.connect} s (connect timeout).",
                phase="connect",
                seconds=timeouts.connect,
            ) from exc
        except (aiohttp.SocketTimeoutError, asyncio.TimeoutError) as exc:
            raise TimeoutError(
                f"{url} sent no answer within {timeouts.first_byte} s (first-byte timeout). "
                "A cold model can take minutes; raise timeout= if needed.",
                phase="first_byte",
                seconds=timeouts.first_byte,
            ) from exc
        except aiohttp.ClientProxyConnectionError as exc:  # before its base class below
            raise ConnectionError(f"Could not connect through the proxy: {exc}") from exc
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError) as exc:
            raise CertificateError(
                f"The TLS handshake with {url} failed: {exc.os_error or exc}. The server's "
                "certificate is not trusted (a proxy that inspects TLS needs its CA in "
                "SSL_CERT_FILE)."
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            if _is_name_resolution_failure(exc):
                raise self._name_resolution_error(url, exc) from exc
            raise ConnectionError(f"Could not connect to {url}: {exc.os_error or exc}") from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise ConnectionError(f"The connection to {url} broke before an answer: {exc}") from exc
        except aiohttp.ClientResponseError as exc:
            unchained = _response_failure(exc, url)
        except (
            aiohttp.InvalidUrlRedirectClientError,
            aiohttp.NonHttpUrlRedirectClientError,
        ) as exc:
            unchained = ResponseError(
                f"{url} redirected to {exc}, which is not an http(s) address; "
                "not followed, and not retried.",
                url=url,
            )
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"Request to {url} failed: {exc}") from exc
        finally:
            trace_requests.reset(reset)
        tap = trace.tap
        if tap is not None and tap.holding:
            response.content = tap.claim(timeouts.stream_gap)
        if unchained is not None:
            # Raised outside the handler, so not even as __context__: aiohttp's
            # exception holds the request's headers, the token among them.
            raise unchained
        if response.status < 400:
            return response
        try:
            raw = await self._read_error_body(response)
        finally:
            response.close()
        raise error_from_response(
            response.status,
            raw,
            content_type=response.headers.get("content-type", ""),
            headers=response.headers,
            url=str(response.url),
            model=model,
        )

    def _name_resolution_error(
        self, url: str, exc: aiohttp.ClientConnectorError
    ) -> NameResolutionError:
        # Behind a proxy, the name aiohttp failed to resolve is the proxy's.
        proxy = self._http_proxy(url)
        host = urlsplit(proxy or url).hostname or exc.host
        what = "the proxy's host" if proxy else "the host"
        reason = getattr(exc.os_error, "strerror", None) or "name not resolved"
        return NameResolutionError(
            f"Could not find {what} {host} ({reason}): check the network, or the URL.",
            host=host,
        )

    @staticmethod
    async def _read_error_body(response: aiohttp.ClientResponse) -> bytes:
        try:
            return await response.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return b""

    def _watch_stream(self, response: aiohttp.ClientResponse) -> Any:
        """Bound a stream's gaps with hfinfer's own watchdog: a body read by hfinfer
        (:class:`~hfinfer.http.chunked.ChunkedBody`) runs its own; aiohttp's reader gets
        a :class:`~hfinfer.http.chunked.ReaderWatch` instead of aiohttp's per-read timer
        (which a broken framing leaves waiting forever). The watch, to cancel, or None."""
        from .chunked import ChunkedBody, ReaderWatch

        gap = self.settings.timeouts.stream_gap
        content = response.content
        if isinstance(content, ChunkedBody) or not gap:
            return None
        protocol = response.connection.protocol if response.connection else None
        if protocol is not None and hasattr(protocol, "read_timeout"):
            protocol.read_timeout = None  # the watch measures the gaps
            if getattr(protocol, "_read_timeout_handle", None) is not None:
                protocol.start_timeout()  # drops the timer armed with the first-byte limit
        return ReaderWatch(content, gap, asyncio.get_running_loop())

    async def read_body(
        self, response: aiohttp.ClientResponse, kind: BodyKind | None = None
    ) -> bytes:
        """The whole body of a non-streamed answer, bounded by the total timeout and by
        the size limit of its kind (:mod:`hfinfer.http.limits`; by default an image's
        when the answer is one, else a generation's)."""
        total = self.settings.timeouts.total
        if kind is None:
            is_image = response.headers.get("content-type", "").startswith("image/")
            kind = "image" if is_image else "generation"
        try:
            return await asyncio.wait_for(read_capped(response, kind, self.limits.of(kind)), total)
        except asyncio.TimeoutError as exc:
            raise TimeoutError(
                f"{response.url} did not finish its answer within {total} s (total timeout).",
                phase="total",
                seconds=total,
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise StreamError(
                f"The answer from {response.url} was cut off: {exc}", status=response.status
            ) from exc
        except aiohttp.ClientError as exc:
            raise ConnectionError(f"Reading the answer from {response.url} failed: {exc}") from exc

    async def read_json(
        self, response: aiohttp.ClientResponse, kind: BodyKind | None = None
    ) -> Any:
        """Decode a JSON answer; an HTML page gets its own clear error."""
        raw = await self.read_body(response, kind)
        content_type = response.headers.get("content-type", "")
        if looks_like_html(raw, content_type):
            raise error_from_response(
                response.status, raw, content_type=content_type, url=str(response.url)
            )
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ResponseError(
                f"{response.url} answered with something that is not JSON: {raw[:120]!r}",
                status=response.status,
                body=raw.decode("utf-8", errors="replace"),
                url=str(response.url),
            ) from exc

    async def get_json(
        self,
        url: str,
        *,
        params: Any = None,
        model: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Any:
        async with self.open("GET", url, params=params, model=model, retry=retry) as response:
            return await self.read_json(response, "metadata")


#: aiohttp >= 3.11 raises this on a failed lookup; older versions wrap socket.gaierror.
_DNS_ERRORS: tuple[type[BaseException], ...] = tuple(
    getattr(aiohttp, name) for name in ("ClientConnectorDNSError",) if hasattr(aiohttp, name)
)


def _is_name_resolution_failure(exc: aiohttp.ClientConnectorError) -> bool:
    return isinstance(exc, _DNS_ERRORS) or isinstance(exc.os_error, socket.gaierror)


def _response_failure(exc: aiohttp.ClientResponseError, url: str) -> HFInferenceError:
    """Our error for an answer aiohttp refused before handing it over (a redirect
    loop, a proxy's refusal), in words only: the exception keeps the request's headers."""
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ResponseError(
            f"{url} answered with {len(exc.history)} redirects in a row and no answer; "
            "check the base URL and proxy settings.",
            url=url,
        )
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return ResponseError(
            f"The proxy refused to connect to {url}: HTTP {exc.status} {exc.message}. "
            "Check the proxy address and its credentials.",
            status=exc.status,
            url=url,
        )
    return ConnectionError(f"Request to {url} failed: HTTP {exc.status} {exc.message}")


def html_guard(response: aiohttp.ClientResponse) -> None:
    """Refuse a 200 HTML page where an event stream or JSON was expected."""
    if "html" in response.headers.get("content-type", "").lower():
        raise HtmlResponseError(
            f"{response.url} answered with an HTML page instead of the API's answer. A proxy, "
            "captive portal or firewall probably answered; check the base URL and proxy settings.",
            status=response.status,
            url=str(response.url),
        )
