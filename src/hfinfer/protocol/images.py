"""Text-to-image requests and answers (hf-inference's task route). No I/O."""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidRequestError
from ..types import ImageResponse

__all__ = [
    "ASPECT_RATIOS",
    "MAX_SEED",
    "image_payload",
    "image_response",
    "random_seed",
    "resolve_size",
]

#: Width x height for each aspect ratio (gpt4free's table, shared/spec/protocols.md §3).
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "16:9": (1024, 576),
    "9:16": (576, 1024),
    "4:3": (1024, 768),
    "3:4": (768, 1024),
    "3:2": (1024, 682),
    "2:3": (682, 1024),
    "21:9": (1024, 440),
    "9:21": (440, 1024),
    "4:5": (832, 1040),
    "5:4": (1040, 832),
    "2:1": (1024, 512),
    "1:2": (512, 1024),
}

MAX_SEED = 2**32 - 1


def random_seed() -> int:
    """A seed in the range every image backend accepts, ``[0, 2**32 - 1]``."""
    return random.randint(0, MAX_SEED)


def _ratio(aspect_ratio: str) -> tuple[int, int]:
    if aspect_ratio in ASPECT_RATIOS:
        return ASPECT_RATIOS[aspect_ratio]
    left, sep, right = aspect_ratio.partition(":")
    try:
        w, h = float(left), float(right)
    except ValueError:
        w = h = 0.0
    if not sep or w <= 0 or h <= 0:
        known = ", ".join(ASPECT_RATIOS)
        raise InvalidRequestError(
            f"aspect_ratio {aspect_ratio!r} is not W:H; use one of {known}"
        ) from None
    # An unlisted ratio: 1024 on the long side, like the table.
    return (1024, round(1024 * h / w)) if w >= h else (round(1024 * w / h), 1024)


def resolve_size(
    width: int | None, height: int | None, aspect_ratio: str | None
) -> tuple[int | None, int | None]:
    """Width and height from the arguments; a missing side comes from the aspect
    ratio (when one side is given, the other follows the ratio)."""
    for name, value in (("width", width), ("height", height)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise InvalidRequestError(f"{name} must be a positive integer, got {value!r}")
    if aspect_ratio is None or (width is not None and height is not None):
        return width, height
    table_w, table_h = _ratio(aspect_ratio)
    if width is None and height is None:
        return table_w, table_h
    if width is not None:
        return width, round(width * table_h / table_w)
    assert height is not None
    return round(height * table_w / table_h), height


def image_payload(
    prompt: str,
    *,
    seed: int | None = None,
    width: int | None = None,
    height: int | None = None,
    aspect_ratio: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"inputs": prompt, "parameters": {seed, width, height, **extra}}``, ``None``s left out."""
    if not prompt or not prompt.strip():
        raise InvalidRequestError("An image needs a prompt: pass prompt=... or a user message.")
    if seed is not None and not 0 <= int(seed) <= MAX_SEED:
        raise InvalidRequestError(f"seed must lie in [0, {MAX_SEED}], got {seed}")
    width, height = resolve_size(width, height, aspect_ratio)
    parameters: dict[str, Any] = {
        "seed": random_seed() if seed is None else int(seed),
        "width": width,
        "height": height,
        **(extra or {}),
    }
    return {"inputs": prompt, "parameters": {k: v for k, v in parameters.items() if v is not None}}


def image_response(
    body: bytes, content_type: str, prompt: str, options: Mapping[str, Any] | None = None
) -> ImageResponse:
    """An :class:`ImageResponse` holding the bytes as a base64 ``data:`` URL."""
    media_type = content_type.split(";", 1)[0].strip() or "image/png"
    url = f"data:{media_type};base64,{base64.b64encode(body).decode('ascii')}"
    return ImageResponse(url, prompt, dict(options or {}))
