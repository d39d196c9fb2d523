"""The ``text-generation`` package's ``AsyncClient.generate_stream`` (0.7.0).

It opens a new aiohttp session per call (its design); its 10 s default timeout
covers a whole request, so it is raised to 600 s here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from text_generation import AsyncClient

from bench.clients import harness


class Client:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def stream(self, max_tokens: int) -> tuple[float, int]:
        first = 0.0
        length = 0
        async for response in self.client.generate_stream(
            harness.PROMPT, max_new_tokens=max_tokens
        ):
            token = response.token
            if not token.special:
                if not first:
                    first = time.perf_counter()
                length += len(token.text)
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    yield Client(AsyncClient(url, timeout=600))


if __name__ == "__main__":
    harness.main("text-generation AsyncClient", open_client)
