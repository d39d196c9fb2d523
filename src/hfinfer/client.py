"""Chat without caring which route serves the model: :class:`AsyncClient` and :func:`chat`.

The route is chosen per client, in one place (:func:`hfinfer.protocol.routing.decide_route`):
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
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

from .config import ClientSettings, hub_endpoint
from .config import inference_base as resolve_inference_base
from .config import router_url as resolve_router_url
from .errors import (
    ROUTER_HF_INFERENCE,
    HFInferenceError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotSupportedError,
)
from .http.session import Exchange, HttpClient
from .protocol.routing import POLICIES, decide_route, split_model
from .protocol.routing import Route as Target
from .providers.discovery import ServerInfo, known_servers
from .providers.hf_router import HuggingFaceRouter
from .types import (
    ChoiceChunk,
    Chunk,
    EmbeddingResponse,
    FinishReason,
    ImageResponse,
    Logprobs,
    Messages,
    ModelInfo,
    Reasoning,
    RelayedResponse,
    RenderedPrompt,
    RouterModel,
    TokenLogprob,
    ToolCall,
    ToolCalls,
    Usage,
)

if TYPE_CHECKING:
    from .providers.hf_inference import HuggingFaceInference

__all__ = [
    "AsyncClient",
    "ChatChoice",
    "ChatResponse",
    "ChatStream",
    "chat",
    "choose_route",
    "embed",
]

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
        _add_answer(self, chunk)


def _add_answer(answer: ChatChoice | ChatResponse, chunk: Chunk) -> bool:
    """Take a piece of one answer (text, reasoning, tool calls, finish reason) into
    ``answer``, for :class:`ChatChoice` and :class:`ChatResponse` alike; ``False``
    when ``chunk`` is not such a piece."""
    if isinstance(chunk, str):
        answer.text += chunk
    elif isinstance(chunk, Reasoning):
        answer.reasoning += chunk.token or ""
    elif isinstance(chunk, ToolCalls):
        answer.tool_calls += chunk.calls
    elif isinstance(chunk, FinishReason):
        answer.finish_reason = chunk.reason
    else:
        return False
    return True


@dataclass
class ChatResponse:
    """A whole answer, assembled from the stream, and what a log needs of its call.

    ``text`` is the answer, ``reasoning`` the model's reasoning (kept apart),
    ``tool_calls`` the complete tool calls, ``finish_reason`` OpenAI's word
    (``"stop"``, ``"length"``, ``"tool_calls"``...), ``images`` any generated
    images. Of the call: ``model``, ``messages`` and ``options`` (the
    request's), ``route`` (``"router"``, ``"openai"`` or ``"tgi"``), ``provider`` (who
    answered, when known), ``request_id`` (the answer's ``x-request-id``),
    ``time_to_first_token`` and ``duration`` in seconds (``None`` until known).
    With ``n > 1``, :attr:`choices` holds every answer (the fields above are
    the first's). ``logprobs`` holds the tokens' log probabilities, when asked
    (``logprobs=True``) and sent. ``str(response)`` is the text; :meth:`to_dict` is JSON-ready.
    """

    model: str
    route: str
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    images: list[ImageResponse] = field(default_factory=list)
    messages: Messages = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    request_id: str | None = None
    time_to_first_token: float | None = None
    duration: float | None = None
    others: dict[int, ChatChoice] = field(default_factory=dict, repr=False)
    logprobs: tuple[TokenLogprob, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        return self.text

    @property
    def choices(self) -> list[ChatChoice]:
        """Every answer, by index: the first (this response's own fields), then the rest."""
        first = ChatChoice(0, self.text, self.reasoning, self.tool_calls, self.finish_reason)
        return [first, *(self.others[i] for i in sorted(self.others))]

    def add(self, chunk: Chunk) -> None:
        """Take one chunk of the stream into the response."""
        if _add_answer(self, chunk):
            return
        if isinstance(chunk, Usage):
            self.usage = chunk
        elif isinstance(chunk, ImageResponse):
            self.images.append(chunk)
        elif isinstance(chunk, Logprobs):
            self.logprobs += chunk.content
        elif isinstance(chunk, ChoiceChunk):
            choice = self.others.get(chunk.index) or self.others.setdefault(
                chunk.index, ChatChoice(chunk.index)
            )
            choice.add(chunk.chunk)

    def to_dict(self) -> dict[str, Any]:
        """The response as plain JSON-ready values (images as their URLs)."""
        usage = self.usage
        return {
            "model": self.model,
            "route": self.route,
            "provider": self.provider,
            "request_id": self.request_id,
            "text": self.text,
            "reasoning": self.reasoning or None,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "finish_reason": self.finish_reason,
            "usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
            "images": [url for image in self.images for url in image.images],
            "logprobs": [t.to_dict() for t in self.logprobs] if self.logprobs else None,
            "messages": _json_ready(self.messages),
            "options": _json_ready(self.options),
            "time_to_first_token": self.time_to_first_token,
            "duration": self.duration,
            "choices": [
                {"index": c.index, "text": c.text, "finish_reason": c.finish_reason}
                for c in self.choices
            ]
            if self.others
            else None,
        }


def _json_ready(value: Any) -> Any:
    """``value`` with anything JSON cannot hold turned into its ``str``."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class ChatStream:
    """The chunks of a streamed answer; iterate it once.

    Use as ``async with stream:`` (or call :meth:`aclose`) so an abandoned
    stream frees its connection at once. :attr:`response` assembles what was
    read so far; :meth:`collect` reads the rest and returns it.
    """

    def __init__(
        self,
        chunks: AsyncIterator[Chunk],
        response: ChatResponse,
        exchange: Exchange | None = None,
    ) -> None:
        self._chunks = chunks
        self._first: list[Chunk] = []
        self._exchange = exchange
        self._started = time.perf_counter()
        self.response = response

    async def start(self) -> None:
        """Send the request and wait for the first chunk, so that a refused request
        raises here, as OpenAI's client does, rather than at the first iteration."""
        with contextlib.suppress(StopAsyncIteration):  # an empty stream: nothing to hold
            self._first.append(await self._chunks.__anext__())
        exchange = self._exchange
        if exchange is not None:  # the headers are in: the ids are known already
            self.response.request_id = exchange.request_id
            self.response.provider = exchange.provider or self.response.provider

    def __aiter__(self) -> ChatStream:
        return self

    async def __anext__(self) -> Chunk:
        try:
            chunk = self._first.pop() if self._first else await self._chunks.__anext__()
        except StopAsyncIteration:
            self._finish()
            raise
        response = self.response
        if response.time_to_first_token is None and isinstance(chunk, (str, Reasoning)):
            response.time_to_first_token = time.perf_counter() - self._started
        response.add(chunk)
        return chunk

    def _finish(self) -> None:
        """Note what the answer's headers said and how long the call took."""
        response, exchange = self.response, self._exchange
        if response.duration is None:
            response.duration = time.perf_counter() - self._started
        if exchange is not None:
            response.request_id = exchange.request_id or response.request_id
            response.provider = exchange.provider or response.provider

    async def collect(self) -> ChatResponse:
        """Read the stream to its end; the whole response."""
        async for _ in self:
            pass
        return self.response

    async def aclose(self) -> None:
        """Stop reading and close the connection (safe to call twice)."""
        self._finish()
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
        #: The text-generation provider render_prompt() asks (the chat provider on "tgi").
        self._prompter: HuggingFaceInference | None = None
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
            self._prompter = provider
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
        if self._prompter is not None and self._prompter is not self._provider:
            await self._prompter.aclose()

    async def dataset_parquet_files(
        self, repo: str, *, config: str = "default", split: str = "train"
    ) -> list[str]:
        """The URLs of a Hub dataset split's Parquet files (the Hub's parquet listing)."""
        from .hub import datasets

        options = self._options
        return await datasets.parquet_urls(
            repo, config, split, api_key=options["api_key"], proxy=options["proxy"]
        )

    async def download_file(self, url: str, target: str | Path) -> Path:
        """Download ``url`` (or an ``hf://datasets/...`` path) into the file ``target``."""
        from .hub import datasets

        options = self._options
        return await datasets.download(
            url, Path(target), api_key=options["api_key"], proxy=options["proxy"]
        )

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

    async def _chat_provider(self) -> Any:
        """The provider for this client's server (asking it which protocol it speaks,
        the first time)."""
        if self._provider is None:
            protocol = (await self._server_info()).protocol
            if self._provider is None:  # not made meanwhile by a concurrent call
                self._provider = self._make_provider(protocol)
                self.route = protocol
                if self._opened:
                    await self._provider.__aenter__()
        return self._provider

    async def _ready(self, model: str) -> tuple[Any, str]:
        """The provider for this client's server, and the model name to send."""
        target = self._target
        await self._chat_provider()
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
        exchange = Exchange()
        response = ChatResponse(
            model=model or sent_model,
            route=self.route,
            messages=list(messages),
            options={"stream": stream, **kwargs},
            provider=self._asked_provider(model, kwargs.get("provider")),
        )
        chunks = provider.create_async_generator(
            sent_model, messages, stream=stream, _exchange=exchange, **kwargs
        )
        result = ChatStream(chunks, response, exchange)
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

    def _asked_provider(self, model: str, provider: Any) -> str | None:
        """The provider a router call named (not a policy): who answers, unless told otherwise."""
        if self.route != "router":
            return None
        choice = provider if isinstance(provider, str) else split_model(model or "")[1]
        return choice if choice and choice not in POLICIES else None

    async def image(
        self,
        model: str | None,
        prompt: str,
        *,
        provider: str | None = None,
        width: int | None = None,
        height: int | None = None,
        aspect_ratio: str | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        steps: int | None = None,
        **options: Any,
    ) -> ImageResponse:
        """An image of ``prompt`` from ``model`` (``None``: the default image model).

        Through the router, the Hub's provider mapping picks who draws it
        (``provider=`` names one); on the ``"tgi"`` route, the text-to-image
        task at ``api_base``. ``steps`` is ``num_inference_steps``; other
        keywords (``guidance_scale``, ``extra_body``...) go to the provider.
        The seed used, when known, is in ``.options["seed"]``.
        """
        if provider is not None:
            options["provider"] = provider
        for name, value in (("negative_prompt", negative_prompt), ("num_inference_steps", steps)):
            if value is not None:
                options[name] = value
        chat_provider = await self._chat_provider()
        chunks = chat_provider.create_async_generator(
            model or chat_provider.default_image_model,
            [{"role": "user", "content": prompt}],
            prompt=prompt,
            seed=seed,
            width=width,
            height=height,
            aspect_ratio=aspect_ratio,
            **options,
        )
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                if isinstance(chunk, ImageResponse):
                    return chunk
        raise ModelNotSupportedError(
            f"{model or 'the model'} answered with text, not an image: it is a chat model "
            "(use chat(), or `hfinfer chat`)",
            model=model,
        )

    async def embed(
        self,
        model: str,
        inputs: str | Sequence[str],
        *,
        provider: str | None = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        **options: Any,
    ) -> EmbeddingResponse:
        """One vector per input (a string is one input), in input order.

        Through the router, the provider comes from the Hub's mapping of the
        model's feature-extraction (``provider=``, ``model:provider`` or a policy,
        as for chat): hf-inference, together, deepinfra, scaleway. With
        ``api_base``, the server there: a text-embeddings-inference server
        (``/embed``), or an OpenAI-compatible one when the base ends in ``/v1``
        (``/v1/embeddings``); ``protocol="tei"|"openai"|"hf-inference"`` says so
        outright. ``dimensions`` and ``encoding_format`` (``"float"``,
        ``"base64"``) where the protocol has them; long lists are split into the
        batches the server takes (``batch_size=`` to choose); other keywords go
        into the request body (``normalize``, ``truncate``, ``user``...).
        """
        target = self._target
        if target.kind == "router":
            return await self._provider.embed(
                model, inputs, provider=provider, dimensions=dimensions,
                encoding_format=encoding_format, **options,
            )  # fmt: skip
        if provider is not None:
            raise InvalidRequestError(
                f"provider= chooses among the router's providers; this client talks to "
                f"{target.base} (leave provider out)"
            )
        from .providers.embeddings import embed_on

        if target.kind == "hf-inference":
            server: Any = await self._text_route()
            options.setdefault("protocol", "hf-inference")
        else:  # a server of one's own (or an Inference Endpoint): the protocol it speaks
            server = await self._chat_provider()
            options.setdefault("protocol", "openai" if self.route == "openai" else "tei")
        return await embed_on(
            server, model, inputs, dimensions=dimensions, encoding_format=encoding_format,
            **options,
        )  # fmt: skip

    async def similarity(
        self,
        model: str,
        sentence: str,
        others: Sequence[str],
        *,
        provider: str | None = None,
        **options: Any,
    ) -> list[float]:
        """How close each of ``others`` is to ``sentence``: one score per sentence, in
        order. Through the router, hf-inference's sentence-similarity pipeline when
        the model's mapping has it; otherwise (another provider, or a server of
        your own) the cosine similarity of the model's embeddings."""
        if self._target.kind == "router":
            return await self._provider.similarity(
                model, sentence, others, provider=provider, **options
            )
        from .protocol.provider_tasks import check_inputs, cosine

        texts = check_inputs(others)
        if not isinstance(sentence, str) or not sentence:
            raise InvalidRequestError("similarity() needs a sentence to compare the others with")
        result = await self.embed(model, [sentence, *texts], provider=provider, **options)
        first, *rest = result.vectors
        return [cosine(first, vector) for vector in rest]

    async def model_info(self, model: str) -> ModelInfo:
        """What the Hub says of ``model`` for inference: its pipeline tag, the tasks
        and providers of its mapping (status, provider id), and which of those
        hfinfer speaks. Raises :class:`~hfinfer.errors.ModelNotFoundError` for a
        model the Hub does not have."""
        if self.route == "router":
            return await self._provider.model_info(model)
        async with HuggingFaceRouter(**self._options) as router:
            return await router.model_info(model)

    async def models(self, *, refresh: bool = False) -> list[RouterModel]:
        """The router's catalogue (``GET {router}/v1/models``): each model served now,
        with its providers, prices and context lengths. Cached ten minutes (memory
        and disk); ``refresh=True`` asks again. Raises when the router cannot answer."""
        entries = await HuggingFaceRouter.router_models.fetch(
            api_base=self.router_url,
            api_key=self._options["api_key"],
            proxy=self._options["proxy"],
            refresh=refresh,
            strict=True,
        )
        return [RouterModel.from_entry(e) for e in entries if isinstance(e.get("id"), str)]

    async def hub_models(
        self, task: str, *, search: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Models of ``task`` (a ``pipeline_tag`` such as ``"text-to-image"``) that an
        Inference Provider serves, most trending first, as the Hub lists them (``id``,
        ``pipeline_tag``, ``inferenceProviderMapping``); ``search`` filters the ids.
        The router's catalogue (:meth:`models`) covers chat models only."""
        from .config import ClientSettings
        from .hub.metadata import Hub

        settings = ClientSettings.resolve(
            api_key=self._options["api_key"], proxy=self._options["proxy"]
        )
        params = {
            "pipeline_tag": task,
            "inference_provider": "all",
            "search": search,
            "sort": "trendingScore",
            "limit": limit,
            "expand[]": "inferenceProviderMapping",
        }
        async with HttpClient(settings) as http:
            return await Hub(http).list_models(**params)

    async def render_prompt(
        self, model: str, messages: Messages | str, **options: Any
    ) -> RenderedPrompt:
        """The exact prompt the text-generation route would send for ``messages``
        (the model's chat template, else its family's format), and what built it.
        Options: ``action="continue"`` (end inside the last message), ``tools``."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return await (await self._text_route()).render_prompt(model, messages, **options)

    async def _text_route(self) -> HuggingFaceInference:
        """The text-generation provider: this client's on the ``"tgi"`` route, else one
        for the router's hf-inference route, opened with the client. A key given for
        a server of the user's own is not handed to Hugging Face's route."""
        if self._prompter is None and not self._target.hf:
            await self._chat_provider()  # the server's protocol decides (tgi: its provider)
        if self._prompter is None:
            options = self._options if self._target.hf else {**self._options, "api_key": None}
            self._prompter = _text_generation(self.api_base if self.route == "tgi" else None,
                                              options)  # fmt: skip
            if self._opened:
                await self._prompter.__aenter__()
        return self._prompter

    @overload
    async def complete(
        self, model: str, prompt: str, *, stream: Literal[False] = ..., **kwargs: Any
    ) -> ChatResponse: ...

    @overload
    async def complete(
        self, model: str, prompt: str, *, stream: Literal[True], **kwargs: Any
    ) -> ChatStream: ...

    async def complete(
        self, model: str, prompt: str, *, stream: bool = False, **kwargs: Any
    ) -> ChatResponse | ChatStream:
        """Continue a raw ``prompt``, sent as it is (no chat template), with the
        text-generation protocol: at ``api_base`` on the ``"tgi"`` route, else the
        router's hf-inference route. Returns what :meth:`chat` returns; keywords as
        there (``max_tokens``, ``temperature``, ``stop``, ``seed``...)."""
        if not isinstance(prompt, str):
            raise InvalidRequestError("prompt must be a string")
        provider, sent = await self._text_route(), model
        if not self._target.hf:
            if self.route != "tgi":
                raise InvalidRequestError(
                    f"complete() speaks the text-generation protocol; {self._target.base} "
                    "speaks OpenAI's chat protocol: use chat(), or route='tgi' for a TGI server."
                )
            sent = self._target.base  # TGI serves one model, found at the URL
        exchange = Exchange()
        response = ChatResponse(model=model, route="tgi", options={"stream": stream, **kwargs})
        chunks = provider.create_async_generator(
            sent, [], stream=stream, raw_prompt=prompt, _exchange=exchange, **kwargs
        )
        result = ChatStream(chunks, response, exchange)
        if not stream:
            async with result:
                return await result.collect()
        try:
            await result.start()
        except BaseException:
            await result.aclose()
            raise
        return result

    async def relay_responses(
        self, body: dict[str, Any], *, api_key: str | None = None, bill_to: str | None = None
    ) -> RelayedResponse:
        """Send a Responses API body (``POST /v1/responses``) to the router as it is.

        Only the router serves that API; a client of another route raises
        :class:`~hfinfer.errors.InvalidRequestError`. Returns the router's
        answer as bytes (:class:`~hfinfer.types.RelayedResponse`),
        once its head arrived; errors are hfinfer's usual ones.
        """
        if self.route != "router":
            raise InvalidRequestError("Only the router serves the Responses API; this client "
                                      f"speaks {self.route!r}")  # fmt: skip
        from .providers.hf_responses import relay_responses

        return await relay_responses(self._provider, body, api_key=api_key, bill_to=bill_to)


def _text_generation(api_base: str | None, options: dict[str, Any]) -> HuggingFaceInference:
    from .providers.hf_inference import HuggingFaceInference  # Jinja: load when used

    return HuggingFaceInference(api_base=api_base, **options)


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


async def embed(model: str, inputs: str | Sequence[str], **kwargs: Any) -> EmbeddingResponse:
    """One embeddings call through an :class:`AsyncClient` made for it.

    Client options (``api_key``, ``api_base``, ``router_url``, ``proxy``,
    ``max_retries``, ``route``) are taken from ``kwargs``; the rest go to
    :meth:`AsyncClient.embed`.

    >>> result = await hfinfer.embed("BAAI/bge-small-en-v1.5", ["a cat", "a dog"])
    >>> len(result.vectors), result.dimensions
    """
    names = ("api_key", "api_base", "router_url", "proxy", "max_retries", "route")
    client = AsyncClient(**{name: kwargs.pop(name) for name in names if name in kwargs})
    async with client:
        return await client.embed(model, inputs, **kwargs)
