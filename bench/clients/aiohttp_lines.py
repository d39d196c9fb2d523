"""Plain aiohttp: one session, ``async for line in response.content`` + ``json.loads``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp

from bench import workload
from bench.clients import harness


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = f"{url}/models/{workload.MODEL}"

    async def stream(
        self, max_tokens: int, on_first: Callable[[], None] | None = None
    ) -> tuple[float, int]:
        payload = {
            "inputs": harness.PROMPT,
            "parameters": {"max_new_tokens": max_tokens, "details": True},
            "stream": True,
        }
        first = 0.0
        length = 0
        async with self.session.post(self.url, json=payload) as response:
            response.raise_for_status()
            async for line in response.content:
                if line.startswith(b"data:"):
                    token = json.loads(line[5:])["token"]
                    if not token["special"]:
                        if not first:
                            first = time.perf_counter()
                            if on_first is not None:
                                on_first()
                        length += len(token["text"])
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Client(session, url)


if __name__ == "__main__":
    harness.main("aiohttp lines + json.loads", open_client)
