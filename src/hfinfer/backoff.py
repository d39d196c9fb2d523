"""How long to wait before trying again, for every policy that retries: a single
request's (:mod:`hfinfer.http.retry`) and a batch's rows (:mod:`hfinfer.batch.rate`).

Pure arithmetic on hfinfer's errors: no I/O, no clock; the randomness is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .errors import HFInferenceError, ModelLoadingError, RateLimitError

__all__ = ["RETRY_STATUSES", "asked_wait", "jittered_backoff"]

#: Statuses that say "try again": request timeout, rate limit, and gateway/server
#: trouble. 402 (credits), 403 (too large, gated) and 410 (retired) never pass.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def asked_wait(error: HFInferenceError | None) -> float | None:
    """The wait the server asked for, in seconds (``retry-after`` of a 429, the
    ``estimated_time`` of a loading model), never negative; ``None`` when it asked
    for none. A NaN (``"estimated_time": "nan"`` passes ``float()``) is none."""
    asked = None
    if isinstance(error, RateLimitError):
        asked = error.retry_after
    elif isinstance(error, ModelLoadingError):
        asked = error.estimated_time
    if asked is None or math.isnan(asked):
        return None
    return max(asked, 0.0)


def jittered_backoff(retry: int, base: float, cap: float, rand: Callable[[], float]) -> float:
    """A wait drawn from ``[0, min(cap, base * 2**retry)]`` before retry number
    ``retry`` (0-based): full jitter, so clients that failed together do not return together."""
    return min(cap, base * 2**retry) * rand()
