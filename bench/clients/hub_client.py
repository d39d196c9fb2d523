"""huggingface_hub's ``AsyncInferenceClient.text_generation(..., stream=True)``.

One client for the whole run (its pool: 100 connections by default, kept as it
is); ``HF_ENDPOINT`` points at the bench server so nothing reaches the real Hub.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from huggingface_hub import AsyncInferenceClient

from bench import workload
from bench.clients import harness


class Client:
    def __init__(self, client: AsyncInferenceClient) -> None:
        self.client = client

    async def stream(self, max_tokens: int) -> tuple[float, int]:
        first = 0.0
        length = 0
        stream = await self.client.text_generation(
            harness.PROMPT, stream=True, max_new_tokens=max_tokens
        )
        async for text in stream:
            if not first:
                first = time.perf_counter()
            length += len(text)
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    async with AsyncInferenceClient(model=f"{url}/models/{workload.MODEL}", timeout=600) as client:
        yield Client(client)


if __name__ == "__main__":
    harness.main("huggingface_hub AsyncInferenceClient", open_client)
