"""Rate control for a batch: bounded in-flight requests that halve on 429 and
regrow slowly (AIMD), token buckets for requests and tokens per minute, a
shared pause for ``retry-after``, and which failures are retried how.

The arithmetic is pure and takes the time as an argument, so it is tested
without waiting; the async wrappers only sleep for what it computes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..backoff import RETRY_STATUSES, asked_wait, jittered_backoff
from ..errors import (
    AuthenticationError,
    ConnectionError,
    HFInferenceError,
    PaymentRequiredError,
    ResponseError,
    StreamError,
    TimeoutError,
)

__all__ = ["AdaptiveLimit", "Pause", "RetryRules", "TokenBucket", "Verdict"]


class Verdict:
    RETRY = "retry"
    FAIL = "fail"
    STOP = "stop"


@dataclass(frozen=True)
class RetryRules:
    """Which failures are retried, how often, and after how long.

    408/429/5xx, broken connections and timeouts are retried up to
    ``max_attempts`` attempts in all, after ``retry-after`` when the server
    gave one (capped by ``max_retry_after``), else after a jittered
    exponential backoff in ``[0, min(cap, base * 2**retry)]``. Other 4xx fail
    the row at once; 402 (credits used up) and 401 (a refused token) stop the run.
    """

    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_after: float = 300.0

    def verdict(self, error: BaseException) -> str:
        """RETRY, FAIL or STOP for one failed attempt."""
        if isinstance(error, PaymentRequiredError):
            return Verdict.STOP
        if isinstance(error, AuthenticationError):
            # A refused token (401) fails every row alike; a 403 is one model's
            # (gated, too large) and fails only the rows that ask for it.
            return Verdict.STOP if error.status == 401 else Verdict.FAIL
        if isinstance(error, (ConnectionError, TimeoutError)):
            return Verdict.RETRY
        if isinstance(error, StreamError) and error.status in (None, 200):
            return Verdict.RETRY  # a whole answer came back broken: nothing was delivered
        if isinstance(error, ResponseError):
            return Verdict.RETRY if error.status in RETRY_STATUSES else Verdict.FAIL
        return Verdict.FAIL

    def delay(
        self, retry: int, error: HFInferenceError, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds before retry number ``retry`` (0-based) after ``error``."""
        asked = asked_wait(error)
        if asked is not None:
            # A little jitter on top, so the rows that waited do not return at once.
            return min(asked, self.max_retry_after) + 0.1 * rand()
        return jittered_backoff(retry, self.backoff_base, self.backoff_cap, rand)


class AdaptiveLimit:
    """At most ``limit`` requests in flight; the limit halves on a 429 (once per
    round of requests) and grows by one per ``limit`` successes, up to ``maximum``."""

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self.limit = float(maximum)
        self.in_flight = 0
        self.epoch = 0  # bumped by each halving: a 429 from before it does not halve again
        self._changed = asyncio.Event()

    async def acquire(self) -> int:
        """Wait for a free slot; returns the epoch the request starts in."""
        while self.in_flight >= int(self.limit):
            self._changed.clear()
            await self._changed.wait()
        self.in_flight += 1
        return self.epoch

    def release(self) -> None:
        self.in_flight -= 1
        self._changed.set()

    def on_success(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)
        self._changed.set()

    def on_throttle(self, epoch: int) -> None:
        """A 429 for a request that started in ``epoch``: halve, once per epoch."""
        if epoch == self.epoch:
            self.limit = max(float(self.minimum), self.limit / 2)
            self.epoch += 1


class TokenBucket:
    """``rate`` units a minute, at most ``burst`` saved up (default: a tenth of a
    second's worth, at least one: a steady pace, since a provider's window may be
    shorter than a minute). :meth:`reserve` is pure; :meth:`take` sleeps for it."""

    def __init__(self, per_minute: float, burst: float | None = None, now: float = 0.0) -> None:
        if per_minute <= 0:
            raise ValueError("a rate must be positive")
        self.rate = per_minute / 60.0
        self.capacity = burst if burst is not None else max(1.0, self.rate / 10)
        self.tokens = self.capacity
        self.stamp = now

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount`` (may go into debt); seconds to wait before using it."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self, amount: float) -> None:
        """Give back (or, negative, charge) what an estimate got wrong."""
        self.tokens = min(self.capacity, self.tokens + amount)

    async def take(self, amount: float) -> None:
        wait = self.reserve(amount, asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)


class Pause:
    """A pause every sender honours: set by a ``retry-after``, ends by itself."""

    def __init__(self) -> None:
        self.until = 0.0

    def hold(self, seconds: float) -> None:
        self.until = max(self.until, asyncio.get_running_loop().time() + seconds)

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        # Polling, not an Event: another 429 may push the end later while we sleep.
        while (left := self.until - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)
