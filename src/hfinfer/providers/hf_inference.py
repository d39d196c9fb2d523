"""``HuggingFaceInference``: the seed's provider, on the text-generation-inference
protocol (``POST {api_base}/models/{model}``) and the Hub's model info.

It orchestrates one call: resolve the model, read its metadata (cached),
route on ``pipeline_tag``, build the prompt, send, and turn the answer into
the stream vocabulary of :mod:`hfinfer.types`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, ClassVar

from ..config import ClientSettings, Timeouts, inference_base, template_render_limits
from ..errors import HFInferenceError, ModelNotSupportedError
from ..hosts import server_base
from ..http.session import HttpClient, borrow_client
from ..hub.cache import MemoryCache, is_public_repo, scoped_key, scoped_keys
from ..hub.metadata import LIST_RETRY, Hub
from ..hub.templates import load_chat_template
from ..model_info import model_type as model_type_of
from ..prompts.render_limits import RenderLimits
from ..prompts.select import Prompt, TemplateInfo, build_prompt, prompt_may_be_slow
from ..protocol import images
from ..protocol.repo_ids import check_repo_id, is_repo_id, repo_path
from ..types import Chunk, EmbeddingResponse, ImageResponse, Messages, RenderedPrompt
from .base import AsyncGeneratorProvider, ProviderModelMixin, instancemethod
from .base import run_in_thread as _run_in_thread
from .discovery import known_servers
from .embeddings import EmbeddingProtocol, embed_on
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
from .tgi_text import IMAGE_OPTIONS, generate_text, text_parameters

__all__ = ["HuggingFaceInference"]

logger = logging.getLogger(__name__)

TEXT_TAGS = frozenset({"text-generation", "image-text-to-text"})
IMAGE_TAGS = frozenset({"text-to-image"})
#: The seed's limit: a longer prompt is rebuilt from fewer messages.
MAX_PROMPT_CHARS = 4096
#: A failed model-list request is not asked again for this long.
MODEL_LIST_RETRY_AFTER = 60.0
LIST_TIMEOUTS = Timeouts(connect=5.0, first_byte=15.0, stream_gap=15.0, total=20.0)


class HuggingFaceInference(PooledProvider, AsyncGeneratorProvider, ProviderModelMixin):
    """Chat, text generation and images through Hugging Face's inference API.

    Use the classmethods directly (each call opens and closes its own
    connections), or an instance: ``async with HuggingFaceInference() as hf``
    keeps one connection pool for all its calls and holds defaults for
    ``api_key``, ``api_base``, ``proxy`` and ``max_retries``.

    >>> async for chunk in HuggingFaceInference.create_async_generator(
    ...     "meta-llama/Llama-3.1-8B-Instruct", [{"role": "user", "content": "Hi"}]):
    ...     print(chunk, end="")
    """

    url = "https://huggingface.co"
    parent = "HuggingFace"
    label = "Hugging Face (text-generation-inference)"
    working = True

    default_model = DEFAULT_MODEL
    default_image_model = DEFAULT_IMAGE_MODEL
    model_aliases: ClassVar[dict[str, str]] = dict(MODEL_ALIASES)
    image_models: ClassVar[list[str]] = list(FALLBACK_IMAGE_MODELS)
    models: ClassVar[list[str]] = []
    #: Hub model info (the seed's cache), reused by every call, keyed by Hub endpoint,
    #: who may see it (``public``, or a hash of the token that fetched it) and model id:
    #: ``"https://huggingface.co|public|org/name"`` (see :mod:`hfinfer.hub.cache`).
    model_data: ClassVar[MemoryCache[dict[str, Any]]] = MemoryCache()
    #: Chat templates, keyed as :attr:`model_data` (``None``: the model has none).
    chat_templates: ClassVar[MemoryCache[TemplateInfo | None]] = MemoryCache()
    _models_failed_at: ClassVar[float] = 0.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each subclass gets caches of its own: no state shared across providers.
        super().__init_subclass__(**kwargs)
        cls.model_data = MemoryCache()
        cls.chat_templates = MemoryCache()
        cls.models = []
        cls.image_models = list(cls.image_models)

    @classmethod
    def clear_caches(cls) -> None:
        """Forget what this class learned (model info, templates, the model list),
        as a new process would start."""
        cls.model_data.clear()
        cls.chat_templates.clear()
        cls.models = []
        cls._models_failed_at = 0.0

    # -- models ---------------------------------------------------------------

    @classmethod
    def get_models(cls, **kwargs: Any) -> list[str]:
        """The fallback list plus the Hub's warm text-generation models and its
        trending text-to-image models, de-duplicated and cached. When the Hub
        cannot be reached, the fallback list (nothing raised)."""
        if cls.models:
            return list(cls.models)
        return list(_run_in_thread(lambda: cls.get_models_async(**kwargs)))

    @classmethod
    async def get_models_async(cls, **kwargs: Any) -> list[str]:
        """The async twin of :meth:`get_models`."""
        if cls.models:
            return list(cls.models)
        fallback = _unique(FALLBACK_TEXT_MODELS + cls.image_models)
        if time.monotonic() - cls._models_failed_at < MODEL_LIST_RETRY_AFTER:
            return fallback
        settings = ClientSettings.resolve(
            api_key=kwargs.get("api_key"), proxy=kwargs.get("proxy"), timeout=LIST_TIMEOUTS
        )
        try:
            async with HttpClient(settings) as http:
                hub = Hub(http)
                text = await hub.list_models(
                    pipeline_tag="text-generation",
                    inference="warm",
                    sort="trendingScore",
                    direction=-1,
                    limit=100,
                )
                image = await hub.list_models(
                    pipeline_tag="text-to-image",
                    inference="warm",
                    sort="trendingScore",
                    direction=-1,
                    limit=20,
                )
        except HFInferenceError as exc:
            logger.warning("could not list models on the Hub (%s); using the fallback list", exc)
            cls._models_failed_at = time.monotonic()
            return fallback
        image_ids = [m["id"] for m in image if isinstance(m.get("id"), str)]
        cls.image_models = _unique(cls.image_models + image_ids)
        text_ids = sorted(m["id"] for m in text if isinstance(m.get("id"), str))
        cls.models = _unique(FALLBACK_TEXT_MODELS + text_ids + cls.image_models)
        return list(cls.models)

    @classmethod
    async def get_model_data(cls, session: Any, model: str) -> dict[str, Any]:
        """The Hub's info about ``model`` (``GET /api/models/{model}``), cached in
        :attr:`model_data` and on disk. ``session`` may be hfinfer's
        :class:`HttpClient`, an ``aiohttp.ClientSession``, or ``None``."""
        async with borrow_client(session) as http:
            cached = cls._known_model_data(http, model)
            if cached is not None:
                return cached
            info = await Hub(http).model_info(model)
        key = scoped_key(http.settings.hub_endpoint, http.settings.token, model,
                         public=is_public_repo(info))  # fmt: skip
        cls.model_data[key] = info
        return info

    @classmethod
    def _known_model_data(cls, http: HttpClient, model: str) -> dict[str, Any] | None:
        """The model info in memory that this caller may see, if any."""
        for key in scoped_keys(http.settings.hub_endpoint, http.settings.token, model):
            if key in cls.model_data:
                return cls.model_data[key]
        return None

    @classmethod
    async def get_chat_template(cls, http: HttpClient, model: str) -> TemplateInfo | None:
        """The model's chat template (cached per model and who may see it), or ``None``."""
        settings = http.settings
        for key in scoped_keys(settings.hub_endpoint, settings.token, model):
            if key in cls.chat_templates:
                return cls.chat_templates[key]
        model_data = await cls.get_model_data(http, model)
        info = await load_chat_template(Hub(http), model, model_data)
        key = scoped_key(settings.hub_endpoint, settings.token, model,
                         public=is_public_repo(model_data))  # fmt: skip
        cls.chat_templates[key] = info
        return info

    # -- generation -------------------------------------------------------------

    @staticmethod
    def _resolve_base(base: str | None) -> str:
        return inference_base(base)

    def _server_for(self, model: str) -> str | None:
        return _endpoint(model)

    async def _generate(
        self, http: HttpClient, call: CallOptions, request: GenerationRequest
    ) -> AsyncGenerator[Chunk, None]:
        """Generate text (streamed or not) or an image, by the model's ``pipeline_tag``.

        Yields ``str`` text chunks, then :class:`~hfinfer.types.Usage` (when
        known) and :class:`~hfinfer.types.FinishReason`; for a text-to-image
        model, one :class:`~hfinfer.types.ImageResponse`. ``api_base`` is the
        inference base, by default ``https://router.huggingface.co/hf-inference``;
        a model given as a URL is a dedicated endpoint. TGI knobs (``top_p``,
        ``top_k``, ``stop``, ``repetition_penalty``, ``do_sample``, ...) are
        accepted as keywords; ``action="continue"`` carries the last assistant
        message on.
        """
        cls, model = type(self), request.model
        endpoint = _endpoint(model)
        raw_prompt = request.options.pop("raw_prompt", None)  # AsyncClient.complete: sent as is
        if endpoint is None:
            check_repo_id(model)  # before any request: the id goes into URL paths
            model_data = await cls.get_model_data(http, model)
        else:
            model_data = await cls._endpoint_model_data(http, endpoint)
        tag = model_data.get("pipeline_tag")
        if tag in IMAGE_TAGS:
            return single(await _generate_image(http, call, request))
        if tag not in TEXT_TAGS:
            raise ModelNotSupportedError(
                f"{model} is a {tag or 'untagged'} model; {cls.__name__} runs "
                "text-generation, image-text-to-text and text-to-image models.",
                model=model,
                pipeline_tag=tag,
            )
        if raw_prompt is None:
            built = await cls._build_text_prompt(
                http, _template_model(cls, http, model, model_data, endpoint), model_data,
                request.messages, request.do_continue, request.options,
            )  # fmt: skip
            text = built.text
        else:
            text = str(raw_prompt)
        params = text_parameters(
            model_data, request.max_tokens, request.temperature, request.seed, call.extra,
            request.options,
        )  # fmt: skip
        url = endpoint or f"{call.api_base}/models/{repo_path(model)}"
        return generate_text(
            http, url, model, text, params, request.stream, request.do_continue,
            call.exchange,
        )  # fmt: skip

    @instancemethod
    async def embed(
        self,
        model: str,
        inputs: str | Sequence[str],
        *,
        protocol: EmbeddingProtocol = "hf-inference",
        dimensions: int | None = None,
        encoding_format: str | None = None,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> EmbeddingResponse:
        """One vector per input from ``api_base``, spoken as ``protocol``:
        ``"hf-inference"`` (``{base}/models/{model}/pipeline/feature-extraction``, the
        default base), ``"tei"`` (a text-embeddings-inference server: ``{base}/embed``)
        or ``"openai"`` (``{base}/v1/embeddings``; a base ending in ``/v1`` is kept).
        A model given as a URL is a TEI endpoint. Long lists are split into
        batches (``batch_size``); other keywords go into the request body."""
        if protocol == "hf-inference" and isinstance(model, str) and is_repo_id(model):
            model = type(self).get_model(model)
        return await embed_on(
            self, model, inputs, protocol=protocol, dimensions=dimensions,
            encoding_format=encoding_format, batch_size=batch_size, **kwargs,
        )  # fmt: skip

    def _check(self, request: GenerationRequest, call: CallOptions) -> GenerationRequest:
        """As the skeleton's, and no messages are needed for a raw prompt
        (``AsyncClient.complete`` sends ``raw_prompt`` as it is)."""
        if request.options.get("raw_prompt") is not None and not request.messages:
            request.model = self.get_model(request.model)
            request.messages = []
            return request
        return super()._check(request, call)

    async def render_prompt(
        self, model: str | None, messages: Messages, **kwargs: Any
    ) -> RenderedPrompt:
        """The prompt :meth:`create_async_generator` would send for ``messages``
        (``action="continue"`` and ``tools`` as there), on this instance's pool."""
        cls = type(self)
        call = CallOptions.collect(
            self, kwargs, api_base=None, api_key=None, proxy=None,
            timeout=600, extra_data=None, resolve_base=inference_base,
            server=_endpoint(model or ""),
        )  # fmt: skip
        request = self._check(
            GenerationRequest(model or "", messages, action=kwargs.get("action"), options=kwargs),
            call,
        )
        name = request.model
        endpoint = _endpoint(name)
        async with call_client(self, call) as http:
            if endpoint is not None:
                model_data = await cls._endpoint_model_data(http, endpoint)
            else:
                check_repo_id(name)
                model_data = await cls.get_model_data(http, name)
            built = await cls._build_text_prompt(
                http, _template_model(cls, http, name, model_data, endpoint), model_data,
                request.messages, request.do_continue, kwargs,
            )  # fmt: skip
        return RenderedPrompt(built.text, built.source, name)

    @classmethod
    async def _endpoint_model_data(cls, http: HttpClient, endpoint: str) -> dict[str, Any]:
        """What is known of a dedicated endpoint (a TGI server): the model it serves,
        from ``GET {endpoint}/info``, and, on Hugging Face's hosts, that model's Hub
        info when the Hub has it. A server of the user's own gets no Hub question.

        Neither is required: without them the prompt comes from the generic format.
        ``/info`` is the server's word: a ``model_id`` that is not a valid Hub id
        (``../../api/...``, a query, a path) is not used.
        """
        token = http.settings.token
        for key in scoped_keys(endpoint, token, "info"):
            if key in cls.model_data:
                return cls.model_data[key]
        data: dict[str, Any] = {"id": None, "pipeline_tag": "text-generation"}
        known = known_servers.known(endpoint)
        if known is not None and known.protocol == "tgi" and not http.settings.is_hf_url(endpoint):
            # A client found out what this server is: its /info was read then.
            data["id"] = known.models[0] if known.models else None
            cls.model_data[endpoint] = data
            return data
        try:
            info = await http.get_json(f"{endpoint}/info", retry=LIST_RETRY)
            served = info.get("model_id") if isinstance(info, dict) else None
        except HFInferenceError as exc:
            logger.info("%s/info did not answer (%s); the served model is unknown", endpoint, exc)
            served = None
        if not is_repo_id(served):
            if served is not None:
                logger.info("%s/info names no valid model id (%.80r): not used", endpoint, served)
            served = None
        if isinstance(served, str):
            data["id"] = served
        if isinstance(served, str) and http.settings.is_hf_url(endpoint):
            try:
                hub_info = await cls.get_model_data(http, served)
            except HFInferenceError as exc:
                logger.info("no Hub info for %s (%s); using the generic prompt", served, exc)
            else:
                data = {**hub_info, "id": served, "pipeline_tag": "text-generation"}
        cls.model_data[scoped_key(endpoint, token, "info", public=False)] = data
        return data

    @classmethod
    async def _build_text_prompt(
        cls,
        http: HttpClient,
        model: str | None,
        model_data: Mapping[str, Any],
        messages: Messages,
        do_continue: bool,
        kwargs: Mapping[str, Any],
    ) -> Prompt:
        template = await cls.get_chat_template(http, model) if model else None
        model_type = model_type_of(model_data)
        tools = kwargs.get("tools")
        build = functools.partial(
            build_prompt,
            model_data=model_data,
            model_type=model_type,
            do_continue=do_continue,
            template=template,
            tools=tools,
            render_limits=RenderLimits(*template_render_limits()),
        )
        # A template that is new or was slow renders in a worker thread: a hostile one
        # runs into its time limit there while the other streams go on.
        off_loop = prompt_may_be_slow(model_data, template=template, tools=tools)
        built = await asyncio.to_thread(build, messages) if off_loop else build(messages)
        if len(built.text) > MAX_PROMPT_CHARS and len(messages) > 1:
            shorter = _fewer_messages(messages)
            logger.info(
                "prompt of %d characters is over %d; kept %d of %d messages",
                len(built.text),
                MAX_PROMPT_CHARS,
                len(shorter),
                len(messages),
            )
            built = await asyncio.to_thread(build, shorter) if off_loop else build(shorter)
        logger.debug("%s: prompt from %s", model, built.source)
        return built


def _template_model(
    cls: type[HuggingFaceInference],
    http: HttpClient,
    model: str,
    model_data: Mapping[str, Any],
    endpoint: str | None,
) -> str | None:
    """Whose chat template to use: the model's; for an endpoint, the Hub's for the
    model it serves, when the Hub knows it."""
    if endpoint is None:
        return model
    served = model_data.get("id")
    known = isinstance(served, str) and cls._known_model_data(http, served) is not None
    return served if known else None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _fewer_messages(messages: Messages) -> Messages:
    """The seed's rule: the first 3 and last 3 of a long conversation; else the
    system messages and the last message."""
    if len(messages) > 6:
        return messages[:3] + messages[-3:]
    return [m for m in messages[:-1] if m.get("role") == "system"] + [messages[-1]]


async def _generate_image(
    http: HttpClient, call: CallOptions, request: GenerationRequest
) -> ImageResponse:
    text = request.prompt if request.prompt is not None else last_user_text(request.messages)
    extra = {k: request.options[k] for k in IMAGE_OPTIONS if request.options.get(k) is not None}
    extra.update(call.extra)
    payload = images.image_payload(
        text, seed=request.seed, width=request.width, height=request.height,
        aspect_ratio=request.aspect_ratio, extra=extra,
    )  # fmt: skip
    url = f"{call.api_base}/models/{repo_path(request.model)}"
    headers = {"accept": "image/png"}
    async with http.open(
        "POST",
        url,
        json=payload,
        model=request.model,
        headers=headers,
        exchange=call.exchange,
        expect="image",
    ) as response:
        content_type = response.headers.get("content-type", "")
        body = await http.read_body(response)
    options = {"seed": payload["parameters"]["seed"], "model": request.model}
    return images.image_response(body, content_type, text, options)


def _endpoint(model: str) -> str | None:
    """A model given as a URL (a dedicated endpoint, a TGI server): its base, without
    a trailing ``/`` or ``/v1``; ``None`` for a model id."""
    return server_base(model) if model.startswith(("http://", "https://")) else None
