"""The router's per-provider routes, pure: which route serves a call, and images. No I/O.

:func:`plan_route` reads the Hub's ``inferenceProviderMapping`` for a model
and the ``provider``/``model:suffix`` the caller asked for, and says whether
the call is a chat (the router's OpenAI route picks the provider) or an
image from one mapped provider, failing early, with the list of providers,
when none serves it.

For images, each provider keeps its own API behind ``{router}/{provider}/...``.
The shapes below are the ones recorded from the live router (huggingface_hub's
cassettes ``test_text_to_image_default[<provider>,text-to-image]``):

- ``hf-inference``: ``POST /hf-inference/models/{id}``, TGI-style
  ``{"inputs", "parameters"}``; the answer is the image bytes.
- ``together``: ``POST /together/v1/images/generations`` with
  ``response_format: "base64"`` (Together's word; the recording sends it,
  not ``b64_json``); answers ``{"data": [{"b64_json"}]}``.
- ``nebius`` and other OpenAI-style providers: ``.../v1/images/generations``
  with ``response_format: "b64_json"``; answers ``{"data": [{"b64_json"} | {"url"}]}``.
- ``hyperbolic``: the model goes in ``model_name`` (``model`` is rejected
  with a 422, recorded too); answers ``{"images": [{"image": <base64>}]}``.
- ``fal-ai``: ``POST /fal-ai/{providerId}`` with ``image_size``; answers
  ``{"images": [{"url", "content_type"}]}``, an URL to download.

Providers that answer with a job to poll (replicate, black-forest-labs,
wavespeed) are not supported yet: :data:`POLLING_PROVIDERS`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from ..errors import InvalidRequestError, ModelNotSupportedError, ResponseError
from . import images

__all__ = [
    "POLICIES",
    "POLLING_PROVIDERS",
    "ImageRequest",
    "ImageSource",
    "Plan",
    "decode_base64_image",
    "image_request",
    "image_sources",
    "plan_route",
    "provider_choice",
    "sniff_media_type",
    "split_model",
]

logger = logging.getLogger(__name__)

#: The router's provider-selection policies (``model:policy``); its default is fastest.
POLICIES = frozenset({"fastest", "cheapest", "preferred"})
_CHAT_TASKS = frozenset({"conversational"})
_IMAGE_TASKS = frozenset({"text-to-image"})
#: Providers whose image API queues a job and must be polled: not spoken here.
POLLING_PROVIDERS = frozenset({"replicate", "black-forest-labs", "wavespeed"})


# -- which route serves a call ---------------------------------------------------


def split_model(model: str) -> tuple[str, str | None]:
    """``"org/name:together"`` → ``("org/name", "together")``; no suffix → ``None``."""
    name, sep, suffix = model.rpartition(":")
    return (name, suffix.strip() or None) if sep and name else (model, None)


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


def plan_route(model: str, choice: str | None, mapping: Any) -> Plan:
    """Decide the route from the Hub's provider mapping (``None``: unknown, trust the
    router). ``choice`` is a provider name, a policy, or ``None``.

    Raises :class:`ModelNotSupportedError` naming the providers that do serve
    the model when none does, when the requested provider does not, or when
    they serve it only for a task other than chat or text-to-image.
    """
    routed = f"{model}:{choice}" if choice else model
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
        raise ModelNotSupportedError(
            f"No Inference Provider serves {model} now (providers listed: {_describe(entries)}). "
            "Choose a model from HuggingFaceRouter.get_models(), or run it on a dedicated "
            "endpoint with HuggingFaceInference(api_base=...).",
            model=model,
        )
    return _plan_for_task(model, routed, choice, candidates)


def _plan_for_task(
    model: str, routed: str, choice: str | None, candidates: Mapping[str, Mapping[str, Any]]
) -> Plan:
    if any(e.get("task") in _CHAT_TASKS for e in candidates.values()):
        return Plan("chat", routed)
    for name, entry in candidates.items():
        usable = name not in POLLING_PROVIDERS or choice == name
        if entry.get("task") in _IMAGE_TASKS and usable:
            return Plan("image", model, name, str(entry.get("providerId") or model))
    tasks = sorted({str(e.get("task")) for e in candidates.values()})
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


# -- image requests and answers ----------------------------------------------------


@dataclass(frozen=True)
class ImageRequest:
    """What to send: ``path`` below the router base, the JSON ``payload``, the
    seed used, and whether the answer is the image itself (``raw_image``)."""

    path: str
    payload: dict[str, Any]
    seed: int
    raw_image: bool = False


@dataclass(frozen=True)
class ImageSource:
    """One image of an answer: base64 ``data`` or an ``url`` to download."""

    kind: Literal["base64", "url"]
    value: str


def _drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


def image_request(
    provider: str,
    provider_id: str,
    prompt: str,
    *,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    aspect_ratio: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ImageRequest:
    """The request that asks ``provider`` for an image of ``prompt``.

    ``provider_id`` is the provider's own name for the model (the Hub
    mapping's ``providerId``). ``extra`` is merged into the payload last
    (into ``parameters`` for hf-inference). Raises :class:`InvalidRequestError`
    for an empty prompt, a seed out of ``[0, 2**32 - 1]``, a bad size, or a
    provider that is only reachable by polling.
    """
    if provider in POLLING_PROVIDERS:
        raise InvalidRequestError(
            f"{provider} answers image requests with a job to poll, which hfinfer does not "
            "speak yet; choose another provider with provider=..."
        )
    # The seed route's checks and defaults (prompt, seed range, size from aspect ratio).
    base = images.image_payload(
        prompt, seed=seed, width=width, height=height, aspect_ratio=aspect_ratio
    )
    chosen_seed = int(base["parameters"]["seed"])
    size = {"width": base["parameters"].get("width"), "height": base["parameters"].get("height")}
    quoted = quote(provider_id, safe="/:")
    if provider == "hf-inference":
        base["parameters"].update(extra or {})
        return ImageRequest(f"/hf-inference/models/{quoted}", base, chosen_seed, raw_image=True)
    if provider == "fal-ai":
        image_size = size if size["width"] and size["height"] else None
        payload = {"prompt": prompt, "image_size": image_size, "seed": chosen_seed}
        return ImageRequest(
            f"/fal-ai/{quoted}", _drop_none({**payload, **(extra or {})}), chosen_seed
        )
    if provider == "hyperbolic":
        payload = {"prompt": prompt, "model_name": provider_id, **size, "seed": chosen_seed}
    else:
        response_format = "base64" if provider == "together" else "b64_json"
        payload = {
            "prompt": prompt,
            "model": provider_id,
            **size,
            "seed": chosen_seed,
            "response_format": response_format,
        }
    path = f"/{quote(provider, safe='')}/v1/images/generations"
    return ImageRequest(path, _drop_none({**payload, **(extra or {})}), chosen_seed)


def image_sources(answer: Any) -> list[ImageSource]:
    """The images of a JSON answer, whichever of the known shapes it has.

    Raises :class:`ResponseError` when it holds none (the provider's message
    is quoted when there is one).
    """
    items: list[Any] = []
    if isinstance(answer, Mapping):
        for key in ("data", "images"):
            if isinstance(answer.get(key), list):
                items.extend(answer[key])
    sources = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        encoded = item.get("b64_json") or item.get("image")
        if isinstance(encoded, str) and encoded:
            sources.append(ImageSource("base64", encoded))
        elif isinstance(item.get("url"), str) and item["url"]:
            sources.append(ImageSource("url", item["url"]))
    if not sources:
        raise ResponseError(f"The provider's answer holds no image: {str(answer)[:200]}")
    return sources


def decode_base64_image(encoded: str) -> bytes:
    """The bytes of a base64 image (a ``data:`` URL's payload is accepted too)."""
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ResponseError(f"The provider sent an image that is not valid base64: {exc}") from exc


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_media_type(body: bytes, fallback: str = "image/png") -> str:
    """The media type the image's first bytes announce. Providers' labels are not
    trusted: fal says ``image/jpeg`` for PNG files, nebius sends WebP unannounced."""
    for magic, media_type in _MAGIC:
        if body.startswith(magic):
            return media_type
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return fallback.split(";", 1)[0].strip() or "image/png"
