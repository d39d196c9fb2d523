"""The router's per-provider task routes, pure: one small request builder per
provider and task, in one table (:data:`PROVIDERS`, as huggingface_hub's
``PROVIDERS[provider][task]``). Adding a provider is one class here and its
recorded answer in the tests. No I/O.

Text-to-image: the providers the Hub routes it to today (fal-ai, hf-inference,
nscale, replicate, together, wavespeed, zai-org); providers it no longer routes
images to (:data:`RETIRED`) get a clear error. Embeddings (feature-extraction):
hf-inference, together, deepinfra, scaleway.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidRequestError
from .base import (
    ImageKnobs,
    ImageRequest,
    ImageSource,
    Job,
    JobState,
    TextToImage,
    decode_base64_image,
    image_sources,
    router_path,
    sniff_media_type,
)
from .embeddings import (
    EmbeddingAnswer,
    EmbeddingRequest,
    FeatureExtraction,
    HFInferenceEmbeddings,
    OpenAIEmbeddings,
    TEIEmbeddings,
    check_inputs,
)
from .fal_ai import FalImages
from .hf_inference import HFInferenceImages
from .nscale import NscaleImages
from .replicate import ReplicateImages
from .similarity import SentenceSimilarity, cosine
from .together import TogetherImages
from .wavespeed import WavespeedImages
from .zai_org import ZaiImages

__all__ = [
    "PROVIDERS",
    "RETIRED",
    "EmbeddingAnswer",
    "EmbeddingRequest",
    "FalImages",
    "FeatureExtraction",
    "HFInferenceEmbeddings",
    "ImageKnobs",
    "ImageRequest",
    "ImageSource",
    "Job",
    "JobState",
    "OpenAIEmbeddings",
    "SentenceSimilarity",
    "TEIEmbeddings",
    "TextToImage",
    "builder",
    "check_inputs",
    "cosine",
    "decode_base64_image",
    "feature_extraction",
    "image_sources",
    "router_path",
    "sniff_media_type",
    "speaks",
    "tasks_of",
    "text_to_image",
]

#: ``PROVIDERS[provider][task]``: the builder for one provider's task.
PROVIDERS: dict[str, dict[str, Any]] = {
    "deepinfra": {"feature-extraction": OpenAIEmbeddings("deepinfra", "/v1/openai/embeddings")},
    "fal-ai": {"text-to-image": FalImages()},
    "hf-inference": {
        "text-to-image": HFInferenceImages(),
        "feature-extraction": HFInferenceEmbeddings(),
        "sentence-similarity": SentenceSimilarity(),
    },
    "nscale": {"text-to-image": NscaleImages()},
    "replicate": {"text-to-image": ReplicateImages()},
    "scaleway": {"feature-extraction": OpenAIEmbeddings("scaleway")},
    "together": {
        "text-to-image": TogetherImages(),
        "feature-extraction": OpenAIEmbeddings("together"),
    },
    "wavespeed": {"text-to-image": WavespeedImages()},
    "zai-org": {"text-to-image": ZaiImages()},
}

#: Providers the Hub routed a task to once and no longer does (since July 2026).
RETIRED: dict[str, frozenset[str]] = {
    "text-to-image": frozenset({"black-forest-labs", "hyperbolic", "nebius", "novita"}),
}


def speaks(provider: str, task: str) -> bool:
    """Whether hfinfer has a builder for ``provider``'s ``task``."""
    return task in PROVIDERS.get(provider, {})


def tasks_of(provider: str) -> list[str]:
    """The tasks hfinfer speaks with ``provider``."""
    return sorted(PROVIDERS.get(provider, {}))


def builder(provider: str, task: str) -> Any:
    """The builder for ``provider``'s ``task``; a clear error when the Hub no
    longer routes the task there, or when hfinfer has no builder for it."""
    found = PROVIDERS.get(provider, {}).get(task)
    if found is not None:
        return found
    today = ", ".join(sorted(p for p, tasks in PROVIDERS.items() if task in tasks))
    if provider in RETIRED.get(task, ()):
        raise InvalidRequestError(
            f"The Hub no longer routes {task} to {provider}; the providers that serve it "
            f"today are {today}. Choose one with provider=..."
        )
    raise InvalidRequestError(
        f"hfinfer does not speak {task} with {provider!r} (it does with {today}); "
        "choose one of those with provider=..."
    )


def text_to_image(provider: str) -> TextToImage:
    """The text-to-image builder for ``provider`` (see :func:`builder`)."""
    found: TextToImage = builder(provider, "text-to-image")
    return found


def feature_extraction(provider: str) -> FeatureExtraction:
    """The embeddings builder for ``provider`` (see :func:`builder`)."""
    found: FeatureExtraction = builder(provider, "feature-extraction")
    return found
