"""Batch benchmark: 10,000 requests through ``hfinfer.batch.run`` against a local
router with a rate limit. Time to finish against the ideal (requests / rate),
429s met, and the client's CPU per request.

    python bench/batch.py                 # print the table
    python bench/batch.py --write         # and put it into bench/RESULTS.md

The server runs in its own process (plain asyncio, 127.0.0.1, an ephemeral
port): a token bucket of ``--rate`` requests a second (burst: a tenth of a
second's worth); a request over the limit gets 429 with ``retry-after`` set to
when the next token comes; an answer takes ``--latency`` seconds. Scenarios:
``rpm`` (the client's --rpm set to the limit), ``aimd`` (no --rpm: the client
finds the limit from 429s) and ``open`` (no limit at all: the client's own
ceiling). Client CPU is the client process's CPU time during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "bench/batch-model"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- BEGIN batch -->", "<!-- END batch -->"

# -- the server -----------------------------------------------------------------


class Limited:
    """The server's state: a token bucket and counters."""

    def __init__(self, rate: float, latency: float) -> None:
        self.rate, self.latency = rate, latency
        self.capacity = max(1.0, rate / 10)
        self.tokens, self.stamp = self.capacity, time.monotonic()
        self.answered = self.throttled = 0

    def admit(self) -> float:
        """0 when admitted, else seconds until a token comes."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def _reply(status: int, body: bytes, extra: str = "") -> bytes:
    reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n{extra}\r\n").encode() + body  # fmt: skip


MODEL_INFO = json.dumps({
    "id": MODEL, "pipeline_tag": "text-generation", "config": {},
    "inferenceProviderMapping": {
        "together": {"status": "live", "providerId": "b/m", "task": "conversational"}},
}).encode()  # fmt: skip


def _completion(number: int) -> bytes:
    return json.dumps({
        "id": f"c{number}", "object": "chat.completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": f"answer {number}"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16},
    }).encode()  # fmt: skip


async def _handle(state: Limited, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:  # fmt: skip
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = next((int(x.split(":", 1)[1]) for x in lines
                           if x.lower().startswith("content-length:")), 0)  # fmt: skip
            if length:
                await reader.readexactly(length)
            if method == "POST" and path == "/v1/chat/completions":
                wait = state.admit()
                if wait > 0:
                    state.throttled += 1
                    writer.write(_reply(429, b'{"error": "rate limited"}',
                                        f"retry-after: {wait:.3f}\r\n"))  # fmt: skip
                else:
                    await asyncio.sleep(state.latency)
                    state.answered += 1
                    writer.write(_reply(200, _completion(state.answered)))
            elif path.startswith("/api/models/"):
                writer.write(_reply(200, MODEL_INFO))
            elif path == "/_stats":
                stats = {"answered": state.answered, "throttled": state.throttled}
                writer.write(_reply(200, json.dumps(stats).encode()))
            else:
                writer.write(_reply(404, b'{"error": "no route"}'))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(rate: float, latency: float) -> None:
    state = Limited(rate, latency)
    server = await asyncio.start_server(lambda r, w: _handle(state, r, w), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


# -- the client -----------------------------------------------------------------


def _stats(url: str) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as answer:  # 127.0.0.1 only
        return dict(json.load(answer))


async def _run_batch(folder: Path, requests: int, options: dict[str, Any]) -> dict[str, Any]:
    import hfinfer.batch as batch

    source = folder / "in.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for n in range(requests):
            handle.write(json.dumps({"custom_id": f"r{n}", "prompt": f"question {n}"}) + "\n")
    out = folder / f"out-{time.monotonic_ns()}.jsonl"
    progress = batch.Progress()
    cpu, wall = time.process_time(), time.perf_counter()
    done = 0
    async for result in batch.run(source, out, defaults=batch.RequestDefaults(model=MODEL),
                                  prices=batch.PriceList({}), progress=progress,
                                  **options):  # fmt: skip
        done += result.ok
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "done": done, "retries": progress.retries}  # fmt: skip


def scenario(name: str, rate: float, requests: int, latency: float,
             options: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Start a server at ``rate``, run the batch, stop the server."""
    command = [sys.executable, __file__, "serve", "--rate", str(rate), "--latency", str(latency)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as folder:
            os.environ.update({"HF_ENDPOINT": url, "HF_ROUTER_URL": url,
                               "HF_HOME": folder, "HF_TOKEN": "hf_bench"})  # fmt: skip
            measured = asyncio.run(_run_batch(Path(folder), requests, options))
        stats = _stats(url)
    finally:
        server.terminate()
        server.wait(10)
    ideal = requests / rate if rate > 0 else None
    return {"name": name, "rate": rate, "requests": requests, "ideal": ideal, **measured,
            "throttled": stats["throttled"], "options": options}  # fmt: skip


def table(rows: list[dict[str, Any]], latency: float) -> str:
    head = ("| scenario | client options | server limit | done | time s | ideal s | "
            "time / ideal | 429s met | retries | req/s | client CPU ms / request |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")  # fmt: skip
    lines = []
    for r in rows:
        opts = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in r["options"].items())  # fmt: skip
        ideal = f"{r['ideal']:.1f}" if r["ideal"] else "-"
        ratio = f"{r['wall'] / r['ideal']:.3f}" if r["ideal"] else "-"
        limit = f"{r['rate']:g} req/s" if r["rate"] > 0 else "none"
        lines.append(
            f"| {r['name']} | {opts} | {limit} | {r['done']:,} | {r['wall']:.1f} | {ideal} | "
            f"{ratio} | {r['throttled']:,} | {r['retries']:,} | {r['done'] / r['wall']:,.0f} | "
            f"{r['cpu'] * 1000 / r['requests']:.3f} |"
        )
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"## Batch: {rows[0]['requests']:,} requests through `hfinfer.batch.run`\n\n"
        f"Run {when}. Rerun: `python bench/batch.py --write`. The local router answers in "
        f"{latency * 1000:.0f} ms, with a token-bucket limit (429 + `retry-after` past it); "
        "the server runs in its own process. Ideal = requests / limit. Client CPU = the "
        "client process's CPU time during the run / requests (reading, state, output, "
        "HTTP and JSON included); at a paced rate each request is a send of its own that "
        "wakes the server (two cores, shared), so it costs more CPU than in the open run, "
        "where sends and writes batch up.\n\n" + head + "\n".join(lines) + "\n"
    )


def write(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in current and END in current:
        start, end = current.index(BEGIN), current.index(END) + len(END)
        current = current[:start] + block + current[end:]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0, help="server limit, req/s")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.mode == "serve":
        asyncio.run(serve(args.rate, args.latency))
        return
    n, rate, c = args.requests, args.rate, args.concurrency
    rows = [
        scenario("rpm", rate, n, args.latency, {"concurrency": c, "rpm": rate * 60}),
        scenario("aimd", rate, n, args.latency, {"concurrency": c}),
        scenario("open", 0.0, n, args.latency, {"concurrency": c}),
    ]
    text = table(rows, args.latency)
    print(text)
    if args.write:
        write(text)


if __name__ == "__main__":
    main()
