"""``RouterModels``: the router's list of the models it serves now
(``GET {router}/v1/models``), cached in memory and on disk."""

from __future__ import annotations

import logging
from typing import Any

from ..config import ClientSettings, Timeouts, cache_dir, is_offline, router_url
from ..errors import HFInferenceError
from ..http.session import HttpClient
from ..hub.cache import DiskCache, TimedCache, single_flight
from ..hub.metadata import LIST_RETRY

__all__ = ["LIST_TIMEOUTS", "ROUTER_MODELS_TTL", "RouterModels"]

logger = logging.getLogger(__name__)

#: The model list is a convenience: ask quickly, and keep the answer ten minutes.
ROUTER_MODELS_TTL = 600.0
LIST_TIMEOUTS = Timeouts(connect=5.0, first_byte=15.0, stream_gap=15.0, total=20.0)


class RouterModels:
    """``GET {router}/v1/models``: the models served now, each with its providers
    (``status``, ``context_length``, ``pricing``, ``supports_tools``...).

    Cached per router base in memory and on disk (``HF_HUB_OFFLINE=1`` reads
    the disk alone); concurrent askers share one request.
    """

    def __init__(self, ttl: float = ROUTER_MODELS_TTL) -> None:
        self.ttl = ttl
        self._memory: TimedCache[list[dict[str, Any]]] = TimedCache(ttl)

    def clear(self) -> None:
        """Forget the answers kept in memory."""
        self._memory.clear()

    async def fetch(
        self,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        proxy: str | None = None,
        refresh: bool = False,
        strict: bool = False,
    ) -> list[dict[str, Any]]:
        """The router's entries (``[]`` when it cannot be reached: a list must not fail a
        call, unless ``strict``, which raises). ``refresh`` skips both caches."""
        base = router_url(api_base)
        hit = None if refresh else self._memory.get(base)
        if hit is not None:
            return hit
        try:
            entries = await self._cached(base, api_key, proxy, refresh)
        except HFInferenceError as exc:
            if strict:
                raise
            logger.warning("could not list the router's models (%s)", exc)
            return []
        self._memory.put(base, entries)
        return entries

    async def _cached(
        self, base: str, api_key: str | None, proxy: str | None, refresh: bool = False
    ) -> list[dict[str, Any]]:
        cache, url = DiskCache(cache_dir() / "router", self.ttl), f"{base}/v1/models"
        if is_offline():
            return await cache.get(url, ignore_expiry=True) or []

        async def fetch_and_store() -> list[dict[str, Any]]:
            value = None if refresh else await cache.get(url)
            if value is None:
                settings = ClientSettings.resolve(
                    api_key=api_key, proxy=proxy, timeout=LIST_TIMEOUTS
                )
                async with HttpClient(settings, retry=LIST_RETRY) as http:
                    answer = await http.get_json(url)
                data = answer.get("data") if isinstance(answer, dict) else None
                value = [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []
                await cache.put(url, value)
            return value

        return await single_flight(url, fetch_and_store)
