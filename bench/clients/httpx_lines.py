"""Plain httpx: one AsyncClient (no pool cap), ``aiter_lines`` + ``json.loads``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bench import workload
from bench.clients import harness


class Client:
    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = f"{url}/models/{workload.MODEL}"

    async def stream(self, max_tokens: int) -> tuple[float, int]:
        payload = {
            "inputs": harness.PROMPT,
            "parameters": {"max_new_tokens": max_tokens, "details": True},
            "stream": True,
        }
        first = 0.0
        length = 0
        async with self.client.stream("POST", self.url, json=payload) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    token = json.loads(line[5:])["token"]
                    if not token["special"]:
                        if not first:
                            first = time.perf_counter()
                        length += len(token["text"])
        return first, length


@asynccontextmanager
async def open_client(url: str) -> AsyncIterator[Client]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=1024)
    async with httpx.AsyncClient(limits=limits, timeout=None) as client:
        yield Client(client, url)


if __name__ == "__main__":
    harness.main("httpx aiter_lines + json.loads", open_client)
