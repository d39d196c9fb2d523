"""Generated images kept for a bounded time, for ``response_format: "url"``."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

__all__ = ["ImageStore"]

#: Memory the store may hold; the oldest images go first past it.
MAX_STORE_BYTES = 256 * 1024 * 1024


class ImageStore:
    """Image bytes by a random id, each kept ``ttl`` seconds."""

    def __init__(self, ttl: float, max_bytes: int = MAX_STORE_BYTES) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._images: OrderedDict[str, tuple[float, bytes, str]] = OrderedDict()
        self._size = 0

    def put(self, body: bytes, media_type: str) -> str:
        """Keep ``body``; its id (unguessable)."""
        self._expire()
        key = secrets.token_urlsafe(18)
        self._images[key] = (time.monotonic() + self.ttl, body, media_type)
        self._size += len(body)
        while self._size > self.max_bytes and len(self._images) > 1:
            self._drop_oldest()
        return key

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The image and its media type, or ``None`` once it expired."""
        self._expire()
        found = self._images.get(key)
        return None if found is None else (found[1], found[2])

    def _expire(self) -> None:
        now = time.monotonic()
        while self._images and next(iter(self._images.values()))[0] <= now:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, (_, body, _) = self._images.popitem(last=False)
        self._size -= len(body)
