"""The one retry policy every request uses: which failures to retry, and how long to wait.

Pure: no I/O and no clock of its own, so it is tested without a server.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ..backoff import RETRY_STATUSES, asked_wait, jittered_backoff
from ..errors import (
    CertificateError,
    ConnectionError,
    HFInferenceError,
    NameResolutionError,
    ResponseError,
    StreamError,
    TimeoutError,
)

__all__ = ["RETRY_STATUSES", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time.

    - ``max_retries``: retries after the first attempt (0 turns retrying off).
    - ``backoff_base``/``backoff_cap``: the jitter window is
      ``[0, min(cap, base * 2**retry)]``.
    - ``max_wait``: the cap on one wait that the server asked for (``Retry-After``,
      ``estimated_time`` of a loading model).
    - ``max_total``: the budget in seconds, from the first attempt: no retry starts
      whose wait would end after it (slow attempts count as well as waits).
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_wait: float = 60.0
    max_total: float = 120.0

    def is_retryable(self, error: BaseException) -> bool:
        """Whether a failed attempt may be tried again (before anything was delivered)."""
        if isinstance(error, TimeoutError):
            return error.phase == "connect"
        if isinstance(error, (CertificateError, NameResolutionError)):
            return False  # neither a certificate nor an unknown host gets better on a retry
        if isinstance(error, ConnectionError):
            return True
        if isinstance(error, StreamError):
            return False  # something was delivered: a generation is not idempotent
        if isinstance(error, ResponseError):
            return error.status in RETRY_STATUSES
        return False

    def delay(
        self, retry: int, error: HFInferenceError | None, rand: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry number ``retry`` (0-based) after ``error``."""
        asked = asked_wait(error)
        if asked is not None:
            return min(asked, self.max_wait)
        return jittered_backoff(retry, self.backoff_base, self.backoff_cap, rand)

    def should_retry(self, retry: int, error: BaseException, waited: float) -> bool:
        """True when retry number ``retry`` (0-based) may follow ``error``.

        ``waited``: seconds since the first attempt began, counting the wait
        that would come before this retry.
        """
        return retry < self.max_retries and waited < self.max_total and self.is_retryable(error)
