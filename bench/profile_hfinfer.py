"""Profile hfinfer's client side with cProfile: where the CPU goes per token and per call.

Starts the bench server (pinned to core 0), pins itself to core 1, warms up,
then profiles either one long stream (``--what stream``, per-token cost) or
many short generations on one ``async with`` instance (``--what calls``,
per-call cost), and prints the top functions by own time and by cumulative time.

    python bench/profile_hfinfer.py --mode one --what stream --tokens 20000
    python bench/profile_hfinfer.py --mode chunked --what calls --calls 2000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench import server as bench_server  # noqa: E402
from bench import workload  # noqa: E402
from bench.clients.harness import MESSAGES  # noqa: E402


async def profiled(args: argparse.Namespace, url: str) -> cProfile.Profile:
    from hfinfer import HuggingFaceInference as hf_class

    profile = cProfile.Profile()

    async def generate(hf: object, tokens: int) -> int:
        n = 0
        async for chunk in hf.create_async_generator(  # type: ignore[attr-defined]
            workload.MODEL, MESSAGES, api_base=url, max_tokens=tokens
        ):
            if type(chunk) is str:
                n += len(chunk)
        return n

    async with hf_class() as hf:
        await generate(hf, 200)
        start = time.perf_counter()
        if args.what == "stream":
            profile.enable()
            await generate(hf, args.tokens)
            profile.disable()
            done = f"{args.tokens} tokens"
        else:
            profile.enable()
            for _ in range(args.calls):
                await generate(hf, 8)
            profile.disable()
            done = f"{args.calls} calls of 8 tokens"
        print(f"profiled {done} in {time.perf_counter() - start:.3f}s (with profiler overhead)")
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["one", "chunked"], default="one")
    parser.add_argument("--what", choices=["stream", "calls"], default="stream")
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    process, url = bench_server.spawn(args.mode, [200, 8, args.tokens], 0)
    os.sched_setaffinity(0, {1})
    os.environ["HF_ENDPOINT"] = url
    os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="bench-hf-home-")
    try:
        if args.uvloop:
            import uvloop

            profile = uvloop.run(profiled(args, url))
        else:
            profile = asyncio.run(profiled(args, url))
    finally:
        bench_server.stop(process)
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
        text = out.getvalue()
        print(text[text.find("   ncalls") :])


if __name__ == "__main__":
    main()
