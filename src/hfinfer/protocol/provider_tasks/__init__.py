"""The router's per-provider task routes, pure: one small request builder per
provider and task, in one table (:data:`PROVIDERS`, as huggingface_hub's
``PROVIDERS[provider][task]``). Adding a provider is one class here and its
recorded answer in the tests. No I/O.

Providers that answer with a job to poll (replicate, black-forest-labs,
wavespeed) are not spoken yet: :data:`POLLING_PROVIDERS`. A provider without a
builder of its own is asked with OpenAI's images route.
"""

from __future__ import annotations

from ...errors import InvalidRequestError
from .base import (
    ImageRequest,
    ImageSource,
    TextToImage,
    decode_base64_image,
    image_sources,
    sniff_media_type,
)
from .fal_ai import FalImages
from .hf_inference import HFInferenceImages
from .hyperbolic import HyperbolicImages
from .openai_images import OpenAIImages
from .together import TogetherImages

__all__ = [
    "POLLING_PROVIDERS",
    "PROVIDERS",
    "ImageRequest",
    "ImageSource",
    "TextToImage",
    "decode_base64_image",
    "image_sources",
    "sniff_media_type",
    "speaks",
    "text_to_image",
]

#: ``PROVIDERS[provider][task]``: the builder for one provider's task.
PROVIDERS: dict[str, dict[str, TextToImage]] = {
    "fal-ai": {"text-to-image": FalImages()},
    "hf-inference": {"text-to-image": HFInferenceImages()},
    "hyperbolic": {"text-to-image": HyperbolicImages()},
    "nebius": {"text-to-image": OpenAIImages("nebius")},
    "together": {"text-to-image": TogetherImages()},
}

#: Providers whose image API queues a job and must be polled: not spoken here.
POLLING_PROVIDERS = frozenset({"replicate", "black-forest-labs", "wavespeed"})


def speaks(provider: str, task: str) -> bool:
    """Whether hfinfer can ask ``provider`` for ``task`` (unknown providers are
    tried with OpenAI's images route)."""
    if provider in POLLING_PROVIDERS:
        return False
    return task in PROVIDERS.get(provider, {"text-to-image": OpenAIImages(provider)})


def text_to_image(provider: str) -> TextToImage:
    """The text-to-image builder for ``provider``; raises
    :class:`~hfinfer.errors.InvalidRequestError` for one only reachable by polling."""
    if provider in POLLING_PROVIDERS:
        raise InvalidRequestError(
            f"{provider} answers image requests with a job to poll, which hfinfer does not "
            "speak yet; choose another provider with provider=..."
        )
    return PROVIDERS.get(provider, {}).get("text-to-image") or OpenAIImages(provider)
