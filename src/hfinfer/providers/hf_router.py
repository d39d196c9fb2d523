"""``HuggingFaceRouter``: chat completions and images through Hugging Face's
Inference Providers router (``POST {router}/v1/chat/completions``).

It orchestrates one call: split the model's ``:provider``/``:policy`` suffix,
ask the Hub which providers serve the model (``inferenceProviderMapping``,
cached; optional: a short timeout of its own, one retry, failures remembered)
so a model nobody serves fails before anything is sent, then either stream
the chat answer (``<think>`` text and ``reasoning_content`` both become
:class:`~hfinfer.types.Reasoning`) or ask the mapped provider for an image.
The server applies the model's chat template itself.

With an ``api_base`` that is not Hugging Face's (llama.cpp, vLLM, ollama, a
TGI server's Messages API) it is a plain OpenAI-compatible client: no Hub
request, the model name sent as given (colons included), the key passed
for that server and no other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

from ..config import ClientSettings, Timeouts, cache_dir, check_api_base, is_offline, router_url
from ..errors import (
    AuthenticationError,
    HFInferenceError,
    InvalidRequestError,
    ModelNotFoundError,
    ModelNotSupportedError,
    NameResolutionError,
    ResponseError,
    StreamError,
    TimeoutError,
    ValidationError,
)
from ..hosts import is_hf_endpoint, server_base
from ..http.retry import RetryPolicy
from ..http.session import Exchange, HttpClient, Response
from ..hub.cache import (
    DiskCache,
    TimedCache,
    is_public_repo,
    scoped_key,
    scoped_keys,
    single_flight,
)
from ..hub.metadata import LIST_RETRY, Hub
from ..protocol import images, openai_chat, provider_tasks
from ..protocol.parameters import apply_aliases
from ..protocol.provider_tasks import check_inputs, feature_extraction, speaks
from ..protocol.repo_ids import check_repo_id
from ..protocol.routing import (
    POLICIES,
    Plan,
    is_url,
    plan_embeddings,
    plan_route,
    provider_choice,
    split_model,
)
from ..protocol.sse import SSEParser
from ..reasoning import ThinkSplitter, model_opens_think
from ..types import (
    ChoiceChunk,
    Chunk,
    EmbeddingResponse,
    ImageResponse,
    ModelInfo,
    ProviderMapping,
    decode_data_url,
)
from .base import AsyncGeneratorProvider, ProviderModelMixin, check_messages, instancemethod
from .base import run_in_thread as _run_in_thread
from .embeddings import embed_batches
from .hf_models import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODEL,
    FALLBACK_IMAGE_MODELS,
    FALLBACK_TEXT_MODELS,
    MODEL_ALIASES,
)
from .pooled import (
    CallOptions,
    GenerationRequest,
    PooledProvider,
    call_client,
    last_user_text,
    single,
)

__all__ = ["HuggingFaceRouter", "RouterModels"]

logger = logging.getLogger(__name__)

#: Which providers serve a model changes within the day: the mapping is kept an hour.
MAPPING_TTL = 3600.0
_MAPPING_EXPAND = ["inferenceProviderMapping", "pipeline_tag", "config"]
#: The model list is a convenience: ask quickly, and keep the answer ten minutes.
ROUTER_MODELS_TTL = 600.0
LIST_TIMEOUTS = Timeouts(connect=5.0, first_byte=15.0, stream_gap=15.0, total=20.0)
#: The provider-mapping question is optional: a Hub that fails it is not asked again
#: for this long (a stalled Hub would otherwise cost every call its timeout).
MAPPING_FAILURE_TTL = 300.0
#: At most this many failed lookups are remembered (a gateway's callers choose the
#: model names; the oldest is forgotten first).
MAPPING_FAILURES_MAX = 1024
MAPPING_RETRY = RetryPolicy(
    max_retries=1, backoff_base=0.2, backoff_cap=0.5, max_wait=1.0, max_total=5.0
)


class RouterModels:
    """``GET {router}/v1/models``: the models served now, each with its providers
    (``status``, ``context_length``, ``pricing``, ``supports_tools``...).

    Cached per router base in memory and on disk (``HF_HUB_OFFLINE=1`` reads
    the disk alone); concurrent askers share one request.
    """

    def __init__(self, ttl: float = ROUTER_MODELS_TTL) -> None:
        self.ttl = ttl
        self._memory: TimedCache[list[dict[str, Any]]] = TimedCache(ttl)

    def clear(self) -> None:
        """Forget the answers kept in memory."""
        self._memory.clear()

    async def fetch(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        proxy: str | None = None,
        refresh: bool = False,
        strict: bool = False,
    ) -> list[dict[str, Any]]:
        """The router's entries (``[]`` when it cannot be reached: a list must not fail a
        call, unless ``strict``, which raises). ``refresh`` skips both caches."""
        base = router_url(api_base)
        hit = None if refresh else self._memory.get(base)
        if hit is not None:
            return hit
        try:
            entries = await self._cached(base, api_key, proxy, refresh)
        except HFInferenceError as exc:
            if strict:
                raise
            logger.warning("could not list the router's models (%s)", exc)
            return []
        self._memory.put(base, entries)
        return entries

    async def _cached(
        self, base: str, api_key: str | None, proxy: str | None, refresh: bool = False
    ) -> list[dict[str, Any]]:
        cache, url = DiskCache(cache_dir() / "router", self.ttl), f"{base}/v1/models"
        if is_offline():
            return await cache.get(url, ignore_expiry=True) or []

        async def fetch_and_store() -> list[dict[str, Any]]:
            value = None if refresh else await cache.get(url)
            if value is None:
                settings = ClientSettings.resolve(
                    api_key=api_key, proxy=proxy, timeout=LIST_TIMEOUTS
                )
                async with HttpClient(settings, retry=LIST_RETRY) as http:
                    answer = await http.get_json(url)
                data = answer.get("data") if isinstance(answer, dict) else None
                value = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
                await cache.put(url, value)
            return value

        return await single_flight(url, fetch_and_store)


def _failures() -> TimedCache[tuple[ModelNotFoundError | None]]:
    return TimedCache(MAPPING_FAILURE_TTL, max_entries=MAPPING_FAILURES_MAX)


class HuggingFaceRouter(PooledProvider, AsyncGeneratorProvider, ProviderModelMixin):
    """Chat (OpenAI's protocol) and images through the Inference Providers router.

    Same contract as :class:`~hfinfer.HuggingFaceInference`: classmethods open
    their own connections per call; an instance used as ``async with
    HuggingFaceRouter(api_key=...) as router`` shares one pool. Choose a
    provider with ``provider="together"`` or ``model="org/name:together"``, a
    policy with ``:fastest``, ``:cheapest`` or ``:preferred``.

    >>> async for chunk in HuggingFaceRouter.create_async_generator(
    ...     "deepseek-ai/DeepSeek-R1:together", [{"role": "user", "content": "Hi"}]):
    ...     print(chunk, end="")   # Reasoning prints too; test isinstance to tell it apart
    """

    url = "https://huggingface.co/docs/inference-providers"
    parent = "HuggingFace"
    label = "Hugging Face Inference Providers (router)"
    working = True
    needs_auth = True

    default_model = DEFAULT_MODEL
    default_image_model = DEFAULT_IMAGE_MODEL
    model_aliases: ClassVar[dict[str, str]] = dict(MODEL_ALIASES)
    models: ClassVar[list[str]] = []
    image_models: ClassVar[list[str]] = list(FALLBACK_IMAGE_MODELS)
    #: The router's model list, cached per router base (memory, then disk).
    router_models: ClassVar[RouterModels] = RouterModels()
    #: Hub answers (mapping, pipeline tag, config) by "hub|model", kept an hour.
    provider_mappings: ClassVar[TimedCache[dict[str, Any]]] = TimedCache(MAPPING_TTL)
    #: Failed mapping lookups by "hub|model", for MAPPING_FAILURE_TTL s: the error to
    #: raise again (or ``None``: the Hub could not answer, the router decides).
    mapping_failures: ClassVar[TimedCache[tuple[ModelNotFoundError | None]]] = _failures()
    #: Seconds the whole mapping lookup may take (retry included), whatever the
    #: call's own timeout: a Hub that stalls must not hold a chat for minutes.
    mapping_timeout: ClassVar[float] = 8.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each subclass gets caches of its own: no state shared across providers.
        super().__init_subclass__(**kwargs)
        cls.models = []
        cls.image_models = list(cls.image_models)
        cls.router_models = RouterModels()
        cls.provider_mappings = TimedCache(MAPPING_TTL)
        cls.mapping_failures = _failures()

    @classmethod
    def clear_caches(cls) -> None:
        """Forget what this class learned (provider mappings, the router's model
        list), as a new process would start."""
        cls.router_models.clear()
        cls.provider_mappings.clear()
        cls.mapping_failures.clear()
        cls.models = []

    # -- models ---------------------------------------------------------------

    @classmethod
    def get_models(cls, **kwargs: Any) -> list[str]:
        """The ids of the models the router serves now (``GET {router}/v1/models``),
        cached; the fallback list when the router cannot be reached."""
        return list(_run_in_thread(lambda: cls.get_models_async(**kwargs)))

    @classmethod
    async def get_models_async(cls, **kwargs: Any) -> list[str]:
        """The async twin of :meth:`get_models`. Keywords: ``api_base``, ``api_key``, ``proxy``."""
        entries = await cls.router_models.fetch(**kwargs)
        ids = [e["id"] for e in entries if isinstance(e.get("id"), str)]
        if not ids:
            return list(dict.fromkeys([*FALLBACK_TEXT_MODELS, *cls.image_models]))
        cls.models = ids
        return list(ids)

    @classmethod
    async def get_provider_mapping(cls, http: HttpClient, model: str) -> dict[str, Any] | None:
        """The Hub's answer about ``model`` with its ``inferenceProviderMapping``
        (cached an hour), or ``None`` when the Hub could not be asked (the router
        then decides). A missing, private or gated-without-token model raises, and
        so does a Hub host name that does not resolve.

        The lookup is bounded by :attr:`mapping_timeout` and retried at most once;
        a failure is remembered for :data:`MAPPING_FAILURE_TTL` seconds (for this
        token: another may see more) and warned about once per model.
        """
        settings = http.settings
        for key in scoped_keys(settings.hub_endpoint, settings.token, model):
            cached = cls.provider_mappings.get(key)
            if cached is not None:
                return cached
        failure_key = scoped_key(settings.hub_endpoint, settings.token, model, public=False)
        failed = cls.mapping_failures.get(failure_key)
        if failed is not None:
            if failed[0] is not None:
                raise _again(failed[0], model)
            return None
        try:
            info = await asyncio.wait_for(cls._ask_mapping(http, model), cls.mapping_timeout)
        except ModelNotFoundError as exc:
            cls.mapping_failures.put(failure_key, (exc,))
            raise
        except (AuthenticationError, NameResolutionError):
            # A Hub name that does not resolve means offline or a wrong HF_ENDPOINT:
            # say so once rather than a warning and then the router's same failure.
            raise
        except (HFInferenceError, asyncio.TimeoutError) as exc:
            reason = str(exc) or f"no answer within {cls.mapping_timeout} s"
            logger.warning(
                "could not ask the Hub which providers serve %s (%s); the router decides, "
                "and the Hub is not asked again for %d s",
                model, reason, MAPPING_FAILURE_TTL,
            )  # fmt: skip
            cls.mapping_failures.put(failure_key, (None,))
            return None
        cls.mapping_failures.pop(failure_key)
        key = scoped_key(settings.hub_endpoint, settings.token, model, public=is_public_repo(info))
        cls.provider_mappings.put(key, info)
        return info

    @instancemethod
    async def similarity(
        self,
        model: str,
        sentence: str,
        others: Sequence[str],
        *,
        provider: str | None = None,
        **kwargs: Any,
    ) -> list[float]:
        """How close each of ``others`` is to ``sentence`` (one score each, in order):
        through hf-inference's sentence-similarity pipeline when the model's mapping
        has it, else the cosine of the embeddings the mapped provider makes."""
        name, suffix = split_model(model or "")
        choice = provider_choice(suffix, provider)
        if not name.strip():
            raise InvalidRequestError("similarity() needs a model id")
        texts = check_inputs(others)
        call = self._options(kwargs)
        async with call_client(self, call) as http:
            info = await type(self).get_provider_mapping(http, name)
            mapping = None if info is None else info.get(_MAPPING_EXPAND[0])
            pipeline = _similarity_entry(mapping, choice)
            if pipeline is not None:
                builder = provider_tasks.SentenceSimilarity()
                request = builder.request(pipeline, sentence, texts)
                async with http.open(
                    "POST", f"{call.api_base}/hf-inference{request.path}",
                    json={**request.payload, **call.extra}, model=name, expect="json",
                ) as response:  # fmt: skip
                    return builder.answer(await http.read_json(response), len(texts))
            plan = plan_embeddings(name, choice, mapping)
            assert plan.provider is not None and plan.provider_id is not None
            vectors = await embed_batches(
                http, f"{call.api_base}/{plan.provider}", feature_extraction(plan.provider),
                plan.provider_id, [sentence, *texts], model=name, provider=plan.provider,
                extra=call.extra,
            )  # fmt: skip
        first, *rest = vectors.vectors
        return [provider_tasks.cosine(first, vector) for vector in rest]

    @instancemethod
    async def model_info(self, model: str, **kwargs: Any) -> ModelInfo:
        """What the Hub says of ``model`` for inference: pipeline tag, and each
        provider of its mapping with task, status, id, and whether hfinfer speaks it."""
        name = split_model(model or "")[0].strip()
        if not name:
            raise InvalidRequestError("model_info() needs a model id, e.g. 'org/name'")
        call = self._options(kwargs)
        async with call_client(self, call) as http:
            info = await Hub(http, ttl=MAPPING_TTL).model_info(name, expand=_MAPPING_EXPAND)
        mapping = info.get(_MAPPING_EXPAND[0])
        entries = mapping.items() if isinstance(mapping, dict) else (
            (e.get("provider"), e) for e in mapping if isinstance(e, dict)
        ) if isinstance(mapping, list) else ()  # fmt: skip
        providers = tuple(
            ProviderMapping(
                str(provider),
                _text(entry.get("task")),
                _text(entry.get("status")),
                _text(entry.get("providerId")),
                speaks(str(provider), str(entry.get("task"))),
            )
            for provider, entry in entries
            if isinstance(entry, dict)
        )
        return ModelInfo(
            str(info.get("id") or name), _text(info.get("pipeline_tag")), providers, info
        )

    @classmethod
    async def _ask_mapping(cls, http: HttpClient, model: str) -> dict[str, Any]:
        hub = Hub(http, ttl=MAPPING_TTL)
        return await hub.model_info(model, expand=_MAPPING_EXPAND, retry=MAPPING_RETRY)

    # -- generation -------------------------------------------------------------

    @staticmethod
    def _resolve_base(base: str | None) -> str:
        """The router (or OpenAI-compatible server) base: ``base`` without ``/v1``
        (how OpenAI's clients write it), else ``HF_ROUTER_URL``, else the router."""
        resolved = server_base(router_url(base))
        check_api_base(resolved)
        return resolved

    def _check(self, request: GenerationRequest, call: CallOptions) -> GenerationRequest:
        """On Hugging Face's router: the ``model:provider`` suffix split off, aliases
        resolved. On another server: the model name as given. The prompt as a user
        message either way."""
        if _is_hf_router(call):
            if is_url(request.model or ""):
                raise InvalidRequestError(
                    f"{request.model!r} is a server's URL, not a model on Hugging Face's "
                    "router: pass it as api_base= (--api-base on the command line) and "
                    "name the model it serves."
                )
            name, suffix = split_model(request.model or "")
            choice = provider_choice(suffix, request.options.pop("provider", None))
            name = check_repo_id(self.get_model(name))  # before any request
        else:
            name, choice = _own_model(request.model, call.api_base, request.options), None
        messages = request.messages
        if request.prompt is not None and not messages:
            messages = [{"role": "user", "content": request.prompt}]
        if request.do_continue:
            logger.warning("action='continue' is not part of the chat protocol; ignored")
        request.model, request.provider = name, choice
        request.messages = check_messages(messages)
        return request

    @instancemethod
    async def embed(
        self,
        model: str,
        inputs: str | Sequence[str],
        *,
        provider: str | None = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> EmbeddingResponse:
        """One vector per input, from the provider the Hub's mapping names for the
        model's feature-extraction (``provider=``, ``model:provider`` or a policy, as
        for chat). Long lists are split into the batches the provider takes
        (``batch_size`` to choose). Other keywords (``normalize``, ``truncate``,
        ``user``...) go into the provider's request body."""
        if not isinstance(model, str) or not split_model(model)[0].strip():
            raise InvalidRequestError("embed() needs a model id, e.g. 'BAAI/bge-small-en-v1.5'")
        call = self._options(kwargs)
        name, suffix = split_model(model)
        choice = provider_choice(suffix, provider)
        name = self.get_model(name)
        async with call_client(self, call) as http:
            info = await type(self).get_provider_mapping(http, name)
            mapping = None if info is None else info.get(_MAPPING_EXPAND[0])
            plan = plan_embeddings(name, choice, mapping)
            assert plan.provider is not None and plan.provider_id is not None
            return await embed_batches(
                http, f"{call.api_base}/{plan.provider}", feature_extraction(plan.provider),
                plan.provider_id, inputs, model=name, provider=plan.provider,
                dimensions=dimensions, encoding_format=encoding_format, batch_size=batch_size,
                extra={**call.extra, **kwargs}, exchange=call.exchange,
            )  # fmt: skip

    async def _generate(
        self, http: HttpClient, call: CallOptions, request: GenerationRequest
    ) -> AsyncGenerator[Chunk, None]:
        """Chat through the router (streamed or not), or an image from a mapped provider.

        Yields ``str`` answer text and :class:`~hfinfer.types.Reasoning`, then
        :class:`~hfinfer.types.ToolCalls` (when the model called tools),
        :class:`~hfinfer.types.Usage` and :class:`~hfinfer.types.FinishReason`;
        for a text-to-image model, one :class:`~hfinfer.types.ImageResponse`.
        ``api_base`` is the router, by default ``HF_ROUTER_URL`` or
        ``https://router.huggingface.co``. Keywords: ``provider`` (a provider or
        policy; also the ``model:suffix`` form), OpenAI's ``top_p``, ``stop``,
        ``seed``, ``response_format``, ``tools``, ``tool_choice``, ...;
        ``reasoning_open=True`` says the chat template opens ``<think>`` (default:
        read from the template); ``n`` answers are kept apart (the others as
        :class:`~hfinfer.types.ChoiceChunk`); engine knobs (``top_k``, ``min_p``,
        ``repetition_penalty``...) are sent, and any keyword not sent is named in
        a warning. With an ``api_base`` that is not Hugging Face's, the Hub is not
        asked. Nothing is retried once a chunk was yielded.
        """
        hf_router = _is_hf_router(call)
        info = await type(self).get_provider_mapping(http, request.model) if hf_router else None
        mapping = None if info is None else info.get(_MAPPING_EXPAND[0])
        task = None if info is None else info.get("pipeline_tag")
        plan = (
            plan_route(request.model, request.provider, mapping, task)
            if hf_router
            else Plan("chat", request.model)
        )
        options = request.options
        if plan.kind == "image":
            return single(await _generate_image(http, call, plan, request))
        opens = options.pop("reasoning_open", None)
        inside = model_opens_think(info) if opens is None else bool(opens)
        body = _chat_body(plan.router_model, request, call.extra)
        many = isinstance(body.get("n"), int) and body["n"] > 1
        splitter = _ManyAnswers(inside) if many else ThinkSplitter(start_inside=inside)
        url = f"{call.api_base}/v1/chat/completions"
        return _chat(http, url, body, splitter, call.exchange)


def _similarity_entry(mapping: Any, choice: str | None) -> str | None:
    """hf-inference's id for the model's sentence-similarity pipeline, when its mapping
    has one live (and no other provider was asked for)."""
    if choice not in (None, "hf-inference", *POLICIES) or not isinstance(mapping, dict):
        return None
    entry = mapping.get("hf-inference")
    if not isinstance(entry, dict) or entry.get("task") != "sentence-similarity":
        return None
    if entry.get("status") not in (None, "live"):
        return None
    return str(entry.get("providerId") or "") or None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _chat_body(model: str, request: GenerationRequest, extra: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = request.options
    apply_aliases(kwargs)
    max_tokens = kwargs.pop("max_tokens", request.max_tokens)
    options = {k: kwargs.pop(k) for k in openai_chat.CHAT_PARAMETERS if k in kwargs}
    engine = {
        k: value
        for k in openai_chat.ENGINE_PARAMETERS
        if k in kwargs and (value := kwargs.pop(k)) is not None
    }
    if kwargs:
        logger.warning(
            "not sent (not parameters of the chat protocol): %s; pass extra_body={...} to "
            "send them as they are",
            ", ".join(sorted(kwargs)),
        )
    return openai_chat.build_chat_request(
        model, request.messages, stream=request.stream, max_tokens=max_tokens,
        temperature=request.temperature, extra={**engine, **extra}, seed=request.seed, **options,
    )  # fmt: skip


def _again(exc: ModelNotFoundError, model: str) -> ModelNotFoundError:
    """The remembered 404 raised again: a fresh error with the answer's status, URL and
    request id (raising the stored one would pile up its tracebacks)."""
    return ModelNotFoundError(
        str(exc), model=model, status=exc.status, url=exc.url, request_id=exc.request_id
    )


def _is_hf_router(call: CallOptions) -> bool:
    """The call goes to Hugging Face's router (the Hub knows its models), not to an
    endpoint or a server of the user's own."""
    base = call.api_base
    return call.settings.is_hf_url(base) and not is_hf_endpoint(base)


def _own_model(model: str | None, base: str, options: dict[str, Any]) -> str:
    """The model name for a server that is not the router: as given, no aliases."""
    if options.pop("provider", None) not in (None, "auto"):
        logger.warning("provider= names a router provider; %s is not the router: ignored", base)
    if not model or not isinstance(model, str):
        raise InvalidRequestError(
            f"Name the model to ask {base} for (its GET /v1/models lists them)."
        )
    return model


def _not_served(exc: ValidationError, model: str) -> HFInferenceError:
    """The router's 400 "not supported by any provider you have enabled", made plain."""
    if "not supported by any provider" not in str(exc):
        return exc
    return ModelNotSupportedError(
        f"The router has no provider you enabled that serves {model} ({exc}). Enable one at "
        "https://huggingface.co/settings/inference-providers, name one with provider=..., or "
        "choose a model from HuggingFaceRouter.get_models().",
        model=model,
        status=exc.status,
        url=exc.url,
        request_id=exc.request_id,
    )


async def _chat(
    http: HttpClient,
    url: str,
    body: dict[str, Any],
    splitter: ThinkSplitter,
    exchange: Exchange | None = None,
) -> AsyncGenerator[Chunk, None]:
    stream = bool(body.get("stream"))
    try:
        async with http.open(
            "POST",
            url,
            json=body,
            stream=stream,
            model=body["model"],
            exchange=exchange,
            expect="event-stream",
        ) as response:
            if not stream or "event-stream" not in response.headers.get("content-type", ""):
                pieces, tail = openai_chat.decode_completion(await http.read_json(response))
                for whole in [*splitter.split(pieces), *splitter.flush(), *tail]:
                    yield whole
                return
            async with aclosing(_read_stream(http, response, splitter)) as chunks:
                async for chunk in chunks:
                    yield chunk
    except ValidationError as exc:
        raise _not_served(exc, body["model"]) from exc


async def _read_stream(
    http: HttpClient, response: Response, splitter: ThinkSplitter
) -> AsyncGenerator[Chunk, None]:
    state = openai_chat.ChatChunkDecoder()
    parser = SSEParser()
    read = response.content.readany
    with http.reading(response, lambda: (state.events, splitter.answer), "events"):
        while True:
            data = await read()
            # A read of one whole event (every read at generation speed) needs no split.
            single = parser.single_data(data) if data else None
            try:
                if single is not None:
                    payloads = [single]
                else:
                    payloads = parser.feed(data) if data else parser.close()
            except StreamError as exc:
                raise _with_answer(exc, splitter) from None
            pieces: list[Any] = state.feed(payloads) if payloads else []
            for chunk in splitter.split(pieces) if pieces else ():
                yield chunk
            if state.error is not None:
                raise _with_answer(state.error, splitter)
            if not data:
                break
    for piece in splitter.flush():
        yield piece
    try:
        tail = state.finish()
    except StreamError as exc:
        raise _with_answer(exc, splitter) from None
    for item in tail:
        yield item


class _ManyAnswers(ThinkSplitter):
    """``<think>`` splitting for ``n > 1`` answers: each answer has a splitter of its own
    (the first answer's is this one), so one answer's tags never cut another's."""

    __slots__ = ("_inside_at_start", "_others")

    def __init__(self, start_inside: bool) -> None:
        super().__init__(start_inside=start_inside)
        self._inside_at_start = start_inside
        self._others: dict[int, ThinkSplitter] = {}

    def _splitter(self, index: int) -> ThinkSplitter:
        found = self._others.get(index)
        if found is None:
            found = self._others[index] = ThinkSplitter(start_inside=self._inside_at_start)
        return found

    def split(self, pieces: Any) -> list[Any]:
        out: list[Any] = []
        for piece in super().split(pieces):
            if isinstance(piece, ChoiceChunk) and isinstance(piece.chunk, str):
                index = piece.index
                out.extend(ChoiceChunk(index, p) for p in self._splitter(index).feed(piece.chunk))
            else:
                out.append(piece)
        return out

    def flush(self) -> list[Any]:
        out: list[Any] = list(super().flush())
        for index in sorted(self._others):
            out.extend(ChoiceChunk(index, p) for p in self._others[index].flush())
        return out


def _with_answer(error: StreamError, splitter: ThinkSplitter) -> StreamError:
    # The answer text the caller saw, without the reasoning split off from it.
    error.partial_text = splitter.answer
    return error


#: Image settings taken from the call's keywords (``steps`` is ``num_inference_steps``).
_IMAGE_KNOBS = {"negative_prompt": "negative_prompt", "num_inference_steps": "steps",
                "steps": "steps", "guidance_scale": "guidance_scale"}  # fmt: skip
#: Seconds between two looks at a queued job (``poll_interval=`` to change).
POLL_INTERVAL = 1.0


async def _generate_image(
    http: HttpClient, call: CallOptions, plan: Plan, asked: GenerationRequest
) -> ImageResponse:
    assert plan.provider is not None and plan.provider_id is not None
    prompt = asked.prompt if asked.prompt is not None else last_user_text(asked.messages)
    options = asked.options
    knobs = {_IMAGE_KNOBS[k]: options.pop(k) for k in list(options) if k in _IMAGE_KNOBS}
    interval = float(options.pop("poll_interval", POLL_INTERVAL))
    queue = bool(options.pop("queue", False))
    if options:
        logger.warning("not sent (an image call does not use them): %s", ", ".join(sorted(options)))
    builder = provider_tasks.text_to_image(plan.provider)
    if queue and isinstance(builder, provider_tasks.FalImages):
        builder = provider_tasks.FalImages(queue=True)
    request = builder.request(
        plan.provider_id, prompt, seed=asked.seed, width=asked.width,
        height=asked.height, aspect_ratio=asked.aspect_ratio, extra=call.extra, **knobs,
    )  # fmt: skip
    headers = dict(request.headers)
    if request.raw_image:
        headers["accept"] = "image/png"
    found: list[tuple[bytes, str]] = []
    answer: list[provider_tasks.ImageSource] | provider_tasks.Job = []
    async with http.open(
        "POST",
        f"{call.api_base}{request.path}",
        json=request.payload,
        model=plan.router_model,
        headers=headers or None,
        exchange=call.exchange,
        expect="image" if request.raw_image else "json",
    ) as response:
        if request.raw_image:
            found.append(await _image_body(http, response))
        else:
            answer = builder.answer(await http.read_json(response))
    if isinstance(answer, provider_tasks.Job):
        answer = await _wait_for_job(http, call, builder, answer, interval)
    # Downloads start once the answer is closed, so its connection is free for them.
    found += [await _fetch_source(http, source, call.api_base) for source in answer]
    reported = {"seed": request.seed, "model": plan.router_model, "provider": plan.provider}
    urls = [images.image_response(body, kind, prompt).url for body, kind in found]
    return ImageResponse(urls, prompt, reported)


async def _wait_for_job(
    http: HttpClient,
    call: CallOptions,
    builder: provider_tasks.TextToImage,
    job: provider_tasks.Job,
    interval: float,
) -> list[provider_tasks.ImageSource]:
    """Poll a queued image job until it is done (within the total timeout), then
    read its images."""
    limit = http.settings.timeouts.total
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    while True:
        body = await http.get_json(f"{call.api_base}{job.status_path}", retry=LIST_RETRY)
        if builder.job_state(body) == "done":
            break
        if deadline is not None and loop.time() + interval > deadline:
            raise TimeoutError(
                f"{builder.provider} did not finish the image within {limit} s (total timeout); "
                "raise timeout= for slow models.",
                phase="total",
                seconds=limit,
            )
        await asyncio.sleep(interval)
    if job.result_path is not None:
        body = await http.get_json(f"{call.api_base}{job.result_path}", retry=LIST_RETRY)
    answer = builder.answer(body)
    if isinstance(answer, provider_tasks.Job):
        raise ResponseError(f"{builder.provider} called its job done but sent no image")
    return answer


async def _image_body(http: HttpClient, response: Response) -> tuple[bytes, str]:
    """The bytes of an answer opened with ``expect="image"``, and their media type."""
    content_type = response.headers.get("content-type", "")
    body = await http.read_body(response)
    return body, provider_tasks.sniff_media_type(body, content_type)


async def _fetch_source(
    http: HttpClient, source: provider_tasks.ImageSource, router: str
) -> tuple[bytes, str]:
    if source.kind == "base64":
        body = provider_tasks.decode_base64_image(source.value)
        return body, provider_tasks.sniff_media_type(body)
    if source.value.startswith("data:"):
        return decode_data_url(source.value)
    # The token goes to the router only, never to a provider's file host.
    same_host = urlsplit(source.value)[:2] == urlsplit(router)[:2]
    settings = http.settings if same_host else replace(http.settings, token=None, bill_to=None)
    downloader = http if same_host else HttpClient(settings, session=http.session())
    async with downloader.open("GET", source.value, expect="image") as response:
        return await _image_body(downloader, response)
