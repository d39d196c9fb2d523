"""hfinfer: ``async with HuggingFaceInference() as hf`` (one connection pool), then
``hf.create_async_generator(model, messages, api_base=URL, max_tokens=N)``.

``HF_ENDPOINT`` must point at the bench server (the Hub metadata call).
``--variant classmethod``: every call is ``HuggingFaceInference.create_async_generator``
(no instance: each call opens and closes its own connection pool).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bench import workload
from bench.clients import harness
from hfinfer import HuggingFaceInference


class Client:
    def __init__(self, hf: HuggingFaceInference | type[HuggingFaceInference], url: str) -> None:
        self.hf = hf
        self.url = url

    async def stream(
        self, max_tokens: int, on_first: Callable[[], None] | None = None
    ) -> tuple[float, int]:
        first = 0.0
        length = 0
        async for chunk in self.hf.create_async_generator(
            workload.MODEL, harness.MESSAGES, api_base=self.url, max_tokens=max_tokens
        ):
            if type(chunk) is str:
                if not first:
                    first = time.perf_counter()
                    if on_first is not None:
                        on_first()
                length += len(chunk)
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    async with HuggingFaceInference() as hf:
        yield Client(hf, url)


@asynccontextmanager
async def open_classmethod_client(url: str) -> AsyncIterator[Client]:
    yield Client(HuggingFaceInference, url)


if __name__ == "__main__":
    harness.main("hfinfer", open_client, variants={"classmethod": open_classmethod_client})
