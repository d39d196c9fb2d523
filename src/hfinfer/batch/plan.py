"""``--dry-run``: what a run would send, and what it may cost, before anything is sent."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cost import PriceList, estimate_prompt_tokens, max_output_tokens
from .inputs import iter_files
from .state import BatchState, Entry

__all__ = ["DryRun", "plan"]


@dataclass
class DryRun:
    """The counts and estimates of a run not yet made.

    ``to_send`` requests (``changed`` of them answered before for another
    request body, ``retry`` failed before), ``done`` and ``failed`` skipped;
    ``prompt_tokens`` estimated (characters / 4), ``max_completion_tokens`` the
    sum of the requests' ``max_tokens``; the cost from the router's prices,
    ``cost_low`` for the prompts alone, ``cost_high`` if every answer used all
    its ``max_tokens``; ``unpriced`` requests whose model has no price.
    """

    total: int = 0
    to_send: int = 0
    changed: int = 0
    retry: int = 0
    done: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    max_completion_tokens: int = 0
    cost_low: float = 0.0
    cost_high: float = 0.0
    unpriced: int = 0
    models: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A human summary, one fact a line."""
        models = ", ".join(f"{m} ({n})" for m, n in sorted(self.models.items()))
        priced = self.to_send - self.unpriced
        return [
            f"requests: {self.total} in the input, {self.to_send} to send "
            f"({self.changed} changed since answered, {self.retry} failed before), "
            f"{self.done} done and {self.failed} failed skipped",
            f"models: {models or 'none'}",
            f"tokens: about {self.prompt_tokens} prompt, at most "
            f"{self.max_completion_tokens} completion",
            f"estimated cost: ${self.cost_low:.4f} (prompts only) to ${self.cost_high:.4f} "
            f"(every answer at max_tokens) for {priced} priced requests"
            + (f"; {self.unpriced} have no price in the router's list" if self.unpriced else ""),
        ]


def _count(dry: DryRun, request: Any, entry: Entry | None, retry_failed: bool,
           prices: PriceList, provider: str | None) -> None:  # fmt: skip
    dry.total += 1
    if entry is not None and entry.key == request.key:
        if entry.ok:
            dry.done += 1
            return
        if not retry_failed:
            dry.failed += 1
            return
        dry.retry += 1
    elif entry is not None:
        dry.changed += 1
    dry.to_send += 1
    model = str(request.body.get("model"))
    dry.models[model] = dry.models.get(model, 0) + 1
    prompt, completion = estimate_prompt_tokens(request.body), max_output_tokens(request.body)
    dry.prompt_tokens += prompt
    dry.max_completion_tokens += completion
    low, high = prices.cost(model, provider, prompt, 0), prices.cost(model, provider, prompt,
                                                                     completion)  # fmt: skip
    if low is None or high is None:
        dry.unpriced += 1
    else:
        dry.cost_low += low
        dry.cost_high += high


async def plan(config: Any, client: Any, prices: PriceList | None = None) -> DryRun:
    """Count and estimate the run ``config`` (a :class:`~hfinfer.batch.BatchConfig`)
    describes, reading the resume state but sending nothing to a model."""
    from .runner import load_prices
    from .sources import resolve_inputs

    if prices is None:
        prices = await load_prices(client)
    paths: list[Path] = await resolve_inputs(config, client)

    def count() -> DryRun:
        entries: dict[str, Entry] = {}
        if config.paths.state.exists() and not config.restart:
            state = BatchState(config.paths)
            with contextlib.closing(state.open()):
                entries = state.entries()
        dry = DryRun()
        for request in iter_files(paths, config.defaults):
            if config.limit is not None and dry.to_send >= config.limit:
                break
            _count(dry, request, entries.get(request.custom_id), config.retry_failed, prices,
                   config.provider)  # fmt: skip
        return dry

    return await asyncio.to_thread(count)
