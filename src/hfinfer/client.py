"""Chat without caring which route serves the model: :class:`AsyncClient` and :func:`chat`.

The route is chosen per client, in one place (:func:`hfinfer.hosts.decide_route`):
the Inference Providers router
(:class:`~hfinfer.providers.hf_router.HuggingFaceRouter`, chat completions,
the server applies the chat template) unless ``api_base`` names another
server. Hugging Face's own text-generation route (``/hf-inference``) speaks
text generation by model id; any other server (an Inference Endpoint, or one
of the user's own: llama.cpp, vLLM, ollama, TGI) speaks OpenAI's chat
protocol or TGI's, found out once per base (``GET /v1/models``, else ``GET
/info``) or named with ``route="openai"`` / ``route="tgi"``. A server of the
user's own gets no Hub request, the model name as given and only the key
passed for it.

Both faces follow OpenAI's client: awaiting ``chat(...)`` gives a whole
:class:`ChatResponse`; with ``stream=True`` it gives a :class:`ChatStream`,
an async iterator of the stream vocabulary (``str``, ``Reasoning``,
``ToolCalls``, ``Usage``, ``FinishReason``, ``ImageResponse``).

>>> reply = await hfinfer.chat("meta-llama/Llama-3.1-8B-Instruct", "Hi")
>>> print(reply.text)
>>> async with await hfinfer.chat(model, messages, stream=True) as stream:
...     async for chunk in stream:
...         if isinstance(chunk, str):
...             print(chunk, end="")
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, overload

from .config import ClientSettings, hub_endpoint
from .config import inference_base as resolve_inference_base
from .config import router_url as resolve_router_url
from .errors import ROUTER_HF_INFERENCE, HFInferenceError, InvalidRequestError, ModelNotFoundError
from .hosts import Route as Target
from .hosts import decide_route
from .providers.discovery import ServerInfo, known_servers
from .providers.hf_router import HuggingFaceRouter
from .types import (
    ChoiceChunk,
    Chunk,
    FinishReason,
    ImageResponse,
    Messages,
    Reasoning,
    ToolCall,
    ToolCalls,
    Usage,
)

__all__ = ["AsyncClient", "ChatChoice", "ChatResponse", "ChatStream", "chat", "choose_route"]

Route = Literal["auto", "router", "openai", "tgi"]


@dataclass
class ChatChoice:
    """One of the answers of a call that asked for several (``n > 1``)."""

    index: int
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None

    def add(self, chunk: Chunk) -> None:
        """Take one piece of this answer."""
        if isinstance(chunk, str):
            self.text += chunk
        elif isinstance(chunk, Reasoning):
            self.reasoning += chunk.token or ""
        elif isinstance(chunk, ToolCalls):
            self.tool_calls += chunk.calls
        elif isinstance(chunk, FinishReason):
            self.finish_reason = chunk.reason


@dataclass
class ChatResponse:
    """A whole answer, assembled from the stream.

    ``text`` is the answer, ``reasoning`` the model's reasoning (kept apart),
    ``tool_calls`` the complete tool calls, ``finish_reason`` OpenAI's word
    (``"stop"``, ``"length"``, ``"tool_calls"``...), ``images`` any generated
    images, ``route`` which route answered (``"router"``, ``"openai"`` or
    ``"tgi"``). With ``n > 1``, :attr:`choices` holds every answer (the fields
    above are the first's). ``str(response)`` is the text.
    """

    model: str
    route: str
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    images: list[ImageResponse] = field(default_factory=list)
    others: dict[int, ChatChoice] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        return self.text

    @property
    def choices(self) -> list[ChatChoice]:
        """Every answer, by index: the first (this response's own fields), then the rest."""
        first = ChatChoice(0, self.text, self.reasoning, self.tool_calls, self.finish_reason)
        return [first, *(self.others[i] for i in sorted(self.others))]

    def add(self, chunk: Chunk) -> None:
        """Take one chunk of the stream into the response."""
        if isinstance(chunk, str):
            self.text += chunk
        elif isinstance(chunk, Reasoning):
            self.reasoning += chunk.token or ""
        elif isinstance(chunk, ToolCalls):
            self.tool_calls += chunk.calls
        elif isinstance(chunk, Usage):
            self.usage = chunk
        elif isinstance(chunk, FinishReason):
            self.finish_reason = chunk.reason
        elif isinstance(chunk, ImageResponse):
            self.images.append(chunk)
        elif isinstance(chunk, ChoiceChunk):
            choice = self.others.get(chunk.index) or self.others.setdefault(
                chunk.index, ChatChoice(chunk.index)
            )
            choice.add(chunk.chunk)


class ChatStream:
    """The chunks of a streamed answer; iterate it once.

    Use as ``async with stream:`` (or call :meth:`aclose`) so an abandoned
    stream frees its connection at once. :attr:`response` assembles what was
    read so far; :meth:`collect` reads the rest and returns it.
    """

    def __init__(self, chunks: AsyncIterator[Chunk], response: ChatResponse) -> None:
        self._chunks = chunks
        self._first: list[Chunk] = []
        self.response = response

    async def start(self) -> None:
        """Send the request and wait for the first chunk, so that a refused request
        raises here, as OpenAI's client does, rather than at the first iteration."""
        with contextlib.suppress(StopAsyncIteration):  # an empty stream: nothing to hold
            self._first.append(await self._chunks.__anext__())

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> Chunk:
        chunk = self._first.pop() if self._first else await self._chunks.__anext__()
        self.response.add(chunk)
        return chunk

    async def collect(self) -> ChatResponse:
        """Read the stream to its end; the whole response."""
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        """Stop reading and close the connection (safe to call twice)."""
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def choose_route(api_base: str | None, router: str, route: str | None = None) -> str:
    """The route a call takes: ``"router"``, ``"openai"``, ``"tgi"``, or ``"auto"``
    when the server at ``api_base`` must be asked which protocol it speaks."""
    return _decide(api_base, route, router).name


def _decide(api_base: str | None, route: str | None, router: str) -> Target:
    try:
        inference = resolve_inference_base()
    except HFInferenceError:  # a retired HFINFER_API_BASE: refused when it is used
        inference = ROUTER_HF_INFERENCE
    return decide_route(
        api_base, route, router=router, inference_base=inference, trusted=(hub_endpoint(),)
    )


class AsyncClient:
    """Chat with any model on Hugging Face or on a server of your own.

    Arguments: ``api_key`` (else ``HF_TOKEN``... for Hugging Face; for a server
    of your own, its key, sent there only), ``api_base`` (leave it out for the
    router; any OpenAI-compatible or text-generation-inference server, with or
    without ``/v1``), ``router_url`` (else ``HF_ROUTER_URL``), ``proxy``,
    ``max_retries``, and ``route``: ``None``/``"auto"`` (decided from
    ``api_base``, asking a server of your own once which protocol it speaks),
    ``"router"``, ``"openai"`` or ``"tgi"``. Use ``async with AsyncClient()
    as client:`` to share one connection pool across calls; without it,
    each call opens and closes its own.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_base: str | None = None,
        router_url: str | None = None,
        proxy: str | None = None,
        max_retries: int | None = None,
        route: Route | None = None,
    ) -> None:
        self.router_url = resolve_router_url(router_url)
        self.api_base = api_base
        self._target = _decide(api_base, route, self.router_url)
        self.route: str = self._target.name
        self._options: dict[str, Any] = {
            "api_key": api_key,
            "proxy": proxy,
            "max_retries": max_retries,
        }
        self._server: ServerInfo | None = None
        self._opened = False
        self._provider: Any = None
        if self._target.protocol is not None:
            self._provider = self._make_provider(self._target.protocol)

    def _make_provider(self, protocol: str) -> Any:
        target, options = self._target, self._options
        provider: Any
        if protocol == "openai":
            provider = HuggingFaceRouter(api_base=target.base, **options)
        else:
            from .providers.hf_inference import HuggingFaceInference  # Jinja: load when used

            # By model id on Hugging Face's route; else the server's URL is the model
            # (TGI serves one), and a key given for it is sent there only.
            provider = HuggingFaceInference(api_base=target.base, **options)
        if target.hf:
            provider._hf_bases = (self.router_url,)
        return provider

    def __repr__(self) -> str:
        return f"AsyncClient(route={self.route!r}, provider={self._provider!r})"

    async def __aenter__(self) -> AsyncClient:
        if self._provider is not None:
            await self._provider.__aenter__()
        self._opened = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (when the client was opened with ``async with``)."""
        self._opened = False
        if self._provider is not None:
            await self._provider.aclose()

    async def _server_info(self) -> ServerInfo:
        """What the server at ``api_base`` speaks and serves (asked once per base)."""
        if self._server is None:
            settings = ClientSettings.resolve(
                api_key=self._options["api_key"],
                proxy=self._options["proxy"],
                server=None if self._target.hf else self._target.base,
            )
            self._server = await known_servers.get(self._target.base, settings)
        return self._server

    async def _ready(self, model: str) -> tuple[Any, str]:
        """The provider for this client's server (asking which protocol it speaks, the
        first time), and the model name to send."""
        target = self._target
        if self._provider is None:
            protocol = (await self._server_info()).protocol
            self._provider = self._make_provider(protocol)
            self.route = protocol
            if self._opened:
                await self._provider.__aenter__()
        if target.kind in ("own", "endpoint") and self.route == "tgi":
            return self._provider, target.base  # TGI serves one model, found at the URL
        if not model and target.kind in ("own", "endpoint"):
            served = (await self._server_info()).models
            if not served:
                raise InvalidRequestError(
                    f"Name the model to ask: the server at {target.base} lists none."
                )
            model = served[0]
        return self._provider, model

    def _not_served(self, exc: ModelNotFoundError, model: str) -> ModelNotFoundError:
        """A server of the user's own that lacks ``model``: say what it does serve."""
        served = self._server.models if self._server is not None else ()
        if self._target.kind != "own" or not served:
            return exc
        names = ", ".join(served[:20])
        return ModelNotFoundError(f"{exc} The server serves: {names}.", model=model)

    @overload
    async def chat(
        self, model: str, messages: Messages | str, *, stream: Literal[False] = ..., **kwargs: Any
    ) -> ChatResponse: ...

    @overload
    async def chat(
        self, model: str, messages: Messages | str, *, stream: Literal[True], **kwargs: Any
    ) -> ChatStream: ...

    async def chat(
        self, model: str, messages: Messages | str, *, stream: bool = False, **kwargs: Any
    ) -> ChatResponse | ChatStream:
        """Ask ``model``; ``messages`` may be a plain string (one user message).

        ``stream=False`` (the default) returns the whole :class:`ChatResponse`;
        ``stream=True`` returns a :class:`ChatStream` to iterate. Keywords go to
        the provider's ``create_async_generator``: ``max_tokens``,
        ``temperature``, ``provider`` (router), ``tools``, ``response_format``,
        ``seed``, ``n``, engine knobs (``top_k``, ``min_p``, ...). On a server of
        your own, ``model`` is sent as given (empty: the first it lists).
        Raises subclasses of :class:`~hfinfer.errors.HFInferenceError`.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        provider, sent_model = await self._ready(model)
        chunks = provider.create_async_generator(sent_model, messages, stream=stream, **kwargs)
        result = ChatStream(chunks, ChatResponse(model=model or sent_model, route=self.route))
        try:
            if not stream:
                async with result:
                    return await result.collect()
            try:
                await result.start()
            except BaseException:
                await result.aclose()
                raise
        except ModelNotFoundError as exc:
            better = self._not_served(exc, sent_model)
            if better is exc:
                raise
            raise better from exc
        return result


@overload
async def chat(
    model: str, messages: Messages | str, *, stream: Literal[False] = ..., **kwargs: Any
) -> ChatResponse: ...


@overload
async def chat(
    model: str, messages: Messages | str, *, stream: Literal[True], **kwargs: Any
) -> ChatStream: ...


async def chat(
    model: str, messages: Messages | str, *, stream: bool = False, **kwargs: Any
) -> ChatResponse | ChatStream:
    """One chat call through an :class:`AsyncClient` made for it.

    Client options (``api_key``, ``api_base``, ``router_url``, ``proxy``,
    ``max_retries``, ``route``) are taken from ``kwargs``; the rest go to
    :meth:`AsyncClient.chat`. The call opens and closes its own connections
    (a stream's when it ends or is closed).

    >>> reply = await hfinfer.chat("Qwen/Qwen2.5-72B-Instruct", "Name a prime.")
    >>> reply.text, reply.finish_reason
    """
    names = ("api_key", "api_base", "router_url", "proxy", "max_retries", "route")
    client = AsyncClient(**{name: kwargs.pop(name) for name in names if name in kwargs})
    return await client.chat(model, messages, stream=stream, **kwargs)  # type: ignore[call-overload]
