"""The one place that opens connections: an aiohttp session with retries, timeouts
and errors mapped onto hfinfer's tree.

A request is retried (per :class:`RetryPolicy`) only until its answer's
headers arrive, and not even then once any byte of the answer came back; once
a body is handed to the caller nothing is retried, since a generation is not
idempotent.

aiohttp is imported on first use (a session made, a connector, an error
mapped), not with this module: importing it builds SSL contexts, and
``from hfinfer import HuggingFaceInference`` should not pay for that.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import orjson

from .._version import __version__
from ..config import ClientSettings, redact_url
from ..errors import (
    ConnectionError,
    HFInferenceError,
    HtmlResponseError,
    InvalidRequestError,
    ModelLoadingError,
    ResponseError,
    error_from_response,
    looks_like_html,
)
from .errors import TransportGuard
from .limits import BodyKind, BodyLimits, read_capped
from .retry import RetryPolicy
from .trace import RequestTrace, trace_requests

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import ClientResponse as Response
else:
    #: The answer a provider holds while reading it (aiohttp's ``ClientResponse``,
    #: named here so that no module above ``http/`` imports aiohttp; a name for
    #: annotations only, so it does not import aiohttp either).
    Response = Any

__all__ = ["Exchange", "Expect", "HttpClient", "Response", "borrow_client", "redact_headers"]
#: What :meth:`HttpClient.open` checks of a successful answer before handing it over.
Expect = Literal["json", "event-stream", "image"]

logger = logging.getLogger(__name__)

#: An error body is read up to this size; the rest of a proxy's page is not needed.
MAX_ERROR_BODY = 64 * 1024
WAIT_FOR_MODEL_HEADER = "x-wait-for-model"


_user_agent: str | None = None


def user_agent() -> str:
    """``hfinfer/<version>; aiohttp/<version>`` (made once, when aiohttp is loaded)."""
    global _user_agent
    if _user_agent is None:
        import aiohttp

        _user_agent = f"hfinfer/{__version__}; aiohttp/{aiohttp.__version__}"
    return _user_agent


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
        import urllib.request  # here, not at import: it costs 15 ms to import

        self._env_proxies = urllib.request.getproxies_environment()
        #: Size limits of whole answers, per kind (``HFINFER_MAX_*_BYTES``).
        self.limits = BodyLimits.from_env()

    def __repr__(self) -> str:
        return (
            f"HttpClient(hub={self.settings.hub_endpoint!r}, "
            f"token={'set' if self.settings.token else 'none'}, "
            f"proxy={redact_url(self.settings.proxy)!r})"
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
            import aiohttp

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
        import urllib.request

        if chosen is None or urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
            split.hostname or "", self._env_proxies
        ):
            return None
        return chosen

    def build_headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The headers of a request to ``url``: credentials only for the host they are
        meant for (the HF token for Hugging Face's, a server's key for that server)."""
        headers = {"user-agent": user_agent()}
        token = self.settings.credential_for(url)
        if token:
            headers["authorization"] = f"Bearer {token}"
        if self.settings.bill_to and self.settings.is_hf_url(url):
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
        expect: Expect | None = None,
    ) -> AsyncIterator[Response]:
        """Send a request and yield its successful response (status < 400).

        Retries per the policy; an error answer raises the matching hfinfer
        error. With ``stream=True`` a ``2xx`` chunked answer is read by hfinfer
        (:mod:`hfinfer.http.chunked`) and every stream's gaps are bounded by the
        stream-gap limit (hfinfer's own watchdog) once headers arrive. The response is
        closed on exit, freeing its connection even when abandoned mid-body.
        ``exchange``, when given, records the answer's request id and provider.
        ``expect`` checks the answer is what was asked for: ``"json"`` or
        ``"event-stream"`` refuse an HTML page (a stream's server may still answer
        JSON), ``"image"`` also anything that is not an image.
        """
        policy = retry or self.retry
        # A copy at its exact size: orjson's buffer keeps 4 KiB or more, and the body
        # stays referenced for the whole stream (retries, aiohttp's request).
        body = bytes(memoryview(orjson.dumps(json))) if json is not None else None
        request_headers = self.build_headers(url, headers)
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
        watch = None
        try:
            if expect is not None:
                html_guard(response)
                if expect == "image":
                    await self._refuse_non_image(response)
            if stream:
                watch = self._watch_stream(response)
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
    ) -> Response:
        timeouts = self.settings.timeouts
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s headers=%s", method, url, redact_headers(headers))
        trace = RequestTrace(stream, timeouts.first_byte)
        answered: ResponseError | None = None
        try:
            response = await self._request(trace, method, url, body, params, headers)
        except ConnectionError as error:
            if not trace.answered:
                raise
            answered = ResponseError(
                f"{url} began an answer, then failed ({error}); not retried, since the "
                "server may have acted on the request.",
                url=url,
            )
        if answered is not None:
            raise answered  # outside the handler: aiohttp's exception holds the token
        tap = trace.tap
        if tap is not None and tap.holding:
            response.content = tap.claim(timeouts.stream_gap)
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
            hf_host=self.settings.is_hf_url(url),
        )

    async def _request(
        self,
        trace: RequestTrace,
        method: str,
        url: str,
        body: bytes | None,
        params: Any,
        headers: dict[str, str],
    ) -> Response:
        """aiohttp's request, its failures as hfinfer's errors; ``trace`` learns from
        the connection's tap whether the server answered, and holds the tap."""
        proxy = self._http_proxy(url)
        guard = TransportGuard(url, "send", self.settings.timeouts, proxy=proxy)
        reset = trace_requests.set(trace)
        try:
            with guard:
                response = await self.session().request(
                    method, url, data=body, params=params, headers=headers, proxy=proxy
                )
        finally:
            trace_requests.reset(reset)
        guard.raise_kept()  # outside the block: aiohttp's exception holds the token
        return response

    async def _refuse_non_image(self, response: Response) -> None:
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("image/"):
            body = await self.read_body(response)
            raise ResponseError(
                f"{response.url} answered {content_type or 'without a content type'} instead "
                f"of an image: {body[:200]!r}",
                status=response.status,
                body=body.decode("utf-8", errors="replace"),
                url=str(response.url),
            )

    @staticmethod
    async def _read_error_body(response: Response) -> bytes:
        import aiohttp

        try:
            return await response.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return b""

    def _watch_stream(self, response: Response) -> Any:
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

    async def read_body(self, response: Response, kind: BodyKind | None = None) -> bytes:
        """The whole body of a non-streamed answer, bounded by the total timeout and by
        the size limit of its kind (:mod:`hfinfer.http.limits`; by default an image's
        when the answer is one, else a generation's)."""
        if kind is None:
            is_image = response.headers.get("content-type", "").startswith("image/")
            kind = "image" if is_image else "generation"
        limit = self.limits.of(kind)
        with TransportGuard(response.url, "body", self.settings.timeouts, status=response.status):
            body = await asyncio.wait_for(
                read_capped(response, kind, limit), self.settings.timeouts.total
            )
        return body

    def reading(
        self,
        response: Response,
        progress: Callable[[], tuple[int, str]],
        unit: str = "tokens",
    ) -> TransportGuard:
        """Wrap a stream's whole read loop: a transport failure inside becomes
        hfinfer's error, carrying what ``progress()`` says was delivered."""
        return TransportGuard(response.url, "stream", self.settings.timeouts, progress, unit)

    async def read_json(self, response: Response, kind: BodyKind | None = None) -> Any:
        """Decode a JSON answer; an HTML page gets its own clear error."""
        raw = await self.read_body(response, kind)
        content_type = response.headers.get("content-type", "")
        if looks_like_html(raw, content_type):
            raise error_from_response(
                response.status,
                raw,
                content_type=content_type,
                url=str(response.url),
                hf_host=self.settings.is_hf_url(str(response.url)),
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


@asynccontextmanager
async def borrow_client(
    session: HttpClient | aiohttp.ClientSession | None,
) -> AsyncIterator[HttpClient]:
    """An :class:`HttpClient` for a caller's ``session``: hfinfer's own as it is, an
    ``aiohttp.ClientSession`` wrapped (not closed here), ``None`` a new one."""
    if isinstance(session, HttpClient):
        yield session
    elif _is_aiohttp_session(session):
        yield HttpClient(ClientSettings.resolve(), session=session)
    else:
        async with HttpClient(ClientSettings.resolve()) as http:
            yield http


def _is_aiohttp_session(value: object) -> bool:
    # A caller's aiohttp session means aiohttp is loaded already: nothing to import.
    aiohttp = sys.modules.get("aiohttp")
    return aiohttp is not None and isinstance(value, aiohttp.ClientSession)


def html_guard(response: Response) -> None:
    """Refuse a 200 HTML page where an event stream or JSON was expected."""
    if "html" in response.headers.get("content-type", "").lower():
        raise HtmlResponseError(
            f"{response.url} answered with an HTML page instead of the API's answer. A proxy, "
            "captive portal or firewall probably answered; check the base URL and proxy settings.",
            status=response.status,
            url=str(response.url),
        )
