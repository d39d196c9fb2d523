""":class:`AsyncClient`: one object for every call, each method a thin door to the
module that does its job (:mod:`.completions`, :mod:`.embeddings`, :mod:`.images`,
:mod:`.catalogue`, :mod:`.passthrough`) over the client's :class:`.Connection`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

from ..closing import AsyncClosing
from ..types import (
    EmbeddingResponse,
    ImageResponse,
    Messages,
    ModelInfo,
    RelayedResponse,
    RenderedPrompt,
    RouterModel,
)
from . import catalogue, passthrough
from .answers import ChatResponse
from .completions import send_chat, send_completion
from .connection import Connection
from .embeddings import embed_inputs, similarity_scores
from .images import draw_image
from .routing import Route
from .stream import ChatStream

__all__ = ["AsyncClient"]


class AsyncClient(AsyncClosing):
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
        options = {"api_key": api_key, "proxy": proxy, "max_retries": max_retries}
        self._conn = Connection(api_base, route, router_url, options)
        self.router_url = self._conn.router_url
        self.api_base = api_base

    @property
    def route(self) -> str:
        """``"router"``, ``"openai"`` or ``"tgi"``; ``"auto"`` until a server of the
        user's own has said which protocol it speaks."""
        return self._conn.route

    @route.setter
    def route(self, route: str) -> None:
        self._conn.route = route

    def __repr__(self) -> str:
        return f"AsyncClient(route={self.route!r}, provider={self._conn.provider!r})"

    async def __aenter__(self) -> AsyncClient:
        await self._conn.open()
        return self

    async def aclose(self) -> None:
        """Close the connection pool (when the client was opened with ``async with``)."""
        await self._conn.aclose()

    async def dataset_parquet_files(
        self, repo: str, *, config: str = "default", split: str = "train"
    ) -> list[str]:
        """The URLs of a Hub dataset split's Parquet files (the Hub's parquet listing)."""
        return await passthrough.dataset_parquet_urls(self._conn, repo, config, split)

    async def download_file(self, url: str, target: str | Path) -> Path:
        """Download ``url`` (or an ``hf://datasets/...`` path) into the file ``target``."""
        return await passthrough.download_to(self._conn, url, target)

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
        return await send_chat(self._conn, model, messages, stream=stream, **kwargs)

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
        return await draw_image(
            self._conn, model, prompt, provider=provider, negative_prompt=negative_prompt,
            steps=steps, seed=seed, width=width, height=height, aspect_ratio=aspect_ratio,
            **options,
        )  # fmt: skip

    async def embed(
        self, model: str, inputs: str | Sequence[str], *, provider: str | None = None,
        dimensions: int | None = None, encoding_format: str | None = None, **options: Any,
    ) -> EmbeddingResponse:  # fmt: skip
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
        options.update(dimensions=dimensions, encoding_format=encoding_format)
        return await embed_inputs(self._conn, model, inputs, provider, options)

    async def similarity(
        self, model: str, sentence: str, others: Sequence[str], *, provider: str | None = None,
        **options: Any,
    ) -> list[float]:  # fmt: skip
        """How close each of ``others`` is to ``sentence``: one score per sentence, in
        order. Through the router, hf-inference's sentence-similarity pipeline when
        the model's mapping has it; otherwise (another provider, or a server of
        your own) the cosine similarity of the model's embeddings."""
        return await similarity_scores(self._conn, model, sentence, others, provider, options)

    async def model_info(self, model: str) -> ModelInfo:
        """What the Hub says of ``model`` for inference: its pipeline tag, the tasks
        and providers of its mapping (status, provider id), and which of those
        hfinfer speaks. Raises :class:`~hfinfer.errors.ModelNotFoundError` for a
        model the Hub does not have."""
        return await catalogue.model_info_of(self._conn, model)

    async def models(self, *, refresh: bool = False) -> list[RouterModel]:
        """The router's catalogue (``GET {router}/v1/models``): each model served now,
        with its providers, prices and context lengths. Cached ten minutes (memory
        and disk); ``refresh=True`` asks again. Raises when the router cannot answer."""
        return await catalogue.router_models(self._conn, refresh=refresh)

    async def hub_models(
        self, task: str, *, search: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Models of ``task`` (a ``pipeline_tag`` such as ``"text-to-image"``) that an
        Inference Provider serves, most trending first, as the Hub lists them (``id``,
        ``pipeline_tag``, ``inferenceProviderMapping``); ``search`` filters the ids.
        The router's catalogue (:meth:`models`) covers chat models only."""
        return await catalogue.hub_models_for_task(self._conn, task, search=search, limit=limit)

    async def render_prompt(
        self, model: str, messages: Messages | str, **options: Any
    ) -> RenderedPrompt:
        """The exact prompt the text-generation route would send for ``messages``
        (the model's chat template, else its family's format), and what built it.
        Options: ``action="continue"`` (end inside the last message), ``tools``."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return await (await self._conn.text_route()).render_prompt(model, messages, **options)

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
        return await send_completion(self._conn, model, prompt, stream=stream, **kwargs)

    async def relay_responses(
        self, body: dict[str, Any], *, api_key: str | None = None, bill_to: str | None = None
    ) -> RelayedResponse:
        """Send a Responses API body (``POST /v1/responses``) to the router as it is.

        Only the router serves that API; a client of another route raises
        :class:`~hfinfer.errors.InvalidRequestError`. Returns the router's
        answer as bytes (:class:`~hfinfer.types.RelayedResponse`),
        once its head arrived; errors are hfinfer's usual ones.
        """
        return await passthrough.relay_to_router(self._conn, body, api_key=api_key, bill_to=bill_to)
