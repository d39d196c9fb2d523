"""One connection pool for the calls made without an instance that run at the same
time with the same settings.

A call on the class (``HuggingFaceInference.create_async_generator(...)`` with no
``async with``) needs a pool of its own, and an aiohttp session and connector cost
about 7 KiB per call: 512 such streams at once held 3.5 MiB more than 512 streams of
one instance. Overlapping calls with equal settings share one
:class:`~hfinfer.http.session.HttpClient` instead; the last one to finish closes
it, so nothing outlives the calls (a call alone still opens and closes its own).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from ..config import ClientSettings
from .retry import RetryPolicy
from .session import HttpClient

__all__ = ["call_pool"]


class _Shared:
    __slots__ = ("client", "users")

    def __init__(self, client: HttpClient) -> None:
        self.client = client
        self.users = 0


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, _Shared]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def call_pool(
    settings: ClientSettings, retry: RetryPolicy | None = None
) -> AsyncIterator[HttpClient]:
    """The client for one call: shared with the calls running now in this loop with
    equal ``settings`` and ``retry``, closed when the last of them ends."""
    pools = _POOLS.setdefault(asyncio.get_running_loop(), {})
    key = _key(settings, retry)
    shared = pools.get(key) if key is not None else None
    if shared is None or shared.client.closed:
        shared = _Shared(HttpClient(settings, retry=retry))
        if key is not None:
            pools[key] = shared
    shared.users += 1
    try:
        yield shared.client
    finally:
        shared.users -= 1
        if not shared.users:
            if key is not None and pools.get(key) is shared:
                del pools[key]
            await shared.client.aclose()


def _key(settings: ClientSettings, retry: RetryPolicy | None) -> Hashable | None:
    """What makes two calls' clients interchangeable (``None``: not comparable,
    so not shared)."""
    try:
        key = (settings, retry)
        hash(key)
    except TypeError:
        return None
    return key
