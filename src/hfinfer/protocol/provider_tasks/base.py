"""The shape of one provider's task, pure: what to send and how to read the answer.

A builder is a small class: its ``provider`` and ``task``, the ``path`` below
the router base, and the ``payload``; the answer's images are read by
:func:`image_sources` unless the provider says otherwise. No I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from ...errors import ResponseError
from .. import images

__all__ = [
    "ImageRequest",
    "ImageSource",
    "TextToImage",
    "decode_base64_image",
    "image_sources",
    "sniff_media_type",
]


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


class TextToImage:
    """One provider's text-to-image request (``provider`` names it).

    :meth:`request` does what every provider shares (the prompt and seed
    checks, the size from an aspect ratio, ``extra`` merged last); a provider
    writes :meth:`path` and :meth:`payload`, and :meth:`sources` when its
    answer is not one of the shapes :func:`image_sources` knows.
    """

    provider: ClassVar[str] = ""
    task: ClassVar[str] = "text-to-image"
    #: The answer is the image's bytes, not JSON.
    raw_image: ClassVar[bool] = False

    def path(self, provider_id: str) -> str:
        """The route below the router base (OpenAI's images route by default)."""
        return f"/{quote(self.provider, safe='')}/v1/images/generations"

    def payload(
        self, provider_id: str, prompt: str, seed: int, size: Mapping[str, int | None]
    ) -> dict[str, Any]:
        """The JSON body, before ``extra`` is merged; ``None`` values are dropped."""
        raise NotImplementedError

    def request(
        self,
        provider_id: str,
        prompt: str,
        *,
        seed: int | None = None,
        width: int | None = None,
        height: int | None = None,
        aspect_ratio: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ImageRequest:
        """The request for an image of ``prompt``; ``provider_id`` is the provider's
        own name for the model (the Hub mapping's ``providerId``). Raises
        :class:`~hfinfer.errors.InvalidRequestError` for an empty prompt, a seed
        out of ``[0, 2**32 - 1]`` or a bad size."""
        checked = images.image_payload(
            prompt, seed=seed, width=width, height=height, aspect_ratio=aspect_ratio
        )["parameters"]
        chosen = int(checked["seed"])
        size = {"width": checked.get("width"), "height": checked.get("height")}
        body = {**self.payload(provider_id, prompt, chosen, size), **(extra or {})}
        payload = {k: v for k, v in body.items() if v is not None}
        return ImageRequest(self.path(provider_id), payload, chosen, self.raw_image)

    def sources(self, answer: Any) -> list[ImageSource]:
        """The images of the provider's JSON answer."""
        return image_sources(answer)


def image_sources(answer: Any) -> list[ImageSource]:
    """The images of a JSON answer, whichever of the known shapes it has
    (``{"data": [{"b64_json"} | {"url"}]}``, ``{"images": [{"image"} | {"url"}]}``).

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
