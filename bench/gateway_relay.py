"""The floor of the gateway benchmark: a minimal aiohttp relay.

``POST /v1/chat/completions`` is sent to the upstream as it came; each
``data:`` event of the answer is decoded and encoded again (orjson) and
written on, one write per event. No checks, no logs, no metrics: what any
gateway must at least do. Run: ``python bench/gateway_relay.py --upstream URL``.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import orjson
from aiohttp import web


def make_app(upstream: str) -> web.Application:
    state: dict[str, aiohttp.ClientSession] = {}

    async def open_session(app: web.Application) -> None:
        state["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def close_session(app: web.Application) -> None:
        await state["session"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with state["session"].post(
            f"{upstream}/v1/chat/completions",
            data=body,
            headers={"content-type": "application/json"},
        ) as answer:
            response = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await response.prepare(request)
            async for line in answer.content:
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:].strip()
                if payload == b"[DONE]":
                    await response.write(b"data: [DONE]\n\n")
                    break
                await response.write(b"data: " + orjson.dumps(orjson.loads(payload)) + b"\n\n")
            await response.write_eof()
            return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", relay)
    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(args.upstream), access_log=None)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"listening on {port}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
