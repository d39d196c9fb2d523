"""RetryPolicy alone: which failures are retried, and how long each wait is. No I/O."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfinfer.errors import (
    AuthenticationError,
    ConnectionError,
    EndpointGoneError,
    HFInferenceError,
    HtmlResponseError,
    InvalidRequestError,
    ModelLoadingError,
    ModelNotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
    TimeoutError,
    ValidationError,
    error_from_response,
)
from hfinfer.http.retry import RETRY_STATUSES, RetryPolicy

POLICY = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_cap=8.0, max_wait=60.0)
#: No example database: the run writes nothing into the working tree.
PROPERTY = settings(database=None, deadline=None)


def answer(status: int, body: object = None, **headers: str) -> HFInferenceError:
    raw = json.dumps(body if body is not None else {"error": "x"}).encode()
    return error_from_response(
        status, raw, content_type="application/json", headers=headers, url="http://h/x"
    )


# -- which failures are retried -----------------------------------------------------------


def test_the_retryable_statuses_are_exactly_the_documented_ones() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRY_STATUSES


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    assert POLICY.is_retryable(answer(status))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": "bad"}, ValidationError),
        (401, {"error": "Invalid credentials"}, AuthenticationError),
        (402, {"error": "You have exceeded your monthly included credits"}, PaymentRequiredError),
        (403, {"error": "Access to this repo is restricted"}, AuthenticationError),
        (403, {"error": "The model org/huge is too large to be loaded automatically"}, None),
        (404, {"error": "Model not found"}, ModelNotFoundError),
        (410, {"error": "api-inference.huggingface.co is no longer supported"}, EndpointGoneError),
        (413, {"error": "Payload too large"}, ValidationError),
        (422, {"error": "Input validation error", "error_type": "validation"}, ValidationError),
        (424, {"error": "Request failed during generation", "error_type": "generation"}, None),
    ],
)
def test_permanent_answers_are_not_retried(status: int, body: object, kind: type | None) -> None:
    error = answer(status, body)
    if kind is not None:
        assert isinstance(error, kind)
    assert not POLICY.is_retryable(error)
    assert not POLICY.should_retry(0, error, 0.0)


def test_model_loading_and_rate_limit_are_retried() -> None:
    loading = answer(503, {"error": "Model org/m is currently loading", "estimated_time": 20.0})
    assert isinstance(loading, ModelLoadingError) and loading.estimated_time == 20.0
    limited = answer(429, {"error": "Rate limit reached"}, **{"retry-after": "7"})
    assert isinstance(limited, RateLimitError) and limited.retry_after == 7.0
    assert POLICY.is_retryable(loading) and POLICY.is_retryable(limited)


def test_html_pages_follow_their_status() -> None:
    page = b"<!DOCTYPE html><html><body>Bad gateway</body></html>"
    gateway = error_from_response(502, page, content_type="text/html")
    denied = error_from_response(403, page, content_type="text/html")
    assert isinstance(gateway, HtmlResponseError) and isinstance(denied, HtmlResponseError)
    assert POLICY.is_retryable(gateway)
    assert not POLICY.is_retryable(denied)


def test_connection_failures_are_retried() -> None:
    assert POLICY.is_retryable(ConnectionError("refused"))


@pytest.mark.parametrize(
    ("phase", "retried"),
    [("connect", True), ("first_byte", False), ("stream_gap", False), ("total", False)],
)
def test_only_a_connect_timeout_is_retried(phase: str, retried: bool) -> None:
    # Past connect, the server may already be generating: sending again could
    # run (and bill) the generation twice.
    error = TimeoutError("slow", phase=phase, seconds=1.0)
    assert POLICY.is_retryable(error) is retried


def test_a_broken_stream_is_never_retried_whatever_its_status() -> None:
    # Something was delivered: a generation is not idempotent.
    for status in (None, 500, 503):
        error = StreamError("cut", status=status, partial_text="Hel", tokens_received=1)
        assert not POLICY.is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("x"),
        RuntimeError("x"),
        KeyboardInterrupt(),
        InvalidRequestError("bad argument"),
        ResponseError("no status"),
    ],
)
def test_other_failures_are_not_retried(error: BaseException) -> None:
    assert not POLICY.is_retryable(error)


# -- how many times -------------------------------------------------------------------------


def test_attempts_are_bounded_by_max_retries() -> None:
    policy = RetryPolicy(max_retries=2)
    error = ServerError("boom", status=502)
    assert [policy.should_retry(n, error, 0.0) for n in range(4)] == [True, True, False, False]


def test_max_retries_zero_turns_retrying_off() -> None:
    policy = RetryPolicy(max_retries=0)
    for error in (ServerError("x", status=503), ConnectionError("x"), RateLimitError("x")):
        assert not policy.should_retry(0, error, 0.0)


def test_total_time_is_bounded() -> None:
    policy = RetryPolicy(max_retries=100, max_total=10.0)
    error = ConnectionError("x")
    assert policy.should_retry(3, error, 9.99)
    assert not policy.should_retry(3, error, 10.0)
    assert not policy.should_retry(3, error, 50.0)


# -- how long each wait is ---------------------------------------------------------------


@PROPERTY
@given(retry=st.integers(0, 40), rand=st.floats(0.0, 1.0, exclude_max=True))
def test_backoff_is_full_jitter_inside_its_window(retry: int, rand: float) -> None:
    window = min(POLICY.backoff_cap, POLICY.backoff_base * 2**retry)
    delay = POLICY.delay(retry, ConnectionError("x"), rand=lambda: rand)
    assert 0.0 <= delay <= window
    assert delay == pytest.approx(window * rand)


def test_backoff_window_doubles_then_caps() -> None:
    top = [POLICY.delay(n, None, rand=lambda: 1.0) for n in range(7)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert POLICY.delay(3, None, rand=lambda: 0.0) == 0.0


def test_backoff_uses_random_jitter_by_default() -> None:
    delays = {POLICY.delay(4, None) for _ in range(50)}
    assert len(delays) > 1 and all(0 <= d <= 8.0 for d in delays)


def test_retry_after_is_honoured_and_capped() -> None:
    assert POLICY.delay(0, RateLimitError("x", retry_after=7.0)) == 7.0
    assert POLICY.delay(5, RateLimitError("x", retry_after=0.0)) == 0.0
    assert POLICY.delay(0, RateLimitError("x", retry_after=3600.0)) == POLICY.max_wait
    assert POLICY.delay(0, RateLimitError("x", retry_after=-5.0)) == 0.0


def test_a_rate_limit_without_retry_after_backs_off() -> None:
    assert POLICY.delay(2, RateLimitError("x", retry_after=None), rand=lambda: 0.5) == 1.0


def test_estimated_time_is_honoured_and_capped() -> None:
    assert POLICY.delay(0, ModelLoadingError("x", estimated_time=12.5)) == 12.5
    assert POLICY.delay(0, ModelLoadingError("x", estimated_time=98.9)) == POLICY.max_wait
    small = RetryPolicy(max_wait=0.25)
    assert small.delay(0, ModelLoadingError("x", estimated_time=98.9)) == 0.25


def test_estimated_time_from_a_real_answer_is_capped() -> None:
    loading = answer(503, {"error": "Model org/m is currently loading", "estimated_time": 98.9})
    assert RetryPolicy(max_wait=2.0).delay(0, loading) == 2.0


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_a_non_finite_wait_from_the_server_is_never_slept(value: str) -> None:
    # A string estimate is accepted by float(): "nan" must not become a NaN sleep.
    loading = answer(503, {"error": "loading", "estimated_time": value})
    limited = answer(429, {"error": "slow down"}, **{"retry-after": value})
    for error in (loading, limited):
        delay = RetryPolicy(max_wait=5.0).delay(0, error, rand=lambda: 0.5)
        assert 0.0 <= delay <= 5.0


def test_retry_after_http_date_and_ratelimit_header() -> None:
    limited = answer(429, {"error": "x"}, ratelimit='"api";r=0;t=42')
    assert isinstance(limited, RateLimitError) and limited.retry_after == 42.0
    assert POLICY.delay(0, limited) == 42.0
    dated = answer(429, {"error": "x"}, **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert isinstance(dated, RateLimitError) and dated.retry_after == 0.0


@PROPERTY
@given(
    retry_after=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    retry=st.integers(0, 1000),
)
def test_every_wait_is_finite_and_bounded(retry_after: float | None, retry: int) -> None:
    policy = RetryPolicy(backoff_cap=8.0, max_wait=60.0)
    for error in (
        RateLimitError("x", retry_after=retry_after),
        ModelLoadingError("x", estimated_time=retry_after),
        ServerError("x", status=502),
    ):
        delay = policy.delay(retry, error)
        assert 0.0 <= delay <= max(policy.max_wait, policy.backoff_cap)


@pytest.mark.parametrize(
    ("error", "request_wait", "row_wait"),
    [
        (RateLimitError("slow down", retry_after=7.0, status=429), 7.0, 7.0),
        (RateLimitError("slow down", retry_after=-3.0, status=429), 0.0, 0.0),
        (RateLimitError("slow down", retry_after=float("nan"), status=429), None, None),
        (RateLimitError("slow down", retry_after=1e9, status=429), 60.0, 300.0),
    ],
)
def test_a_request_and_a_batch_row_wait_what_the_server_asked(
    error: RateLimitError, request_wait: float | None, row_wait: float | None
) -> None:
    """One rule for the server's wait, each policy with its own cap; else a full-jitter
    backoff (rand=1 gives the window's top)."""
    from hfinfer.batch.rate import RetryRules

    request = RetryPolicy().delay(2, error, rand=lambda: 1.0)
    row = RetryRules().delay(2, error, rand=lambda: 0.0)
    assert request == (2.0 if request_wait is None else request_wait)  # 0.5 * 2**2
    assert row == (0.0 if row_wait is None else row_wait)
