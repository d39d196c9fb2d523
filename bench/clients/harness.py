"""What every client runner shares: arguments, the measurements, the JSON it prints.

A runner supplies ``open_client(url)``: an async context manager yielding an
object with ``async stream(max_tokens) -> (first_text_at, text_length)``, where
``first_text_at`` is the ``time.perf_counter()`` of the first text piece.
The harness then, in this process (pinned to one core):

1. warms up (one short generation: connections, caches, metadata);
2. times ``--ttft`` short generations one after another (median time to first text);
3. times one stream of ``--single`` tokens (wall clock and process CPU time);
4. runs each ``--levels`` entry ``C:N``: C concurrent streams of N tokens;

and prints one JSON object on stdout. Start-up and imports are not measured here.

``--suite paced`` measures the paced regime instead: for each ``--cells`` entry
``PACE_MS:STREAMS:TOKENS``, STREAMS concurrent streams from the server's
``/pace/PACE_MS`` route (every event its own read), after the same number of
short unmeasured streams have filled the client's pool; the process CPU time per
1,000 tokens and whether the server kept its pace. ``--url`` may be ``https://``
(the CA in ``SSL_CERT_FILE``); ``--stats-url`` is then the plain-HTTP address.

``--suite memory`` opens ``--streams`` streams at once from a slow paced route and
measures the process's resident memory once every stream has shown its first
text, against the resident memory before (one warm-up stream done): the memory
per open stream. Runners that support it accept ``stream(..., on_first=callback)``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from bench import workload


class StreamClient(Protocol):
    async def stream(self, max_tokens: int) -> tuple[float, int]: ...


class FirstTextClient(Protocol):
    async def stream(
        self, max_tokens: int, on_first: Callable[[], None] | None = None
    ) -> tuple[float, int]: ...


OpenClient = Callable[[str], AbstractAsyncContextManager[StreamClient]]

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long story about a fox."},
]
PROMPT = "<|begin_of_text|>Write a long story about a fox.<|eot_id|>"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="the bench server, http://127.0.0.1:PORT")
    parser.add_argument("--mode", default="one", help="the server's mode (a label here)")
    parser.add_argument("--single", type=int, default=20000, help="tokens of the single stream")
    parser.add_argument("--levels", default="16:2000,128:500,512:200", help="C:N,...")
    parser.add_argument("--ttft", type=int, default=20, help="short generations to time")
    parser.add_argument("--ttft-tokens", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--suite", choices=["standard", "paced", "memory"], default="standard")
    parser.add_argument("--cells", default="2:8:500", help="paced: PACE_MS:STREAMS:TOKENS,...")
    parser.add_argument("--stats-url", help="the server's plain-HTTP address (default --url)")
    parser.add_argument("--streams", type=int, default=512, help="memory: open streams")
    parser.add_argument("--hold-pace", type=int, default=250, help="memory: ms between events")
    parser.add_argument("--variant", default="", help="a runner's variant (see its module)")
    return parser.parse_args(argv)


def pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as response:
        return json.loads(response.read())


def run_loop(main: Any, loop: str) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


async def _timed_stream(client: StreamClient, tokens: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first, length = await client.stream(tokens)
    end = time.perf_counter()
    return (first - start if first else end - start), end - start, length


async def measure(client: StreamClient, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    _, _, length = await _timed_stream(client, args.warmup)
    if length not in workload.valid_lengths(args.warmup):
        raise SystemExit(f"warm-up stream returned {length} characters, not the expected text")

    ttfts = []
    for _ in range(args.ttft):
        ttft, _, _ = await _timed_stream(client, args.ttft_tokens)
        ttfts.append(ttft)
    result["ttft_ms"] = statistics.median(ttfts) * 1000 if ttfts else None

    server_before = server_stats(args.url)
    gc.collect()
    cpu0 = time.process_time()
    ttft, wall, length = await _timed_stream(client, args.single)
    cpu = time.process_time() - cpu0
    server_after = server_stats(args.url)
    result["single"] = {
        "tokens": args.single,
        "ok": length in workload.valid_lengths(args.single),
        "wall_s": wall,
        "cpu_s": cpu,
        "tokens_per_s": args.single / wall,
        "cpu_ms_per_1k": cpu * 1000 / (args.single / 1000),
        "first_text_ms": ttft * 1000,
        "server_cpu_share": (server_after["cpu_seconds"] - server_before["cpu_seconds"]) / wall,
    }

    result["levels"] = {}
    for spec in filter(None, args.levels.split(",")):
        concurrency, tokens = (int(x) for x in spec.split(":"))
        result["levels"][str(concurrency)] = await concurrent(client, concurrency, tokens)
    return result


async def concurrent(client: StreamClient, concurrency: int, tokens: int) -> dict[str, Any]:
    valid = workload.valid_lengths(tokens)
    errors: list[str] = []

    async def one() -> bool:
        try:
            _, length = await client.stream(tokens)
        except Exception as exc:  # counted, not raised: the level goes on
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return False
        if length not in valid:
            errors.append(f"short text: {length} characters")
            return False
        return True

    gc.collect()
    cpu0 = time.process_time()
    start = time.perf_counter()
    done = await asyncio.gather(*(one() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    ok = sum(done)
    return {
        "streams": concurrency,
        "tokens_each": tokens,
        "ok": ok,
        "errors": concurrency - ok,
        "first_error": errors[0] if errors else None,
        "wall_s": wall,
        "tokens_per_s": ok * tokens / wall,
        "cpu_ms_per_1k": cpu * 1000 / max(ok * tokens / 1000, 1e-9),
    }


async def paced(open_client: OpenClient, args: argparse.Namespace) -> dict[str, Any]:
    """The paced cells, each on a client opened for its ``/pace/<ms>`` route."""
    stats_url = args.stats_url or args.url
    async with open_client(args.url) as client:
        _, _, length = await _timed_stream(client, args.warmup)
        if length not in workload.valid_lengths(args.warmup):
            raise SystemExit(f"warm-up stream returned {length} characters")
    cells = {}
    for spec in filter(None, args.cells.split(",")):
        pace_ms, streams, tokens = (int(x) for x in spec.split(":"))
        async with open_client(f"{args.url}/pace/{pace_ms}") as client:
            await concurrent(client, streams, 2)  # fill the pool: connections, TLS sessions
            before = server_stats(stats_url)
            cell = await concurrent(client, streams, tokens)
            after = server_stats(stats_url)
        events = after["paced_events"] - before["paced_events"]
        cell.update(
            pace_ms=pace_ms,
            expected_wall_s=tokens * pace_ms / 1000,
            server_late_share=(after["late_events"] - before["late_events"]) / max(events, 1),
            server_cpu_share=(after["cpu_seconds"] - before["cpu_seconds"]) / cell["wall_s"],
        )
        cells[f"{pace_ms}:{streams}"] = cell
    return {"cells": cells}


def rss_bytes() -> int:
    """The process's resident memory now (not its peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def memory(open_client: OpenClient, args: argparse.Namespace) -> dict[str, Any]:
    """Resident memory per open stream with ``--streams`` streams open at once."""
    streams = args.streams
    async with open_client(f"{args.url}/pace/{args.hold_pace}") as client:
        await client.stream(1)  # warm-up: imports, metadata, one connection
        await client.stream(1)
        started = 0
        all_started = asyncio.get_running_loop().create_future()

        def on_first() -> None:
            nonlocal started
            started += 1
            if started == streams and not all_started.done():
                all_started.set_result(None)

        gc.collect()
        before = rss_bytes()
        stream: Any = client.stream
        tasks = [asyncio.ensure_future(stream(10_000, on_first=on_first)) for _ in range(streams)]
        try:
            await asyncio.wait_for(all_started, 120)
            await asyncio.sleep(0.2)  # let every read in flight land
            gc.collect()
            during = rss_bytes()
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [o for o in outcomes if not isinstance(o, asyncio.CancelledError)]
    return {
        "memory": {
            "streams": streams,
            "rss_before_mb": before / 2**20,
            "rss_open_mb": during / 2**20,
            "kib_per_stream": (during - before) / streams / 1024,
            "not_cancelled": len(failed),
            "first_error": repr(failed[0])[:200] if failed else None,
        }
    }


def main(
    name: str,
    open_client: OpenClient,
    extra: dict[str, Any] | None = None,
    variants: dict[str, OpenClient] | None = None,
) -> None:
    """Parse the arguments, measure, print the JSON result. ``variants``: other ways
    to open the client, chosen with ``--variant``."""
    args = parse_args()
    pin(args.cpu)
    if args.variant:
        open_client = (variants or {})[args.variant]

    async def run() -> dict[str, Any]:
        if args.suite == "paced":
            return await paced(open_client, args)
        if args.suite == "memory":
            return await memory(open_client, args)
        async with open_client(args.url) as client:
            return await measure(client, args)

    result = run_loop(run(), args.loop)
    result.update(
        client=name,
        mode=args.mode,
        loop=args.loop,
        suite=args.suite,
        variant=args.variant,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        python=sys.version.split()[0],
        **(extra or {}),
    )
    print(json.dumps(result))
