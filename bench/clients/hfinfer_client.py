"""hfinfer: ``async with HuggingFaceInference() as hf`` (one connection pool), then
``hf.create_async_generator(model, messages, api_base=URL, max_tokens=N)``.

``HF_ENDPOINT`` must point at the bench server (the Hub metadata call).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bench import workload
from bench.clients import harness
from hfinfer import HuggingFaceInference


class Client:
    def __init__(self, hf: HuggingFaceInference, url: str) -> None:
        self.hf = hf
        self.url = url

    async def stream(self, max_tokens: int) -> tuple[float, int]:
        first = 0.0
        length = 0
        async for chunk in self.hf.create_async_generator(
            workload.MODEL, harness.MESSAGES, api_base=self.url, max_tokens=max_tokens
        ):
            if type(chunk) is str:
                if not first:
                    first = time.perf_counter()
                length += len(chunk)
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    async with HuggingFaceInference() as hf:
        yield Client(hf, url)


if __name__ == "__main__":
    harness.main("hfinfer", open_client)
