"""The one place that opens connections: an aiohttp session with retries, timeouts
and errors mapped onto hfinfer's tree.

A request is retried (per :class:`RetryPolicy`) only until its answer's
headers arrive; once a body is handed to the caller nothing is retried, since
a generation is not idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson

from .._version import __version__
from ..config import ClientSettings, redact_url
from ..errors import (
    HFInferenceError,
    HtmlResponseError,
    InvalidRequestError,
    ModelLoadingError,
    ResponseError,
    error_from_response,
    looks_like_html,
)
from .errors import TransportGuard
from .retry import RetryPolicy

__all__ = ["Exchange", "Expect", "HttpClient", "Response", "borrow_client", "redact_headers"]

#: The answer a provider holds while reading it (aiohttp's, named here so that
#: no module above ``http/`` imports aiohttp).
Response = aiohttp.ClientResponse
#: What :meth:`HttpClient.open` checks of a successful answer before handing it over.
Expect = Literal["json", "event-stream", "image"]

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
        # No cap on connections: a gateway relays hundreds of streams at once.
        return aiohttp.TCPConnector(limit=0, enable_cleanup_closed=False)

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

    def build_headers(self, url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The headers of a request to ``url``: credentials only for the host they are
        meant for (the HF token for Hugging Face's, a server's key for that server)."""
        headers = {"user-agent": USER_AGENT}
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
        error. With ``stream=True`` the read limit switches from the first-byte
        timeout to the stream-gap timeout once headers arrive. The response is
        closed on exit, freeing its connection even when abandoned mid-body.
        ``exchange``, when given, records the answer's request id and provider.
        ``expect`` checks the answer is what was asked for: ``"json"`` or
        ``"event-stream"`` refuse an HTML page (a stream's server may still answer
        JSON), ``"image"`` also anything that is not an image.
        """
        policy = retry or self.retry
        body = orjson.dumps(json) if json is not None else None
        request_headers = self.build_headers(url, headers)
        if body is not None:
            request_headers.setdefault("content-type", "application/json")
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt = 0
        while True:
            try:
                response = await self._send(method, url, body, params, request_headers, model)
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
        try:
            if expect is not None:
                html_guard(response)
                if expect == "image":
                    await self._refuse_non_image(response)
            if stream:
                self._switch_to_stream_gap(response)
            yield response
        finally:
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
    ) -> aiohttp.ClientResponse:
        timeouts = self.settings.timeouts
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s headers=%s", method, url, redact_headers(headers))
        proxy = self._http_proxy(url)
        guard = TransportGuard(url, "send", timeouts, proxy=proxy)
        with guard:
            response = await self.session().request(
                method, url, data=body, params=params, headers=headers, proxy=proxy
            )
        guard.raise_kept()  # outside the block: aiohttp's exception holds the token
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
    async def _read_error_body(response: aiohttp.ClientResponse) -> bytes:
        try:
            return await response.content.read(MAX_ERROR_BODY)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return b""

    def _switch_to_stream_gap(self, response: aiohttp.ClientResponse) -> None:
        gap = self.settings.timeouts.stream_gap
        protocol = response.connection.protocol if response.connection else None
        if protocol is None or not hasattr(protocol, "read_timeout"):
            return
        protocol.read_timeout = gap
        # The timer running now was armed with the first-byte limit when the headers
        # (and often the first event) arrived; the new value only applies from the
        # next read. Re-arm it, so the first gap is measured with stream_gap too.
        # Only while it runs: once the body ended aiohttp dropped it, and a timer
        # armed then would fire on a connection back in the pool.
        restart = getattr(protocol, "start_timeout", None)
        if restart is not None and getattr(protocol, "_read_timeout_handle", None) is not None:
            restart()

    async def read_body(self, response: Response) -> bytes:
        """The whole body of a non-streamed answer, bounded by the total timeout."""
        with TransportGuard(response.url, "body", self.settings.timeouts, status=response.status):
            body = await asyncio.wait_for(response.read(), self.settings.timeouts.total)
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

    async def read_json(self, response: Response) -> Any:
        """Decode a JSON answer; an HTML page gets its own clear error."""
        raw = await self.read_body(response)
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
            return await self.read_json(response)


@asynccontextmanager
async def borrow_client(
    session: HttpClient | aiohttp.ClientSession | None,
) -> AsyncIterator[HttpClient]:
    """An :class:`HttpClient` for a caller's ``session``: hfinfer's own as it is, an
    ``aiohttp.ClientSession`` wrapped (not closed here), ``None`` a new one."""
    if isinstance(session, HttpClient):
        yield session
    elif isinstance(session, aiohttp.ClientSession):
        yield HttpClient(ClientSettings.resolve(), session=session)
    else:
        async with HttpClient(ClientSettings.resolve()) as http:
            yield http


def html_guard(response: Response) -> None:
    """Refuse a 200 HTML page where an event stream or JSON was expected."""
    if "html" in response.headers.get("content-type", "").lower():
        raise HtmlResponseError(
            f"{response.url} answered with an HTML page instead of the API's answer. A proxy, "
            "captive portal or firewall probably answered; check the base URL and proxy settings.",
            status=response.status,
            url=str(response.url),
        )
