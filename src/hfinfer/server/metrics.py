"""Prometheus metrics of one gateway process (``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .exchange import Exchange

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """Requests, errors, tokens and latency histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("hfinfer_requests", "Requests answered, by route and status",
                                ["route", "status"], registry=self.registry)  # fmt: skip
        self.errors = Counter("hfinfer_errors", "Requests that failed, by route and error code",
                              ["route", "code"], registry=self.registry)  # fmt: skip
        self.tokens = Counter("hfinfer_tokens", "Tokens relayed, by route and kind",
                              ["route", "kind"], registry=self.registry)  # fmt: skip
        self.duration = Histogram("hfinfer_request_duration_seconds", "Whole request time",
                                  ["route"], buckets=_LATENCY_BUCKETS,
                                  registry=self.registry)  # fmt: skip
        self.ttft = Histogram("hfinfer_time_to_first_token_seconds",
                              "Time until the first token was sent", ["route"],
                              buckets=_LATENCY_BUCKETS, registry=self.registry)  # fmt: skip

    def observe(self, exchange: Exchange) -> None:
        """Count one finished request."""
        route = exchange.route
        self.requests.labels(route, str(exchange.status)).inc()
        if exchange.error_code is not None or exchange.status >= 400:
            self.errors.labels(route, exchange.error_code or str(exchange.status)).inc()
        if exchange.prompt_tokens:
            self.tokens.labels(route, "prompt").inc(exchange.prompt_tokens)
        if exchange.completion_tokens:
            self.tokens.labels(route, "completion").inc(exchange.completion_tokens)
        self.duration.labels(route).observe(exchange.elapsed())
        if exchange.ttft is not None:
            self.ttft.labels(route).observe(exchange.ttft)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
