"""Progress of a batch: counters the runner updates, a line to show them, and a
printer for stderr (one redrawn line on a terminal, plain lines otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Progress", "print_progress"]


@dataclass
class Progress:
    """What a run has done so far; ``total`` is the requests to send (``None``
    until the input has been counted)."""

    total: int | None = None
    skipped: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the rate so far, or ``None`` when it cannot be told yet."""
        if self.total is None or self.finished == 0:
            return None
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return max(0.0, (self.total - self.finished) * elapsed / self.finished)

    def line(self, now: float | None = None) -> str:
        """``done 120/1000 · failed 2 · in flight 16 · 54.1k tokens · $0.0123 · ETA 1m40s``."""
        total = "?" if self.total is None else str(self.total)
        tokens = self.prompt_tokens + self.completion_tokens
        eta = self.eta(now)
        parts = [
            f"done {self.done}/{total}",
            f"failed {self.failed}",
            f"in flight {self.in_flight}",
            f"{_count(tokens)} tokens",
            f"${self.cost:.4f}",
            f"ETA {_duration(eta)}" if eta is not None else "ETA ?",
        ]
        return " · ".join(parts)

    def summary(self, now: float | None = None) -> str:
        """The closing line of a run."""
        elapsed = (now if now is not None else time.monotonic()) - self.started
        return (
            f"{self.done} done, {self.failed} failed, {self.skipped} skipped (already done) "
            f"in {_duration(elapsed)}; {self.retries} retries; "
            f"{_count(self.prompt_tokens)} prompt + {_count(self.completion_tokens)} completion "
            f"tokens; estimated cost ${self.cost:.4f}"
        )


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@contextlib.asynccontextmanager
async def print_progress(
    progress: Progress, stream: TextIO, *, interval: float | None = None
) -> AsyncIterator[Progress]:
    """Show ``progress`` on ``stream`` while the block runs, then its summary."""
    tty = stream.isatty()
    every = interval if interval is not None else (0.25 if tty else 10.0)

    async def tick() -> None:
        while True:
            await asyncio.sleep(every)
            stream.write(("\r\x1b[2K" if tty else "") + progress.line() + ("" if tty else "\n"))
            stream.flush()

    task = asyncio.create_task(tick())
    try:
        yield progress
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stream.write(("\r\x1b[2K" if tty else "") + progress.summary() + "\n")
        stream.flush()
