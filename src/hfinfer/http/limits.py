"""How large a non-streamed answer may be, per kind of answer, counted after
decompression: a 300 KiB gzip body can inflate to 300 MiB, and a hostile server
can send a model info of any size.

The limits are choices, read once per client from the environment:

- ``HFINFER_MAX_METADATA_BYTES`` (16 MiB): the Hub's model info lists every file
  of a repo; the largest public repos (tens of thousands of files) answer a few
  MiB, so 16 MiB leaves room without holding a hostile answer in memory.
- ``HFINFER_MAX_GENERATION_BYTES`` (32 MiB): a whole generation of 100,000 tokens
  is under 1 MiB of text; with per-token details (logprobs, top tokens) it stays
  well under 32 MiB.
- ``HFINFER_MAX_IMAGE_BYTES`` (64 MiB): a 4096 × 4096 RGBA image is 64 MiB even
  uncompressed; encoded PNG or JPEG answers are far smaller.

A body past its limit raises :class:`~hfinfer.errors.ResponseError` as soon as
the limit is passed (nothing more is read, nothing is cached); a declared
``Content-Length`` past it is refused before reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidRequestError, ResponseError

__all__ = ["BodyKind", "BodyLimits", "read_capped"]

BodyKind = Literal["metadata", "generation", "image"]
MiB = 1024 * 1024
_ENV = {
    "metadata": "HFINFER_MAX_METADATA_BYTES",
    "generation": "HFINFER_MAX_GENERATION_BYTES",
    "image": "HFINFER_MAX_IMAGE_BYTES",
}


@dataclass(frozen=True)
class BodyLimits:
    """The most bytes (after decompression) a whole answer of each kind may have."""

    metadata: int = 16 * MiB
    generation: int = 32 * MiB
    image: int = 64 * MiB

    @classmethod
    def from_env(cls) -> BodyLimits:
        """The defaults, overridden by ``HFINFER_MAX_*_BYTES`` (whole numbers of bytes)."""
        values: dict[str, int] = {}
        for kind, name in _ENV.items():
            raw = os.environ.get(name, "").strip()
            if raw:
                try:
                    values[kind] = int(raw)
                except ValueError:
                    raise InvalidRequestError(
                        f"{name} must be a number of bytes, got {raw!r}"
                    ) from None
        return cls(**values)

    def of(self, kind: BodyKind) -> int:
        limit: int = getattr(self, kind)
        return limit


def _too_large(url: str, kind: BodyKind, limit: int, status: int) -> ResponseError:
    return ResponseError(
        f"The {kind} answer from {url} is larger than {limit:,} bytes, the limit for "
        f"{kind} answers (raise it with {_ENV[kind]}); it was not read further.",
        status=status,
        url=url,
    )


async def read_capped(response: Any, kind: BodyKind, limit: int) -> bytes:
    """The whole (decompressed) body of ``response``, refused past ``limit`` bytes."""
    url = str(response.url)
    declared = response.content_length
    encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
    if declared is not None and declared > limit and not encoded:
        raise _too_large(url, kind, limit, response.status)
    parts: list[bytes] = []
    size = 0
    read = response.content.readany
    while chunk := await read():
        size += len(chunk)
        if size > limit:
            raise _too_large(url, kind, limit, response.status)
        parts.append(chunk)
    return b"".join(parts)
