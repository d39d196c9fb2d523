"""Questions to the Hub: model info, model lists, repo files (chat templates).

Answers are cached on disk with an expiry; ``HF_HUB_OFFLINE=1`` answers from
the cache alone. Concurrent questions about one model share one request.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from ..config import cache_dir, is_offline
from ..errors import AuthenticationError, HFInferenceError, ModelNotFoundError, OfflineCacheMiss
from ..http.retry import RetryPolicy
from ..http.session import HttpClient
from .cache import DEFAULT_TTL, DiskCache, single_flight

__all__ = ["Hub", "OfflineCacheMiss"]

logger = logging.getLogger(__name__)

#: Model lists are a convenience: ask quickly, retry once, and fall back.
LIST_RETRY = RetryPolicy(max_retries=1, backoff_base=0.2, backoff_cap=1.0, max_wait=2.0)


def _repo_path(model: str) -> str:
    return quote(model, safe="/")


class Hub:
    """The Hub API at ``http.settings.hub_endpoint``, through ``http``."""

    def __init__(self, http: HttpClient, *, ttl: float = DEFAULT_TTL) -> None:
        self.http = http
        self.endpoint = http.settings.hub_endpoint
        self.cache = DiskCache(cache_dir() / "hub", ttl)
        self.offline = is_offline()

    async def _cached(self, key: str, fetch: Any) -> Any:
        cache_key = f"{self.endpoint}|{key}"
        if self.offline:
            value = await self.cache.get(cache_key, ignore_expiry=True)
            if value is None:
                raise OfflineCacheMiss(
                    f"HF_HUB_OFFLINE is set and {key} is not in hfinfer's cache "
                    f"({self.cache.directory}); unset it to ask the Hub."
                )
            return value

        async def fetch_and_store() -> Any:
            value = await self.cache.get(cache_key)
            if value is None:
                value = await fetch()
                await self.cache.put(cache_key, value)
            return value

        return await single_flight(cache_key, fetch_and_store)

    async def model_info(self, model: str, *, expand: list[str] | None = None) -> dict[str, Any]:
        """``GET /api/models/{model}`` (optionally ``?expand[]=...``), cached.

        Raises :class:`ModelNotFoundError` naming the model when the Hub has no
        such repo, :class:`AuthenticationError` for a gated or private one.
        """
        params = [("expand[]", name) for name in expand] if expand else None
        key = f"model_info|{model}|{','.join(expand or [])}"
        url = f"{self.endpoint}/api/models/{_repo_path(model)}"

        async def fetch() -> Any:
            try:
                return await self.http.get_json(url, params=params, model=model)
            except ModelNotFoundError as exc:
                raise ModelNotFoundError(
                    f"Model {model!r} does not exist on the Hub ({self.endpoint}). Check the id: "
                    "it is case-sensitive and has the form owner/name.",
                    model=model,
                    status=exc.status,
                    url=exc.url,
                    request_id=exc.request_id,
                ) from exc
            except AuthenticationError as exc:
                hint = "" if self.http.settings.token else " No token was given."
                raise AuthenticationError(
                    f"The Hub refused to describe {model!r} (HTTP {exc.status}): it is private, "
                    f"gated, or does not exist.{hint} Pass api_key=... or set HF_TOKEN.",
                    status=exc.status,
                    body=exc.body,
                    request_id=exc.request_id,
                    url=exc.url,
                ) from exc

        info = await self._cached(key, fetch)
        if not isinstance(info, dict):
            raise HFInferenceError(f"The Hub's answer about {model!r} is not an object")
        return info

    async def list_models(self, **params: Any) -> list[dict[str, Any]]:
        """``GET /api/models?...`` (first page), cached; e.g. ``pipeline_tag=...``."""
        query = sorted((k, str(v)) for k, v in params.items() if v is not None)
        key = "list_models|" + "&".join(f"{k}={v}" for k, v in query)

        async def fetch() -> Any:
            return await self.http.get_json(
                f"{self.endpoint}/api/models", params=query, retry=LIST_RETRY
            )

        models = await self._cached(key, fetch)
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []

    async def repo_file(self, model: str, filename: str) -> str | None:
        """A text file of the repo at ``main`` (``None`` when the repo has no such file)."""
        url = f"{self.endpoint}/{_repo_path(model)}/resolve/main/{filename}"

        async def fetch() -> Any:
            try:
                async with self.http.open("GET", url, model=model) as response:
                    body = await self.http.read_body(response)
            except ModelNotFoundError:
                return {"missing": True}
            return {"text": body.decode("utf-8", errors="replace")}

        record = await self._cached(f"file|{model}|{filename}", fetch)
        return None if record.get("missing") else record.get("text")
