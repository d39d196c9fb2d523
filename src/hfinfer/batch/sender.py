"""Sending requests within the rate rules: the part a local run and a Ray actor share.

A :class:`Sender` holds the in-flight limit (AIMD), the rpm/tpm buckets, the
``retry-after`` pause and the retry rules; :meth:`Sender.send` takes one
request through its attempts. A 402 (or a refused token) sets
:attr:`Sender.stopped`: no new attempt starts after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import HFInferenceError, RateLimitError
from .cost import PriceList, estimate_prompt_tokens, max_output_tokens
from .inputs import BatchRequest
from .progress import Progress
from .rate import AdaptiveLimit, Pause, RetryRules, TokenBucket, Verdict
from .worker import Outcome, send_request

__all__ = ["BatchStopped", "Sender"]


class BatchStopped(HFInferenceError):
    """The run stopped before the end: credits used up (402), a refused token, or
    ``max_cost`` reached. Everything finished is written; run again to resume.

    ``reason`` is ``"payment"``, ``"auth"`` or ``"max_cost"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Sender:
    """The rate rules of one client: ``concurrency`` in flight at most, ``rpm``
    requests and ``tpm`` tokens a minute, ``rules`` for retries."""

    def __init__(
        self,
        client: Any,
        *,
        concurrency: int = 16,
        rpm: float | None = None,
        tpm: float | None = None,
        rules: RetryRules | None = None,
        prices: PriceList | None = None,
        provider: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.limit = AdaptiveLimit(concurrency)
        self.rpm = TokenBucket(rpm) if rpm else None
        # Five seconds of tokens may go at once: one long prompt must fit.
        self.tpm = TokenBucket(tpm, burst=tpm / 12) if tpm else None
        self.pause = Pause()
        self.rules = rules or RetryRules()
        self.prices = prices or PriceList({})
        self.provider = provider
        self.progress = progress or Progress()
        self.stopped: BatchStopped | None = None

    def stop(self, why: str, reason: str) -> None:
        """Let no new attempt start; the first reason given is kept."""
        if self.stopped is None:
            self.stopped = BatchStopped(f"Stopped: {why}.", reason=reason)

    async def send(self, request: BatchRequest, epoch: int) -> Outcome | None:
        """Send until an answer, a final failure, or a stop (``None``: not answered,
        to be sent again by the next run). The caller holds a slot of :attr:`limit`."""
        rules, attempt = self.rules, 0
        estimate = estimate_prompt_tokens(request.body) + max_output_tokens(request.body)
        while True:
            attempt += 1
            await self.pause.wait()
            if self.stopped is not None:
                return None
            if self.rpm is not None:
                await self.rpm.take(1)
            if self.tpm is not None:
                await self.tpm.take(estimate)
            outcome = await send_request(self.client, request, self.provider, self.prices,
                                         attempt)  # fmt: skip
            if self.tpm is not None:
                self.tpm.refund(estimate - outcome.tokens_used())
            if outcome.error is None:
                self.limit.on_success()
                return outcome
            verdict = rules.verdict(outcome.error)
            if verdict == Verdict.STOP:
                reason = "auth" if outcome.error_status() == 401 else "payment"
                self.stop(str(outcome.error), reason)
                return None
            if isinstance(outcome.error, RateLimitError):
                self.limit.on_throttle(epoch)
                if outcome.error.retry_after:
                    self.pause.hold(min(outcome.error.retry_after, rules.max_retry_after))
            if verdict == Verdict.FAIL or attempt >= rules.max_attempts:
                return outcome
            self.progress.retries += 1
            await asyncio.sleep(rules.delay(attempt - 1, outcome.error))
            epoch = self.limit.epoch

    async def send_all(self, requests: list[BatchRequest]) -> list[Outcome | None]:
        """Send a list within the limits; the outcomes in the list's order."""

        async def one(request: BatchRequest) -> Outcome | None:
            epoch = await self.limit.acquire()
            try:
                return await self.send(request, epoch)
            finally:
                self.limit.release()

        return list(await asyncio.gather(*(one(r) for r in requests)))
