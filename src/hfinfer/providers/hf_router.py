"""``HuggingFaceRouter``: chat completions and images through Hugging Face's
Inference Providers router (``POST {router}/v1/chat/completions``).

It orchestrates one call: split the model's ``:provider``/``:policy`` suffix,
ask the Hub which providers serve the model (``inferenceProviderMapping``,
cached) so a model nobody serves fails before anything is sent, then either
stream the chat answer (``<think>`` text and ``reasoning_content`` both
become :class:`~hfinfer.types.Reasoning`) or ask the mapped provider for an
image. The server applies the model's chat template itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from ..config import ClientSettings, Timeouts, cache_dir, check_api_base, is_offline, router_url
from ..errors import (
    AuthenticationError,
    HFInferenceError,
    ModelNotFoundError,
    ModelNotSupportedError,
    NameResolutionError,
    ResponseError,
    StreamError,
    ValidationError,
)
from ..http.session import Exchange, HttpClient, html_guard
from ..hub.cache import DiskCache, single_flight
from ..hub.metadata import LIST_RETRY, Hub
from ..protocol import images, openai_chat, provider_images
from ..protocol.provider_images import Plan, plan_route, provider_choice, split_model
from ..protocol.sse import SSEParser
from ..reasoning import ThinkSplitter, model_opens_think
from ..types import Chunk, ImageResponse, Messages, decode_data_url
from .base import AsyncGeneratorProvider, ProviderModelMixin, check_messages, hybridmethod
from .base import run_in_thread as _run_in_thread
from .hf_models import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_MODEL,
    FALLBACK_IMAGE_MODELS,
    FALLBACK_TEXT_MODELS,
    MODEL_ALIASES,
)
from .pooled import CallOptions, PooledProvider, call_client, last_user_text, stream_failure

__all__ = ["HuggingFaceRouter", "RouterModels"]

logger = logging.getLogger(__name__)

#: Which providers serve a model changes within the day: the mapping is kept an hour.
MAPPING_TTL = 3600.0
_MAPPING_EXPAND = ["inferenceProviderMapping", "pipeline_tag", "config"]
_ALIASES = {"stop_sequences": "stop", "max_new_tokens": "max_tokens"}
#: The model list is a convenience: ask quickly, and keep the answer ten minutes.
ROUTER_MODELS_TTL = 600.0
LIST_TIMEOUTS = Timeouts(connect=5.0, first_byte=15.0, stream_gap=15.0, total=20.0)


class RouterModels:
    """``GET {router}/v1/models``: the models served now, each with its providers
    (``status``, ``context_length``, ``pricing``, ``supports_tools``...).

    Cached per router base in memory and on disk (``HF_HUB_OFFLINE=1`` reads
    the disk alone); concurrent askers share one request.
    """

    def __init__(self, ttl: float = ROUTER_MODELS_TTL) -> None:
        self.ttl = ttl
        self._memory: dict[str, tuple[float, list[dict[str, Any]]]] = {}

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
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        try:
            entries = await self._cached(base, api_key, proxy, refresh)
        except HFInferenceError as exc:
            if strict:
                raise
            logger.warning("could not list the router's models (%s)", exc)
            return []
        self._memory[base] = (time.monotonic(), entries)
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
    #: Hub answers (mapping, pipeline tag, config) by "hub|model", with the time fetched.
    provider_mappings: ClassVar[dict[str, tuple[float, dict[str, Any]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each subclass gets caches of its own: no state shared across providers.
        super().__init_subclass__(**kwargs)
        cls.models = []
        cls.image_models = list(cls.image_models)
        cls.router_models = RouterModels()
        cls.provider_mappings = {}

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
        so does a Hub host name that does not resolve."""
        key = f"{http.settings.hub_endpoint}|{model}"
        cached = cls.provider_mappings.get(key)
        if cached is not None and time.monotonic() - cached[0] < MAPPING_TTL:
            return cached[1]
        try:
            info = await Hub(http, ttl=MAPPING_TTL).model_info(model, expand=_MAPPING_EXPAND)
        except (ModelNotFoundError, AuthenticationError, NameResolutionError):
            # A Hub name that does not resolve means offline or a wrong HF_ENDPOINT:
            # say so once rather than a warning and then the router's same failure.
            raise
        except HFInferenceError as exc:
            logger.warning("could not ask the Hub which providers serve %s (%s)", model, exc)
            return None
        cls.provider_mappings[key] = (time.monotonic(), info)
        return info

    # -- generation -------------------------------------------------------------

    @hybridmethod
    async def create_async_generator(
        self_or_cls: Any,
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
        """Chat through the router (streamed or not), or an image from a mapped provider.

        Yields ``str`` answer text and :class:`~hfinfer.types.Reasoning`, then
        :class:`~hfinfer.types.ToolCalls` (when the model called tools),
        :class:`~hfinfer.types.Usage` and :class:`~hfinfer.types.FinishReason`;
        for a text-to-image model, one :class:`~hfinfer.types.ImageResponse`.
        ``api_base`` (alias ``base_url``) is the router, by default
        ``HF_ROUTER_URL`` or ``https://router.huggingface.co``. Keywords:
        ``provider`` (a provider or policy; also the ``model:suffix`` form),
        OpenAI's ``top_p``, ``stop``, ``seed``, ``response_format``, ``tools``,
        ``tool_choice``, ...; ``extra_data`` (alias ``extra_body``) is merged into
        the request body; ``reasoning_open=True`` says the chat template opens
        ``<think>`` (default: read from the template). Raises subclasses of
        :class:`~hfinfer.errors.HFInferenceError`; nothing is retried once a
        chunk was yielded, and a broken stream's error carries ``partial_text``.
        """
        cls: type[HuggingFaceRouter] = (
            self_or_cls if isinstance(self_or_cls, type) else type(self_or_cls)
        )
        instance = None if isinstance(self_or_cls, type) else self_or_cls
        call = CallOptions.collect(
            instance,
            kwargs,
            api_base=api_base,
            api_key=api_key,
            proxy=proxy,
            timeout=timeout,
            extra_data=extra_data,
            resolve_base=_router_base,
        )
        name, suffix = split_model(model or "")
        name = cls.get_model(name)
        choice = provider_choice(suffix, kwargs.pop("provider", None))
        if prompt is not None and not messages:
            messages = [{"role": "user", "content": prompt}]
        messages = check_messages(messages)
        if action == "continue":
            logger.warning("action='continue' is not part of the router's protocol; ignored")
        async with call_client(instance, call) as http:
            info = await cls.get_provider_mapping(http, name)
            plan = plan_route(name, choice, None if info is None else info.get(_MAPPING_EXPAND[0]))
            if plan.kind == "image":
                if kwargs:
                    logger.debug(
                        "ignoring arguments an image call does not use: %s", sorted(kwargs)
                    )
                text = prompt if prompt is not None else last_user_text(messages)
                yield await _generate_image(
                    http, call, plan, text, seed, width, height, aspect_ratio
                )
                return
            opens = kwargs.pop("reasoning_open", None)
            splitter = ThinkSplitter(
                start_inside=model_opens_think(info) if opens is None else opens
            )
            body = _chat_body(plan.router_model, messages, stream, max_tokens, temperature, seed,
                              call.extra, kwargs)  # fmt: skip
            url = f"{call.api_base}/v1/chat/completions"
            chunks = _chat(http, url, body, splitter, call.exchange)
            async with aclosing(chunks):  # closing this stream closes the inner one now
                async for chunk in chunks:
                    yield chunk


def _router_base(base: str | None) -> str:
    resolved = router_url(base)
    check_api_base(resolved)
    return resolved


def _chat_body(
    model: str,
    messages: Messages,
    stream: bool,
    max_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    extra: Mapping[str, Any],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    for alias, name in _ALIASES.items():
        if alias in kwargs and name not in kwargs:
            kwargs[name] = kwargs.pop(alias)
    max_tokens = kwargs.pop("max_tokens", max_tokens)
    options = {k: kwargs.pop(k) for k in openai_chat.CHAT_PARAMETERS if k in kwargs}
    if kwargs:
        logger.debug("ignoring arguments the router's chat route does not use: %s", sorted(kwargs))
    return openai_chat.build_chat_request(
        model, messages, stream=stream, max_tokens=max_tokens, temperature=temperature,
        extra=extra, seed=seed, **options,
    )  # fmt: skip


def _not_served(exc: ValidationError, model: str) -> HFInferenceError:
    """The router's 400 "not supported by any provider you have enabled", made plain."""
    if "not supported by any provider" not in str(exc):
        return exc
    return ModelNotSupportedError(
        f"The router has no provider you enabled that serves {model} ({exc}). Enable one at "
        "https://huggingface.co/settings/inference-providers, name one with provider=..., or "
        "choose a model from HuggingFaceRouter.get_models().",
        model=model,
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
            "POST", url, json=body, stream=stream, model=body["model"], exchange=exchange
        ) as response:
            html_guard(response)
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
    http: HttpClient, response: aiohttp.ClientResponse, splitter: ThinkSplitter
) -> AsyncGenerator[Chunk, None]:
    state = openai_chat.ChatStream()
    parser = SSEParser()
    read, gap, url = response.content.readany, http.settings.timeouts.stream_gap, str(response.url)
    while True:
        try:
            data = await read()
        except Exception as exc:
            raise stream_failure(exc, url, gap, state.events, splitter.answer, "events") from exc
        try:
            payloads = parser.feed(data) if data else parser.close()
        except StreamError as exc:
            raise _with_answer(exc, splitter) from None
        for chunk in splitter.split(state.feed(payloads)) if payloads else ():
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


def _with_answer(error: StreamError, splitter: ThinkSplitter) -> StreamError:
    # The answer text the caller saw, without the reasoning split off from it.
    error.partial_text = splitter.answer
    return error


async def _generate_image(
    http: HttpClient,
    call: CallOptions,
    plan: Plan,
    prompt: str,
    seed: int | None,
    width: int | None,
    height: int | None,
    aspect_ratio: str | None,
) -> ImageResponse:
    assert plan.provider is not None and plan.provider_id is not None
    request = provider_images.image_request(
        plan.provider, plan.provider_id, prompt, seed=seed, width=width, height=height,
        aspect_ratio=aspect_ratio, extra=call.extra,
    )  # fmt: skip
    url = f"{call.api_base}{request.path}"
    headers = {"accept": "image/png"} if request.raw_image else None
    found: list[tuple[bytes, str]] = []
    sources: list[provider_images.ImageSource] = []
    async with http.open(
        "POST",
        url,
        json=request.payload,
        model=plan.router_model,
        headers=headers,
        exchange=call.exchange,
    ) as response:
        html_guard(response)
        if request.raw_image:
            found.append(await _image_body(http, response))
        else:
            sources = provider_images.image_sources(await http.read_json(response))
    # Downloads start once the answer is closed, so its connection is free for them.
    found += [await _fetch_source(http, source, call.api_base) for source in sources]
    options = {"seed": request.seed, "model": plan.router_model, "provider": plan.provider}
    urls = [images.image_response(body, kind, prompt).url for body, kind in found]
    return ImageResponse(urls, prompt, options)


async def _image_body(http: HttpClient, response: aiohttp.ClientResponse) -> tuple[bytes, str]:
    content_type = response.headers.get("content-type", "")
    body = await http.read_body(response)
    if not content_type.startswith("image/"):
        raise ResponseError(
            f"{response.url} answered {content_type or 'without a content type'} instead of "
            f"an image: {body[:200]!r}",
            status=response.status,
            body=body.decode("utf-8", errors="replace"),
            url=str(response.url),
        )
    return body, provider_images.sniff_media_type(body, content_type)


async def _fetch_source(
    http: HttpClient, source: provider_images.ImageSource, router: str
) -> tuple[bytes, str]:
    if source.kind == "base64":
        body = provider_images.decode_base64_image(source.value)
        return body, provider_images.sniff_media_type(body)
    if source.value.startswith("data:"):
        return decode_data_url(source.value)
    # The token goes to the router only, never to a provider's file host.
    same_host = urlsplit(source.value)[:2] == urlsplit(router)[:2]
    settings = http.settings if same_host else replace(http.settings, token=None, bill_to=None)
    downloader = http if same_host else HttpClient(settings, session=http.session())
    async with downloader.open("GET", source.value) as response:
        html_guard(response)
        return await _image_body(downloader, response)
