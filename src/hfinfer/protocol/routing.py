"""Which route serves a call, pure, in one place. No I/O.

:func:`decide_route` reads the base URL and the route the caller named:
Hugging Face's router, its text-generation route, an Inference Endpoint, or
a server of the user's own (whose protocol, when not named, is asked of it
once: see :mod:`hfinfer.providers.discovery`).

:func:`plan_route` reads the Hub's ``inferenceProviderMapping`` for a model
and the ``provider``/``model:suffix`` the caller asked for, and says whether
the call is a chat (the router's OpenAI route picks the provider) or an
image from one mapped provider, failing early, with the list of providers,
when none serves it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from ..errors import InvalidRequestError, ModelNotSupportedError
from ..hosts import check_base_url, is_hf_endpoint, is_hf_host, server_base
from .provider_tasks import RETIRED, speaks

__all__ = [
    "EMBEDDING_TASKS",
    "POLICIES",
    "ROUTE_NAMES",
    "Plan",
    "Route",
    "decide_route",
    "is_url",
    "plan_embeddings",
    "plan_route",
    "provider_choice",
    "split_model",
]

logger = logging.getLogger(__name__)

#: The router's provider-selection policies (``model:policy``); its default is fastest.
POLICIES = frozenset({"fastest", "cheapest", "preferred"})
_CHAT_TASKS = frozenset({"conversational"})
_IMAGE_TASKS = frozenset({"text-to-image"})
#: The routes a caller can name (``auto``/``None``: decided from the base URL).
ROUTE_NAMES = ("auto", "router", "openai", "tgi")


_SUFFIX = re.compile(r"[a-z0-9-]+")


def split_model(model: str) -> tuple[str, str | None]:
    """``"org/name:together"`` → ``("org/name", "together")``; no suffix → ``None``.

    Only a provider or policy name (``[a-z0-9-]+``) after the last ``:`` is a
    suffix, and a URL is never split (``http://127.0.0.1:9`` is not ``:9``)."""
    if is_url(model):
        return model, None
    name, sep, suffix = model.rpartition(":")
    suffix = suffix.strip()
    if not (sep and name) or (suffix and not _SUFFIX.fullmatch(suffix)):
        return model, None
    return name, suffix or None


def is_url(model: str) -> bool:
    """Whether a model name is an ``http(s)://`` URL (a server, not a Hub id)."""
    return model.strip().lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class Plan:
    """Where a call goes: ``kind`` is ``"chat"`` or ``"image"``; ``router_model`` is
    the id sent to the chat route; ``provider``/``provider_id`` name the mapped
    provider and its id for the model (``None`` when the router chooses)."""

    kind: str
    router_model: str
    provider: str | None = None
    provider_id: str | None = None


def _entries(mapping: Any) -> dict[str, dict[str, Any]]:
    # A dict keyed by provider for one model; a list of {"provider", ...} in listings.
    if isinstance(mapping, list):
        mapping = {e.get("provider"): e for e in mapping if isinstance(e, dict)}
    if not isinstance(mapping, dict):
        return {}
    return {str(k): v for k, v in mapping.items() if isinstance(v, dict)}


def _describe(entries: Mapping[str, Mapping[str, Any]]) -> str:
    if not entries:
        return "none"
    return ", ".join(
        f"{name} ({e.get('task', '?')}, {e.get('status', '?')})" for name, e in entries.items()
    )


def plan_route(model: str, choice: str | None, mapping: Any, task: str | None = None) -> Plan:
    """Decide the route from the Hub's provider mapping (``None``: unknown, trust the
    router). ``choice`` is a provider name, a policy, or ``None``; ``task`` the
    model's ``pipeline_tag`` when the Hub told it.

    Raises :class:`ModelNotSupportedError` naming the providers that do serve
    the model when none does, when the requested provider does not, or when
    they serve it only for a task other than chat or text-to-image; and for an
    image model that no provider serves (it must not go to the chat route).
    """
    routed = f"{model}:{choice}" if choice else model
    if mapping is None and task in _IMAGE_TASKS:
        raise ModelNotSupportedError(
            f"{model} is a {task} model and no Inference Provider serves it now. "
            "Pick another model, or run it on a dedicated endpoint.",
            model=model,
            pipeline_tag=task,
        )
    if mapping is None:
        return Plan("chat", routed)
    entries = _entries(mapping)
    if choice and choice not in POLICIES:
        entry = entries.get(choice)
        if entry is None:
            raise ModelNotSupportedError(
                f"Provider {choice!r} does not serve {model}. Providers that do: "
                f"{_describe(entries)}. Pick one with provider=..., or leave it to the router.",
                model=model,
            )
        if entry.get("status") not in (None, "live"):
            logger.warning("%s serves %s in %s status", choice, model, entry.get("status"))
        candidates = {choice: entry}
    else:
        candidates = {n: e for n, e in entries.items() if e.get("status") in (None, "live")}
    if not candidates:
        kind = f" ({task})" if task else ""
        raise ModelNotSupportedError(
            f"No Inference Provider serves {model}{kind} now (providers listed: "
            f"{_describe(entries)}). "
            "Choose a model from HuggingFaceRouter.get_models(), or run it on a dedicated "
            "endpoint with HuggingFaceInference(api_base=...).",
            model=model,
            pipeline_tag=task,
        )
    return _plan_for_task(model, routed, choice, candidates)


def _plan_for_task(
    model: str, routed: str, choice: str | None, candidates: Mapping[str, Mapping[str, Any]]
) -> Plan:
    if any(e.get("task") in _CHAT_TASKS for e in candidates.values()):
        return Plan("chat", routed)
    for name, entry in candidates.items():
        task = entry.get("task")
        usable = choice == name or speaks(name, str(task))
        if task in _IMAGE_TASKS and usable:
            return Plan("image", model, name, str(entry.get("providerId") or model))
    tasks = sorted({str(e.get("task")) for e in candidates.values()})
    gone = sorted(
        name
        for name, entry in candidates.items()
        if entry.get("task") in _IMAGE_TASKS and name in RETIRED["text-to-image"]
    )
    if gone:
        raise ModelNotSupportedError(
            f"{model} is mapped to {', '.join(gone)} for text-to-image, where the Hub no longer "
            "routes images; no provider hfinfer speaks serves it. Choose another model.",
            model=model,
            pipeline_tag="text-to-image",
        )
    raise ModelNotSupportedError(
        f"{model} is served by {_describe(candidates)}: not for chat (conversational) nor for "
        "an image route hfinfer speaks. A text-generation-only model needs a text-generation "
        "endpoint: HuggingFaceInference(api_base=...).",
        model=model,
        pipeline_tag=tasks[0] if tasks else None,
    )


def provider_choice(suffix: str | None, provider: Any) -> str | None:
    """The provider or policy asked for, by ``model:suffix`` or ``provider=`` (``"auto"``
    and ``None`` leave it to the router); both given and different is an error."""
    if provider is not None and not isinstance(provider, str):
        raise InvalidRequestError(f"provider must be a string, got {type(provider).__name__}")
    provider = provider.strip() if provider else None
    if provider == "auto":
        provider = None
    if suffix and provider and suffix != provider:
        raise InvalidRequestError(
            f"The model names provider {suffix!r} and provider={provider!r} names another; "
            "give one of them."
        )
    return suffix or provider


#: The mapping's task names a model is embedded under (sentence-transformers
#: models are often listed for sentence-similarity; both serve vectors).
EMBEDDING_TASKS = frozenset({"feature-extraction", "sentence-similarity"})


def plan_embeddings(model: str, choice: str | None, mapping: Any) -> Plan:
    """Which provider embeds ``model``: the one asked for, else the first live one in
    the Hub's mapping (its order is the account's preference order) that hfinfer
    speaks; a policy (``:fastest``...) takes that same first one, since the router
    ranks providers for chat only. Unknown mapping (``None``): hf-inference, or
    the provider asked for, with the model's own id.

    Raises :class:`ModelNotSupportedError` naming the providers that serve the
    model when none embeds it.
    """
    if choice in POLICIES:
        choice = None
    if mapping is None:
        return Plan("embeddings", model, choice or "hf-inference", model)
    entries = {
        name: entry
        for name, entry in _entries(mapping).items()
        if entry.get("task") in EMBEDDING_TASKS
    }
    if choice:
        entry = entries.get(choice)
        if entry is None:
            raise ModelNotSupportedError(
                f"Provider {choice!r} does not embed {model}. Providers that do: "
                f"{_describe(entries)} (all: {_describe(_entries(mapping))}).",
                model=model,
            )
        return Plan("embeddings", model, choice, str(entry.get("providerId") or model))
    for name, entry in entries.items():
        if entry.get("status") in (None, "live") and speaks(name, "feature-extraction"):
            return Plan("embeddings", model, name, str(entry.get("providerId") or model))
    raise ModelNotSupportedError(
        f"No provider hfinfer speaks embeds {model} now (providers listed: "
        f"{_describe(_entries(mapping))}). Run it on a text-embeddings-inference server "
        "of your own: AsyncClient(api_base=..., route='tgi').",
        model=model,
        pipeline_tag="feature-extraction",
    )


# -- which server, which protocol ---------------------------------------------------


Kind = Literal["router", "hf-inference", "endpoint", "own"]


@dataclass(frozen=True)
class Route:
    """Where a call goes.

    ``kind``: ``"router"`` (Hugging Face's router: provider mapping,
    ``:provider`` suffixes), ``"hf-inference"`` (the router's or a configured
    text-generation base, ``POST {base}/models/{id}``), ``"endpoint"`` (an
    Inference Endpoint: Hugging Face's host, one model), ``"own"`` (any other
    server). ``protocol``: ``"openai"``, ``"tgi"``, or ``None`` when it must be
    found out from the server. ``hf``: Hugging Face's host (the HF token goes
    there). ``base``: the base URL, without a trailing ``/v1``.
    """

    kind: Kind
    protocol: Literal["openai", "tgi"] | None
    base: str
    hf: bool

    @property
    def name(self) -> str:
        """What a response reports: ``"router"``, ``"openai"``, ``"tgi"`` (or ``"auto"``)."""
        if self.kind == "router":
            return "router"
        return self.protocol or "auto"


def decide_route(
    api_base: str | None,
    route: str | None,
    *,
    router: str,
    inference_base: str,
    trusted: Iterable[str] = (),
) -> Route:
    """The one place that decides where a call goes.

    ``api_base``: the caller's base URL (``None``: the router). ``route``:
    ``None``/``"auto"``, ``"router"``, ``"openai"`` or ``"tgi"``. ``router``:
    the configured router URL; ``inference_base``: the configured
    text-generation base (used by ``route="tgi"`` without ``api_base``; trusted
    as Hugging Face's only when it is on a Hugging Face domain or the router's or
    a ``trusted`` origin); ``trusted``: URLs whose origin counts as Hugging
    Face's (the Hub).
    Raises :class:`InvalidRequestError` for an unknown route name.
    """
    if route is None:
        route = "auto"
    if route not in ROUTE_NAMES:
        raise InvalidRequestError(
            f"route must be one of {', '.join(ROUTE_NAMES)} (or None), got {route!r}"
        )
    # The configured text-generation base (HFINFER_API_BASE) may be a server of the
    # user's own: it is Hugging Face's only on its domains or the Hub's/router's origin,
    # as ClientSettings.credential_for sees it, so route and credentials agree.
    hf_origins = (router, *trusted)
    if api_base is None:
        if route == "tgi":
            if not is_hf_host(inference_base, hf_origins):
                return Route("own", "tgi", server_base(inference_base), False)
            return Route("hf-inference", "tgi", inference_base.rstrip("/"), True)
        return Route("router", "openai", server_base(router), True)
    given = check_base_url(api_base).strip().rstrip("/")
    base = server_base(given)
    if base == server_base(router) or urlsplit(base).hostname == "router.huggingface.co":
        if given.startswith(server_base(router) + "/") and base != server_base(router):
            # A route below the router (``/hf-inference``): text generation by model id.
            return Route("hf-inference", "openai" if route == "openai" else "tgi", base, True)
        if route == "tgi":
            return Route("hf-inference", "tgi", base, True)
        return Route("router", "openai", base, True)
    if is_hf_endpoint(base):
        return Route("endpoint", _named(route), base, True)
    if is_hf_host(base, hf_origins):
        # A configured Hugging Face base (a mirror, HFINFER_API_BASE): the seed's
        # text-generation route by model id, unless the caller names the OpenAI one.
        if route in ("router", "openai"):
            return Route("router", "openai", base, True)
        return Route("hf-inference", "tgi", given, True)
    return Route("own", _named(route), base, False)


def _named(route: str) -> Literal["openai", "tgi"] | None:
    if route == "tgi":
        return "tgi"
    return "openai" if route in ("router", "openai") else None
