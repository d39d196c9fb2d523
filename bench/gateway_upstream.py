"""The upstream of the gateway benchmark: the router's chat route and the Hub's model info.

``POST /v1/chat/completions`` streams ``--tokens`` ``chat.completion.chunk``
events, one write each, then a usage event and ``[DONE]``, as fast as it can;
``GET /api/models/{id}`` says the model is served by one provider (the
gateway asks once). Run: ``python bench/gateway_upstream.py --port 0``; it
prints ``listening on PORT``.
"""

from __future__ import annotations

import argparse
import json
import sys

from aiohttp import web

MODEL = "bench/model"


def _events(tokens: int) -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    events = [chunk({"role": "assistant", "content": f" tok{i}"}) for i in range(tokens)]
    events.append(chunk({}, "stop"))
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens},
    }
    events.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def make_app(tokens: int) -> web.Application:
    events = _events(tokens)
    info = {
        "id": MODEL,
        "pipeline_tag": "text-generation",
        "tags": ["conversational"],
        "inferenceProviderMapping": {
            "together": {"status": "live", "providerId": "b/m", "task": "conversational"}
        },
    }

    async def chat(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await response.write(event)
        await response.write_eof()
        return response

    async def model_info(request: web.Request) -> web.Response:
        return web.json_response(info)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/api/models/{owner}/{name}", model_info)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tokens", type=int, default=200)
    args = parser.parse_args()
    runner_app = make_app(args.tokens)

    async def start() -> None:
        runner = web.AppRunner(runner_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"listening on {port}", flush=True)

    import asyncio

    loop = asyncio.new_event_loop()
    loop.run_until_complete(start())
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
