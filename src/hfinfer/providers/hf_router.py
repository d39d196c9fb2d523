"""``HuggingFaceRouter``: chat completions, embeddings and images through Hugging
Face's Inference Providers router (``POST {router}/v1/chat/completions``).

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

The pieces live beside it: :mod:`.router_models` (the router's model list),
:mod:`.router_chat` (the chat exchange and its stream reader) and
:mod:`.router_images` (image requests and queued jobs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any, ClassVar

from ..config import check_api_base, router_url
from ..errors import (
    AuthenticationError,
    HFInferenceError,
    InvalidRequestError,
    ModelNotFoundError,
    NameResolutionError,
)
from ..hosts import is_hf_endpoint, server_base
from ..http.retry import RetryPolicy
from ..http.session import HttpClient
from ..hub.cache import TimedCache, is_public_repo, scoped_key, scoped_keys
from ..hub.metadata import Hub
from ..protocol import provider_tasks
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
from ..reasoning import model_opens_think
from ..types import Chunk, EmbeddingResponse, ModelInfo, ProviderMapping
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
from .pooled import CallOptions, GenerationRequest, PooledProvider, call_client, single
from .router_chat import chat_body, chat_chunks, splitter_for
from .router_images import generate_image
from .router_models import RouterModels

__all__ = ["HuggingFaceRouter", "RouterModels"]

logger = logging.getLogger(__name__)

#: Which providers serve a model changes within the day: the mapping is kept an hour.
MAPPING_TTL = 3600.0
_MAPPING_EXPAND = ["inferenceProviderMapping", "pipeline_tag", "config"]
#: The provider-mapping question is optional: a Hub that fails it is not asked again
#: for this long (a stalled Hub would otherwise cost every call its timeout).
MAPPING_FAILURE_TTL = 300.0
#: At most this many failed lookups are remembered (a gateway's callers choose the
#: model names; the oldest is forgotten first).
MAPPING_FAILURES_MAX = 1024
MAPPING_RETRY = RetryPolicy(
    max_retries=1, backoff_base=0.2, backoff_cap=0.5, max_wait=1.0, max_total=5.0
)


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
            return single(await generate_image(http, call, plan, request))
        opens = options.pop("reasoning_open", None)
        inside = model_opens_think(info) if opens is None else bool(opens)
        body = chat_body(plan.router_model, request, call.extra)
        url = f"{call.api_base}/v1/chat/completions"
        return chat_chunks(http, url, body, splitter_for(body, inside), call.exchange)


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
