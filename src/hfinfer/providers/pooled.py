"""What every HTTP provider shares: per-call options resolved from arguments,
the instance and the environment; an instance's reusable connection pool;
and transport failures mid-stream mapped onto hfinfer's errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from ..config import ClientSettings, Timeouts
from ..errors import (
    ConnectionError,
    HFInferenceError,
    InvalidRequestError,
    StreamError,
    TimeoutError,
)
from ..http.pool import call_pool
from ..http.retry import RetryPolicy
from ..http.session import Exchange, HttpClient
from ..types import Messages, content_text

__all__ = ["CallOptions", "PooledProvider", "call_client", "last_user_text", "stream_failure"]

P = TypeVar("P", bound="PooledProvider")


#: The seed's ``timeout=600``: a call that leaves it so takes its instance's timeout.
DEFAULT_TIMEOUT = 600


class PooledProvider:
    """Instance defaults (``api_key``, ``api_base``, ``proxy``, ``max_retries``,
    ``timeout``) and, inside ``async with``, one connection pool that every call of
    the instance uses (a call that asks for other limits gets a client of its own)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        proxy: str | None = None,
        max_retries: int | None = None,
        timeout: float | Timeouts | None = None,
    ) -> None:
        self._api_key = api_key
        self._api_base = api_base
        self._proxy = proxy
        self._max_retries = max_retries
        self._timeout = timeout
        self._http: HttpClient | None = None

    def __repr__(self) -> str:
        state = "open" if self._http is not None else "closed"
        return f"{type(self).__name__}(api_base={self._api_base!r}, {state})"

    async def __aenter__(self: P) -> P:
        self._http = HttpClient(
            ClientSettings.resolve(
                api_key=self._api_key,
                proxy=self._proxy,
                max_retries=self._max_retries,
                timeout=self._timeout,
            )
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the instance's connection pool."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()


class CallOptions:
    """The options of one call: client settings, the base URL, the extra body
    (``extra_data``/``extra_body``), an optional retry policy, and the
    :class:`Exchange` that records what the generation's answer said of itself."""

    __slots__ = ("api_base", "exchange", "extra", "retry", "settings")

    def __init__(
        self,
        settings: ClientSettings,
        api_base: str,
        extra: dict[str, Any],
        retry: RetryPolicy | None = None,
        exchange: Exchange | None = None,
    ) -> None:
        self.settings = settings
        self.api_base = api_base
        self.extra = extra
        self.retry = retry
        self.exchange = exchange

    @classmethod
    def collect(
        cls,
        instance: PooledProvider | None,
        kwargs: dict[str, Any],
        *,
        api_base: str | None,
        api_key: str | None,
        proxy: str | None,
        timeout: float | Timeouts | None,
        extra_data: Mapping[str, Any] | None,
        resolve_base: Callable[[str | None], str],
    ) -> CallOptions:
        """Arguments win over the instance's defaults, which win over the
        environment. Pops ``base_url``, ``extra_body``, ``retry`` and
        ``max_retries`` from ``kwargs``."""
        base = api_base or kwargs.pop("base_url", None) or (instance and instance._api_base)
        extra_body = kwargs.pop("extra_body", None)
        retry = kwargs.pop("retry", None)
        exchange = kwargs.pop("_exchange", None)  # AsyncClient's: what its response logs
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidRequestError("retry must be a hfinfer.RetryPolicy")
        for name, value in (("extra_data", extra_data), ("extra_body", extra_body)):
            if value is not None and not isinstance(value, Mapping):
                raise InvalidRequestError(f"{name} must be a dict, got {type(value).__name__}")
        if (
            instance is not None
            and instance._http is not None
            and api_key is None
            and proxy is None
            and "max_retries" not in kwargs
            and timeout in (DEFAULT_TIMEOUT, instance._timeout)
        ):
            # Nothing of the call differs from the open instance: its settings, resolved
            # once on `async with`, are this call's (no environment or disk read per call).
            settings = instance._http.settings
        else:
            max_retries = kwargs.pop("max_retries", instance._max_retries if instance else None)
            if (
                instance is not None
                and instance._timeout is not None
                and timeout == DEFAULT_TIMEOUT
            ):
                timeout = instance._timeout
            settings = ClientSettings.resolve(
                api_key=api_key or (instance and instance._api_key) or None,
                proxy=proxy or (instance and instance._proxy) or None,
                timeout=timeout,
                max_retries=max_retries,
            )
        extra = {**(extra_data or {}), **(extra_body or {})}
        return cls(settings, resolve_base(base or None), extra, retry, exchange)


@asynccontextmanager
async def call_client(
    instance: PooledProvider | None, call: CallOptions
) -> AsyncIterator[HttpClient]:
    """The instance's open pool when it fits the call, else a client for this call only."""
    shared = instance._http if instance is not None else None
    if (
        call.retry is None
        and shared is not None
        and not shared.closed
        and call.settings.token == shared.settings.token
        and call.settings.proxy == shared.settings.proxy
        # The pool carries its limits: a call asking for others gets its own client.
        and call.settings.timeouts == shared.settings.timeouts
        and call.settings.max_retries == shared.settings.max_retries
    ):
        yield shared
        return
    async with call_pool(call.settings, call.retry) as http:
        yield http


def stream_failure(
    exc: Exception,
    url: str,
    gap: float | None,
    received: int,
    partial_text: str,
    unit: str = "tokens",
) -> HFInferenceError:
    """A transport failure mid-stream, as our error carrying the text so far."""
    if isinstance(exc, (aiohttp.SocketTimeoutError, asyncio.TimeoutError)):
        return TimeoutError(
            f"The stream from {url} stalled after {received} {unit}: nothing arrived for "
            f"{gap} s (stream-gap timeout). The text so far is in .partial_text.",
            phase="stream_gap",
            seconds=gap,
            partial_text=partial_text,
        )
    if isinstance(exc, aiohttp.ClientError):
        return StreamError(
            f"The connection to {url} broke after {received} {unit} ({exc}). "
            "The text so far is in .partial_text.",
            url=url,
            partial_text=partial_text,
            tokens_received=received,
        )
    return ConnectionError(f"Reading the stream from {url} failed: {exc!r}")


def last_user_text(messages: Messages) -> str:
    """The text of the last user message (an image's prompt when none is given)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    raise InvalidRequestError("An image needs a prompt: pass prompt=... or a user message.")
