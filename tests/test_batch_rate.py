"""The batch's rate arithmetic, pure: token buckets, AIMD, retry verdicts and waits,
and the progress line."""

from __future__ import annotations

import asyncio

from hfinfer.batch.cost import PriceList, estimate_prompt_tokens, max_output_tokens
from hfinfer.batch.progress import Progress
from hfinfer.batch.rate import AdaptiveLimit, RetryRules, TokenBucket, Verdict
from hfinfer.errors import (
    AuthenticationError,
    ConnectionError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    StreamError,
    TimeoutError,
    ValidationError,
)


def test_token_bucket_spaces_requests_at_the_rate() -> None:
    bucket = TokenBucket(per_minute=60, now=0.0)  # one a second, one saved up
    waits = [bucket.reserve(1, now=0.0) for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]
    assert bucket.reserve(1, now=10.0) == 0.0  # the debt was paid by waiting
    assert bucket.tokens == 0.0  # and no more than the burst is saved up


def test_token_bucket_refunds_what_an_estimate_overcharged() -> None:
    bucket = TokenBucket(per_minute=6000, burst=100, now=0.0)
    assert bucket.reserve(300, now=0.0) == 2.0  # 200 tokens of debt at 100/s
    bucket.refund(250)  # the answer used 50, not 300
    assert bucket.reserve(10, now=0.0) == 0.0


def test_aimd_halves_once_per_round_and_regrows_slowly() -> None:
    async def go() -> None:
        limit = AdaptiveLimit(16)
        epochs = [await limit.acquire() for _ in range(16)]
        for epoch in epochs:  # sixteen 429s from one round halve once
            limit.on_throttle(epoch)
        assert limit.limit == 8
        limit.on_throttle(limit.epoch)  # a 429 from the next round halves again
        assert limit.limit == 4
        for _ in range(4):
            limit.on_success()
        assert 4.9 < limit.limit < 5.1  # about one more per round of successes
        for _ in range(1000):
            limit.on_success()
        assert limit.limit == 16
        for _ in range(10):
            limit.on_throttle(limit.epoch)
        assert limit.limit == 1  # never below one

    asyncio.run(go())


def test_in_flight_is_bounded() -> None:
    async def go() -> int:
        limit = AdaptiveLimit(3)
        peak = 0

        async def one() -> None:
            nonlocal peak
            await limit.acquire()
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0)
            limit.release()

        await asyncio.gather(*(one() for _ in range(20)))
        return peak

    assert asyncio.run(go()) == 3


def test_verdicts() -> None:
    rules = RetryRules()
    retry = [RateLimitError("", status=429), ServerError("", status=503),
             ServerError("", status=500), ConnectionError("reset"),
             TimeoutError("", phase="first_byte", seconds=1.0),
             StreamError("cut", status=200)]  # fmt: skip
    assert {rules.verdict(e) for e in retry} == {Verdict.RETRY}
    assert rules.verdict(ValidationError("", status=400)) == Verdict.FAIL
    assert rules.verdict(ValidationError("", status=422)) == Verdict.FAIL
    assert rules.verdict(PaymentRequiredError("", status=402)) == Verdict.STOP
    assert rules.verdict(AuthenticationError("", status=401)) == Verdict.STOP
    assert rules.verdict(AuthenticationError("gated", status=403)) == Verdict.FAIL


def test_waits_honour_retry_after_and_back_off_with_jitter() -> None:
    rules = RetryRules(backoff_base=1.0, backoff_cap=8.0, max_retry_after=30.0)
    throttled = RateLimitError("", status=429, retry_after=2.5)
    assert 2.5 <= rules.delay(0, throttled, rand=lambda: 0.5) <= 2.6
    assert rules.delay(0, RateLimitError("", retry_after=999.0), rand=lambda: 0.0) == 30.0
    broken = ServerError("", status=502)
    assert [rules.delay(n, broken, rand=lambda: 1.0) for n in range(5)] == [1, 2, 4, 8, 8]
    assert rules.delay(3, broken, rand=lambda: 0.25) == 2.0


def test_token_estimates_and_prices() -> None:
    body = {"messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 50}
    assert estimate_prompt_tokens(body) == 104
    assert max_output_tokens(body) == 50
    assert max_output_tokens({"messages": []}) == 1024
    prices = PriceList({"org/m": {"cheap": (0.1, 0.2), "dear": (1.0, 2.0)}})
    assert prices.price("org/m:cheap") == (0.1, 0.2)
    assert prices.price("org/m", "cheap") == (0.1, 0.2)
    assert prices.price("org/m:fastest") == (1.0, 2.0)  # unknown provider: err high
    assert prices.cost("org/m", "dear", 1_000_000, 500_000) == 2.0
    assert prices.cost("org/other", None, 10, 10) is None


def test_progress_line_and_eta() -> None:
    progress = Progress(total=100, done=20, failed=5, in_flight=4, prompt_tokens=1500,
                        completion_tokens=500, cost=0.0123, started=0.0)  # fmt: skip
    line = progress.line(now=50.0)
    assert line == (
        "done 20/100 · failed 5 · in flight 4 · 2.0k tokens · $0.0123 · ETA 2m30s"
    )
    assert Progress().line().endswith("ETA ?")


def test_progress_prints_plain_lines_when_not_a_terminal() -> None:
    import io

    from hfinfer.batch.progress import print_progress

    stream = io.StringIO()
    progress = Progress(total=3)

    async def go() -> None:
        async with print_progress(progress, stream, interval=0.01):
            progress.done = 2
            await asyncio.sleep(0.2)
            progress.done = 3

    asyncio.run(go())
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert any(line.startswith("done 2/3 · failed 0") for line in lines)
    assert lines[-1].startswith("3 done, 0 failed, 0 skipped")


def test_hf_paths_map_to_resolve_urls() -> None:
    import pytest

    from hfinfer.errors import InvalidRequestError
    from hfinfer.hub.datasets import hf_path_url

    base = "http://127.0.0.1:9"
    assert hf_path_url("hf://datasets/org/data/train/0.parquet", base) == (
        f"{base}/datasets/org/data/resolve/main/train/0.parquet"
    )
    assert hf_path_url("hf://datasets/org/data@refs/convert/parquet/d/x.parquet", base) == (
        f"{base}/datasets/org/data/resolve/refs%2Fconvert%2Fparquet/d/x.parquet"
    )
    assert hf_path_url("hf://datasets/org/data@refs/pr/7/x.parquet", base) == (
        f"{base}/datasets/org/data/resolve/refs%2Fpr%2F7/x.parquet"
    )
    assert hf_path_url("hf://datasets/org/data@refs%2Fconvert%2Fparquet/d/t/0.parquet", base) == (
        f"{base}/datasets/org/data/resolve/refs%2Fconvert%2Fparquet/d/t/0.parquet"
    )
    assert hf_path_url("hf://datasets/org/data@v1.0/a b.parquet", base) == (
        f"{base}/datasets/org/data/resolve/v1.0/a%20b.parquet"
    )
    with pytest.raises(InvalidRequestError, match="names no file"):
        hf_path_url("hf://datasets/org/data", base)


def test_importing_the_batch_face_is_light() -> None:
    # Its layers are held by test_layers.py; here: neither aiohttp nor Ray at import.
    import subprocess
    import sys

    code = "import sys, hfinfer.batch; print('aiohttp' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
