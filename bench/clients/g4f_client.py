"""gpt4free 7.9.0's ``HuggingFaceInference.create_async_generator(..., base_url=URL)``.

Its Hub call is hard-coded to ``https://huggingface.co/api/models/{id}``: the
session class its module uses is wrapped so that this one call goes to the
bench server. It caches model info per model (a class dict), so only the
warm-up asks; it opens a new aiohttp session per call (its design).
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bench import workload
from bench.clients import harness

HUB = "https://huggingface.co"
MODULE = importlib.import_module("g4f.Provider.needs_auth.hf.HuggingFaceInference")
Provider = MODULE.HuggingFaceInference


class _LocalHub:
    """The session g4f's code sees: ``get`` of a Hub URL goes to the bench server."""

    def __init__(self, session: Any, hub: str) -> None:
        self._session = session
        self._hub = hub

    def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
        if url.startswith(HUB):
            url = self._hub + url[len(HUB) :]
        return self._session.get(url, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _StreamSession(MODULE.StreamSession):
    async def __aenter__(self) -> Any:
        return _LocalHub(await super().__aenter__(), os.environ["HF_ENDPOINT"].rstrip("/"))


MODULE.StreamSession = _StreamSession


class Client:
    def __init__(self, url: str) -> None:
        self.url = url

    async def stream(self, max_tokens: int) -> tuple[float, int]:
        first = 0.0
        length = 0
        async for chunk in Provider.create_async_generator(
            workload.MODEL, harness.MESSAGES, base_url=self.url, max_tokens=max_tokens
        ):
            if type(chunk) is str:
                if not first:
                    first = time.perf_counter()
                length += len(chunk)
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    yield Client(url)


if __name__ == "__main__":
    harness.main("gpt4free 7.9.0 HuggingFaceInference", open_client)
