"""The cost of hfinfer's own stream reader alone: ``ChunkedBody.feed`` on the bench's
TGI events framed as HTTP chunks, one chunk per read and five per read (no socket,
no task woken: what decoding the framing in ``data_received`` costs per event).

    python bench/reader_micro.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import workload
from hfinfer.http.chunked import ChunkedBody

EVENTS = 2000


class _Socket:
    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def measure() -> None:
    framed = [b"%x\r\n%s\r\n" % (len(e), e) for e in workload.events(EVENTS)]
    batches = [b"".join(framed[i : i + 5]) for i in range(0, EVENTS, 5)]
    loop = asyncio.get_running_loop()
    for name, reads in (("one chunk per read", framed), ("five chunks per read", batches)):
        best = float("inf")
        for _ in range(7):
            body = ChunkedBody(loop, _Socket(), None, None, lambda clean: None, lambda: None)  # type: ignore[arg-type]
            started = time.perf_counter()
            for read in reads:
                body.feed(read)
                body._pending.clear()
            best = min(best, time.perf_counter() - started)
        print(f"{name}: {best / EVENTS * 1e6:.2f} µs per event (best of 7)")


if __name__ == "__main__":
    asyncio.run(measure())
