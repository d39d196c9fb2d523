"""The shape of one provider's task, pure: what to send and how to read the answer.

A builder is a small class: its ``provider`` and ``task``, the ``path`` below
the router base, and the ``payload``; the answer's images are read by
:meth:`TextToImage.answer`, which returns either the images or a :class:`Job`
to poll (a provider that queues the work). No I/O.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict
from urllib.parse import quote, urlsplit

from ...errors import InvalidRequestError, ResponseError
from .. import images

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "ImageKnobs",
    "ImageRequest",
    "ImageSettings",
    "ImageSource",
    "Job",
    "JobState",
    "TextToImage",
    "check_knobs",
    "decode_base64_image",
    "image_sources",
    "router_path",
    "sniff_media_type",
]


@dataclass(frozen=True)
class ImageRequest:
    """What to send: ``path`` below the router base, the JSON ``payload``, the
    seed used, whether the answer is the image itself (``raw_image``), and any
    ``headers`` the provider asks for."""

    path: str
    payload: dict[str, Any]
    seed: int
    raw_image: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


class ImageSettings(TypedDict, total=False):
    """The image settings a caller may name, as given (:func:`check_knobs` checks them)."""

    seed: int | None
    width: int | None
    height: int | None
    aspect_ratio: str | None
    negative_prompt: str | None
    steps: int | None
    guidance_scale: float | None


@dataclass(frozen=True)
class ImageKnobs:
    """The caller's image settings, checked: ``seed`` always set (drawn when not
    given), a size only when asked for (or implied by an aspect ratio)."""

    seed: int
    width: int | None = None
    height: int | None = None
    negative_prompt: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None

    @property
    def size(self) -> dict[str, int | None]:
        return {"width": self.width, "height": self.height}

    @property
    def size_text(self) -> str | None:
        """``"WxH"`` (OpenAI-style ``size``), when both sides are set."""
        return f"{self.width}x{self.height}" if self.width and self.height else None


@dataclass(frozen=True)
class Job:
    """Work a provider queued: GET ``status_path`` (below the router base) until
    :meth:`TextToImage.job_state` says done, then GET ``result_path`` when there
    is one (else the last status answer holds the result)."""

    status_path: str
    result_path: str | None = None


JobState = Literal["pending", "done"]


@dataclass(frozen=True)
class ImageSource:
    """One image of an answer: base64 ``data`` or an ``url`` to download."""

    kind: Literal["base64", "url"]
    value: str


class TextToImage:
    """One provider's text-to-image request (``provider`` names it).

    :meth:`request` does what every provider shares (the prompt and seed
    checks, the size from an aspect ratio, ``extra`` merged last); a provider
    writes :meth:`path` and :meth:`payload`, and :meth:`answer` (with
    :meth:`job_state`) when its answer is not one of the shapes
    :func:`image_sources` knows or is a job to poll.
    """

    provider: ClassVar[str] = ""
    task: ClassVar[str] = "text-to-image"
    #: The answer is the image's bytes, not JSON.
    raw_image: ClassVar[bool] = False
    #: Knobs the provider's API has no field for: refused, not sent into the void.
    unsupported: ClassVar[frozenset[str]] = frozenset()

    def path(self, provider_id: str) -> str:
        """The route below the router base (OpenAI's images route by default)."""
        return f"/{quote(self.provider, safe='')}/v1/images/generations"

    def payload(self, provider_id: str, prompt: str, knobs: ImageKnobs) -> dict[str, Any]:
        """The JSON body, before ``extra`` is merged; ``None`` values are dropped."""
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """Headers the provider wants on the request."""
        return {}

    def request(
        self,
        provider_id: str,
        prompt: str,
        *,
        extra: Mapping[str, Any] | None = None,
        **settings: Unpack[ImageSettings],
    ) -> ImageRequest:
        """The request for an image of ``prompt``; ``provider_id`` is the provider's
        own name for the model (the Hub mapping's ``providerId``), ``settings`` the
        ones :func:`check_knobs` takes (``seed``, ``width``...), ``extra`` more
        fields for the body. Raises :class:`~hfinfer.errors.InvalidRequestError`
        for an empty prompt, a seed out of ``[0, 2**32 - 1]``, a bad size, or a
        knob the provider lacks."""
        knobs = check_knobs(prompt, **settings)
        asked = {
            name
            for name in ("negative_prompt", "steps", "guidance_scale")
            if getattr(knobs, name) is not None
        }
        refused = sorted(asked & self.unsupported)
        if refused:
            raise InvalidRequestError(
                f"{self.provider} has no {', '.join(refused)} setting; leave it out "
                "(or pass the provider's own field in extra_body)"
            )
        body = {**self.payload(provider_id, prompt, knobs), **(extra or {})}
        payload = {k: v for k, v in body.items() if v is not None}
        return ImageRequest(
            self.path(provider_id), payload, knobs.seed, self.raw_image, self.headers()
        )

    def answer(self, body: Any) -> list[ImageSource] | Job:
        """The images of the provider's JSON answer, or the job to poll for them."""
        return image_sources(body)

    def job_state(self, body: Any) -> JobState:
        """Whether a polled job is done; raises when it failed."""
        raise ResponseError(f"{self.provider} sent no job to poll")


def check_knobs(
    prompt: str,
    *,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    aspect_ratio: str | None = None,
    negative_prompt: str | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
) -> ImageKnobs:
    """The settings every provider shares, checked (the seed route's rules)."""
    checked = images.image_payload(
        prompt, seed=seed, width=width, height=height, aspect_ratio=aspect_ratio
    )["parameters"]
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise InvalidRequestError(f"steps must be a positive integer, got {steps!r}")
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        raise InvalidRequestError("negative_prompt must be a string")
    if guidance_scale is not None and (
        isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float))
    ):
        raise InvalidRequestError(f"guidance_scale must be a number, got {guidance_scale!r}")
    return ImageKnobs(
        int(checked["seed"]), checked.get("width"), checked.get("height"),
        negative_prompt, steps, guidance_scale,
    )  # fmt: skip


def router_path(provider: str, url: str) -> str:
    """A provider's own URL (a job's status link) as a path below the router base:
    the router serves it at ``/{provider}{path}`` (query kept)."""
    split = urlsplit(url)
    query = f"?{split.query}" if split.query else ""
    prefix = "" if split.path.startswith(f"/{provider}/") else f"/{provider}"
    return f"{prefix}{split.path}{query}"


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
