"""What every HTTP provider shares: the seed's ``create_async_generator`` written
once (per-call options resolved from arguments, the instance and the
environment; the typed :class:`GenerationRequest`; the pool the call uses),
and an instance's reusable connection pool. A route writes only its
:meth:`PooledProvider._generate` (and, if it needs, :meth:`~PooledProvider._check`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..closing import AsyncClosing
from ..config import ClientSettings, Timeouts
from ..errors import InvalidRequestError
from ..hosts import origin
from ..http.pool import call_pool
from ..http.retry import RetryPolicy
from ..http.session import Exchange, HttpClient
from ..types import Chunk, Messages, content_text
from .base import check_messages, instancemethod

__all__ = [
    "CallOptions",
    "GenerationRequest",
    "PooledProvider",
    "call_client",
    "last_user_text",
    "single",
]

P = TypeVar("P", bound="PooledProvider")


#: The seed's ``timeout=600``: a call that leaves it so takes its instance's timeout.
DEFAULT_TIMEOUT = 600


@dataclass(slots=True)
class GenerationRequest:
    """One call's request, as every route reads it: the seed's arguments by name
    (``model`` already resolved from aliases), ``provider`` (the router's
    ``provider=``/``model:suffix``) and ``options``, the keywords left for the
    route (``tools``, ``top_p``, ...)."""

    model: str
    messages: Messages
    stream: bool = True
    max_tokens: int | None = 1024
    temperature: float | None = None
    prompt: str | None = None
    action: str | None = None
    seed: int | None = None
    aspect_ratio: str | None = None
    width: int | None = None
    height: int | None = None
    provider: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def do_continue(self) -> bool:
        """``action="continue"``: carry the last assistant message on."""
        return self.action == "continue"


class PooledProvider(AsyncClosing):
    """Instance defaults (``api_key``, ``api_base``, ``proxy``, ``max_retries``,
    ``timeout``) and, inside ``async with``, one connection pool that every call of
    the instance uses (a call that asks for other limits gets a client of its own).

    The seed's ``create_async_generator`` is written here once; a class call runs
    on a new, unopened instance, so route code always has a typed ``self``.
    """

    #: More base URLs that are Hugging Face's for this instance (a client's router URL).
    _hf_bases: tuple[str, ...] = ()

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
                server=self._resolve_base(self._api_base),
                trusted=self._hf_bases,
            )
        )
        return self

    async def aclose(self) -> None:
        """Close the instance's connection pool."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    # -- the seed's entry point, once ---------------------------------------------

    @staticmethod
    def _resolve_base(base: str | None) -> str:
        """The route's base URL from the call's (or the instance's) ``api_base``."""
        raise NotImplementedError

    def _server_for(self, model: str) -> str | None:
        """Where a call for ``model`` goes when not to the base URL (a model given as a
        URL): a key passed for a server that is not Hugging Face's goes there only."""
        return None

    def _check(self, request: GenerationRequest, call: CallOptions) -> GenerationRequest:
        """The route's rules for the model name and messages (here: aliases, and a
        non-empty list unless a ``prompt`` is given); ``call`` says where it goes."""
        # In place: a request is the call's own (replace() costs a few µs per call).
        request.model = self.get_model(request.model)  # type: ignore[attr-defined]
        request.messages = check_messages(request.messages, allow_empty=request.prompt is not None)
        return request

    async def _generate(
        self, http: HttpClient, call: CallOptions, request: GenerationRequest
    ) -> AsyncGenerator[Chunk, None]:
        """Prepare the route's exchange and return its chunks (an async generator,
        closed by the caller): the one method a route writes."""
        raise NotImplementedError

    def _options(self, kwargs: dict[str, Any], server: str | None = None) -> CallOptions:
        """A call's options for a method other than the seed's (embeddings...):
        ``api_base``, ``api_key``, ``proxy``, ``timeout`` and ``extra_data`` are
        taken from ``kwargs`` as :meth:`create_async_generator` takes them;
        ``server``: where the call goes when it is not the base URL."""
        return CallOptions.collect(
            self,
            kwargs,
            api_base=kwargs.pop("api_base", None),
            api_key=kwargs.pop("api_key", None),
            proxy=kwargs.pop("proxy", None),
            timeout=kwargs.pop("timeout", DEFAULT_TIMEOUT),
            extra_data=kwargs.pop("extra_data", None),
            resolve_base=self._resolve_base,
            server=server,
        )

    @instancemethod
    async def create_async_generator(
        self,
        model: str,
        messages: Messages,
        stream: bool = True,
        proxy: str | None = None,
        timeout: float | Timeouts | None = 600,
        api_base: str | None = None,
        api_key: str | None = None,
        max_tokens: int = 1024,
        temperature: float | None = None,
        prompt: str | None = None,
        action: str | None = None,
        extra_data: dict[str, Any] | None = None,
        seed: int | None = None,
        aspect_ratio: str | None = None,
        width: int | None = None,
        height: int | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[Chunk, None]:
        """Yield the answer as the stream vocabulary of :mod:`hfinfer.types`.

        ``api_base`` (alias ``base_url``), ``api_key``, ``proxy``, ``timeout``
        and ``max_retries`` win over the instance's defaults, which win over
        the environment; ``extra_data`` (alias ``extra_body``) is merged into
        the request; other keywords are the route's (see its docstring). Raises
        subclasses of :class:`~hfinfer.errors.HFInferenceError`; text already
        yielded stays yielded (a broken stream's error carries it as ``partial_text``).
        """
        call = CallOptions.collect(
            self,
            kwargs,
            api_base=api_base,
            api_key=api_key,
            proxy=proxy,
            timeout=timeout,
            extra_data=extra_data,
            resolve_base=self._resolve_base,
            server=self._server_for(model) if isinstance(model, str) else None,
        )
        asked = GenerationRequest(
            model, messages, stream, max_tokens, temperature, prompt, action, seed,
            aspect_ratio, width, height, options=kwargs,
        )  # fmt: skip
        request = self._check(asked, call)
        async with call_client(self, call) as http:
            chunks = await self._generate(http, call, request)
            # aclosing: closing this stream closes the inner ones now, before the pool.
            async with aclosing(chunks):
                async for chunk in chunks:
                    yield chunk


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
        server: str | None = None,
    ) -> CallOptions:
        """Arguments win over the instance's defaults, which win over the
        environment. Pops ``base_url``, ``extra_body``, ``retry``, ``bill_to``
        (the ``X-HF-Bill-To`` organisation of this call) and ``max_retries``
        from ``kwargs``. ``server``: where the call goes when it is not the base
        URL (a model given as a URL); a key given for a server that is not
        Hugging Face's is sent to that server only."""
        base = api_base or kwargs.pop("base_url", None) or (instance and instance._api_base)
        resolved = resolve_base(base or None)
        server = server or resolved
        extra_body = kwargs.pop("extra_body", None)
        retry = kwargs.pop("retry", None)
        exchange = kwargs.pop("_exchange", None)  # AsyncClient's: what its response logs
        bill_to = kwargs.pop("bill_to", None)
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
            and bill_to is None
            and "max_retries" not in kwargs
            and timeout in (DEFAULT_TIMEOUT, instance._timeout)
            and _same_server(instance._http.settings, server)
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
                server=server,
                trusted=instance._hf_bases if instance is not None else (),
                bill_to=bill_to,
            )
        extra = {**(extra_data or {}), **(extra_body or {})}
        return cls(settings, resolved, extra, retry, exchange)


def _same_server(settings: ClientSettings, server: str) -> bool:
    """Whether ``settings`` hold the credentials meant for ``server``."""
    own = None if settings.is_hf_url(server) else origin(server)
    return settings.server_origin == own


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
        and call.settings.server_key == shared.settings.server_key
        and call.settings.server_origin == shared.settings.server_origin
        and call.settings.proxy == shared.settings.proxy
        and call.settings.bill_to == shared.settings.bill_to
        # The pool carries its limits: a call asking for others gets its own client.
        and call.settings.timeouts == shared.settings.timeouts
        and call.settings.max_retries == shared.settings.max_retries
    ):
        yield shared
        return
    async with call_pool(call.settings, call.retry) as http:
        yield http


async def single(chunk: Chunk) -> AsyncGenerator[Chunk, None]:
    """A stream of one chunk (an image route's answer)."""
    yield chunk


def last_user_text(messages: Messages) -> str:
    """The text of the last user message (an image's prompt when none is given)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    raise InvalidRequestError("An image needs a prompt: pass prompt=... or a user message.")
