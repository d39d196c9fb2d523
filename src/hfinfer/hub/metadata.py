"""Questions to the Hub: model info, model lists, repo files (chat templates).

Answers are cached on disk with an expiry; ``HF_HUB_OFFLINE=1`` answers from
the cache alone. Concurrent questions about one model share one request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import cache_dir, is_offline
from ..errors import (
    AuthenticationError,
    ModelNotFoundError,
    OfflineCacheMiss,
    ResponseError,
)
from ..http.retry import RetryPolicy
from ..http.session import HttpClient
from ..protocol.repo_ids import repo_path
from .cache import DEFAULT_TTL, DiskCache, is_public_repo, scoped_key, scoped_keys, single_flight

__all__ = ["Hub", "OfflineCacheMiss"]

logger = logging.getLogger(__name__)

#: Model lists are a convenience: ask quickly, retry once, and fall back.
LIST_RETRY = RetryPolicy(max_retries=1, backoff_base=0.2, backoff_cap=1.0, max_wait=2.0)


class Hub:
    """The Hub API at ``http.settings.hub_endpoint``, through ``http``."""

    def __init__(self, http: HttpClient, *, ttl: float = DEFAULT_TTL) -> None:
        self.http = http
        self.endpoint = http.settings.hub_endpoint
        self.cache = DiskCache(cache_dir() / "hub", ttl)
        self.offline = is_offline()

    async def _cached(
        self,
        key: str,
        fetch: Any,
        *,
        accept: Callable[[Any], bool],
        public: Callable[[Any], bool] | bool = False,
    ) -> Any:
        """The answer for ``key`` from the cache (the public entry, then this token's)
        or from ``fetch``; stored as public when ``public`` says so (a flag, or a
        test of the answer), else for this token alone. A cached value ``accept``
        refuses (an odd shape, from an older version or a bad answer) is a miss, and
        is replaced; a fetched one it refuses is returned but never stored."""
        token = self.http.settings.token
        keys = scoped_keys(self.endpoint, token, key)
        if self.offline:
            for cache_key in keys:
                value = await self.cache.get(cache_key, ignore_expiry=True)
                if value is not None and accept(value):
                    return value
            raise OfflineCacheMiss(
                f"HF_HUB_OFFLINE is set and {key} is not in hfinfer's cache "
                f"({self.cache.directory}); unset it to ask the Hub."
            )

        async def fetch_and_store() -> Any:
            for cache_key in keys:
                value = await self.cache.get(cache_key)
                if value is not None and accept(value):
                    return value
            value = await fetch()
            if accept(value):
                is_public = public(value) if callable(public) else public
                cache_key = scoped_key(self.endpoint, token, key, public=is_public)
                await self.cache.put(cache_key, value)
            return value

        return await single_flight(keys[-1], fetch_and_store)

    async def model_info(
        self, model: str, *, expand: list[str] | None = None, retry: RetryPolicy | None = None
    ) -> dict[str, Any]:
        """``GET /api/models/{model}`` (optionally ``?expand[]=...``), cached.

        Raises :class:`ModelNotFoundError` naming the model when the Hub has no
        such repo, :class:`AuthenticationError` for a gated or private one.
        ``retry``: this question's own policy (else the client's).
        """
        params = [("expand[]", name) for name in expand] if expand else None
        key = f"model_info|{model}|{','.join(expand or [])}"
        url = f"{self.endpoint}/api/models/{repo_path(model)}"

        async def fetch() -> Any:
            try:
                return await self.http.get_json(url, params=params, model=model, retry=retry)
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

        info = await self._cached(key, fetch, accept=_is_model_info, public=is_public_repo)
        if not isinstance(info, dict):
            raise ResponseError(f"The Hub's answer about {model!r} is not an object", url=url)
        problem = model_info_problem(info)
        if problem:
            raise ResponseError(f"The Hub's answer about {model!r} is odd: {problem}.", url=url)
        return info

    async def list_models(self, **params: Any) -> list[dict[str, Any]]:
        """``GET /api/models?...`` (first page), cached; e.g. ``pipeline_tag=...``."""
        query = sorted((k, str(v)) for k, v in params.items() if v is not None)
        key = "list_models|" + "&".join(f"{k}={v}" for k, v in query)

        async def fetch() -> Any:
            return await self.http.get_json(
                f"{self.endpoint}/api/models", params=query, retry=LIST_RETRY
            )

        models = await self._cached(key, fetch, accept=lambda value: isinstance(value, list))
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []

    async def repo_file(self, model: str, filename: str, *, public: bool = False) -> str | None:
        """A text file of the repo at ``main`` (``None`` when the repo has no such file).
        ``public``: the repo is public (its model info says so), so the answer may be
        shared with callers holding other tokens."""
        url = f"{self.endpoint}/{repo_path(model)}/resolve/main/{filename}"

        async def fetch() -> Any:
            try:
                async with self.http.open("GET", url, model=model) as response:
                    body = await self.http.read_body(response)
            except ModelNotFoundError:
                return {"missing": True}
            return {"text": body.decode("utf-8", errors="replace")}

        record = await self._cached(
            f"file|{model}|{filename}", fetch, accept=_is_file_record, public=public
        )
        return None if record.get("missing") else record.get("text")


def _is_model_info(value: Any) -> bool:
    return isinstance(value, dict) and model_info_problem(value) is None


def _is_file_record(value: Any) -> bool:
    return isinstance(value, dict) and (
        value.get("missing") is True or isinstance(value.get("text"), str)
    )


#: The fields of model info hfinfer reads, and the types they may have (None: absent).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "modelId": (str,),
    "pipeline_tag": (str,),
    "library_name": (str,),
    "config": (dict,),
    "siblings": (list,),
    "tags": (list,),
    "private": (bool,),
    "gated": (bool, str),
    "inferenceProviderMapping": (dict, list),
}


def model_info_problem(info: dict[str, Any]) -> str | None:
    """What is wrong with the shape of model info (a field of an odd type), or None."""
    for name, types in _FIELD_TYPES.items():
        value = info.get(name)
        if value is not None and not isinstance(value, types):
            return f"{name!r} is a {type(value).__name__}"
    config = info.get("config") or {}
    for name in ("tokenizer_config",):
        value = config.get(name)
        if value is not None and not isinstance(value, dict):
            return f"'config.{name}' is a {type(value).__name__}"
    if config.get("model_type") is not None and not isinstance(config["model_type"], str):
        return f"'config.model_type' is a {type(config['model_type']).__name__}"
    for sibling in info.get("siblings") or []:
        if not isinstance(sibling, dict) or not isinstance(sibling.get("rfilename", ""), str):
            return "'siblings' holds something other than files"
    return None
