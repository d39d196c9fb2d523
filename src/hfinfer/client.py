"""Chat without caring which route serves the model: :class:`AsyncClient` and :func:`chat`.

The route is chosen per client: the Inference Providers router
(:class:`~hfinfer.providers.hf_router.HuggingFaceRouter`, chat completions,
the server applies the chat template) unless ``api_base`` names another
server, which is then spoken to with the text-generation protocol
(:class:`~hfinfer.providers.hf_inference.HuggingFaceInference`: a dedicated
Inference Endpoint, a text-generation-inference server, or the router's own
``/hf-inference`` text-generation route). ``route=`` overrides the choice.

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
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

from .config import router_url as resolve_router_url
from .errors import InvalidRequestError
from .providers.hf_router import HuggingFaceRouter
from .types import (
    Chunk,
    FinishReason,
    ImageResponse,
    Messages,
    Reasoning,
    ToolCall,
    ToolCalls,
    Usage,
)

__all__ = ["AsyncClient", "ChatResponse", "ChatStream", "chat", "choose_route"]

Route = Literal["auto", "router", "tgi"]


@dataclass
class ChatResponse:
    """A whole answer, assembled from the stream.

    ``text`` is the answer, ``reasoning`` the model's reasoning (kept apart),
    ``tool_calls`` the complete tool calls, ``finish_reason`` OpenAI's word
    (``"stop"``, ``"length"``, ``"tool_calls"``...), ``images`` any generated
    images, ``route`` which route answered (``"router"`` or ``"tgi"``).
    ``str(response)`` is the text.
    """

    model: str
    route: str
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    images: list[ImageResponse] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text

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


def choose_route(api_base: str | None, router: str) -> Literal["router", "tgi"]:
    """``"router"`` when ``api_base`` is unset or is the router itself (with or
    without ``/v1``), else ``"tgi"``: any other base speaks text generation."""
    if api_base is None:
        return "router"
    base = api_base.rstrip("/")
    return "router" if base in (router, f"{router}/v1") else "tgi"


class AsyncClient:
    """Chat with any model on Hugging Face, through whichever route serves it.

    Arguments: ``api_key`` (else ``HF_TOKEN``...), ``api_base`` (a
    text-generation server; leave it out for the router), ``router_url``
    (else ``HF_ROUTER_URL``), ``proxy``, ``max_retries``, and ``route``
    (``"auto"``, ``"router"`` or ``"tgi"``). Use ``async with AsyncClient()
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
        route: Route = "auto",
    ) -> None:
        if route not in ("auto", "router", "tgi"):
            raise InvalidRequestError(f"route must be 'auto', 'router' or 'tgi', got {route!r}")
        self.router_url = resolve_router_url(router_url)
        self.api_base = api_base
        self.route: Literal["router", "tgi"] = (
            choose_route(api_base, self.router_url) if route == "auto" else route
        )
        options: dict[str, Any] = {"api_key": api_key, "proxy": proxy, "max_retries": max_retries}
        self._provider: Any
        if self.route == "router":
            self._provider = HuggingFaceRouter(api_base=api_base or self.router_url, **options)
        else:
            from .providers.hf_inference import HuggingFaceInference  # Jinja: load when used

            self._provider = HuggingFaceInference(api_base=api_base, **options)

    def __repr__(self) -> str:
        return f"AsyncClient(route={self.route!r}, provider={self._provider!r})"

    async def __aenter__(self) -> AsyncClient:
        await self._provider.__aenter__()
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
        await self._provider.aclose()

    async def dataset_parquet_files(
        self, repo: str, *, config: str = "default", split: str = "train"
    ) -> list[str]:
        """The URLs of a Hub dataset split's Parquet files (the Hub's parquet listing)."""
        from .hub import datasets

        provider = self._provider
        return await datasets.parquet_urls(
            repo, config, split, api_key=provider._api_key, proxy=provider._proxy
        )

    async def download_file(self, url: str, target: str | Path) -> Path:
        """Download ``url`` (or an ``hf://datasets/...`` path) into the file ``target``."""
        from .hub import datasets

        provider = self._provider
        return await datasets.download(
            url, Path(target), api_key=provider._api_key, proxy=provider._proxy
        )

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
        ``seed``, ... Raises subclasses of :class:`~hfinfer.errors.HFInferenceError`.
        """
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        chunks = self._provider.create_async_generator(model, messages, stream=stream, **kwargs)
        result = ChatStream(chunks, ChatResponse(model=model, route=self.route))
        if not stream:
            async with result:
                return await result.collect()
        try:
            await result.start()
        except BaseException:
            await result.aclose()
            raise
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
