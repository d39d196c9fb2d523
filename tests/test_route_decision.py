"""The one decision of where a call goes (protocol.routing.decide_route), pure."""

from __future__ import annotations

import pytest

from hfinfer.errors import InvalidRequestError
from hfinfer.protocol.routing import decide_route

ROUTER = "https://router.huggingface.co"
INFERENCE = ROUTER + "/hf-inference"
HUB = "https://huggingface.co"


def decide(api_base: str | None, route: str | None = None) -> tuple[str, str | None, str, bool]:
    got = decide_route(api_base, route, router=ROUTER, inference_base=INFERENCE, trusted=(HUB,))
    return got.kind, got.protocol, got.base, got.hf


@pytest.mark.parametrize(
    ("api_base", "route", "expected"),
    [
        (None, None, ("router", "openai", ROUTER, True)),
        (None, "tgi", ("hf-inference", "tgi", INFERENCE, True)),
        (ROUTER + "/v1/", "auto", ("router", "openai", ROUTER, True)),
        (INFERENCE, None, ("hf-inference", "tgi", INFERENCE, True)),
        (
            "https://abc.us-east-1.aws.endpoints.huggingface.cloud/v1",
            None,
            ("endpoint", None, "https://abc.us-east-1.aws.endpoints.huggingface.cloud", True),
        ),
        ("http://localhost:11434/v1", None, ("own", None, "http://localhost:11434", False)),
        ("http://localhost:8000/v1", "openai", ("own", "openai", "http://localhost:8000", False)),
        ("http://localhost:8000", "router", ("own", "openai", "http://localhost:8000", False)),
        ("http://localhost:8080/", "tgi", ("own", "tgi", "http://localhost:8080", False)),
        (
            "https://endpoints.huggingface.cloud.evil.example",
            None,
            ("own", None, "https://endpoints.huggingface.cloud.evil.example", False),
        ),
    ],
)
def test_where_a_call_goes(
    api_base: str | None, route: str | None, expected: tuple[str, str | None, str, bool]
) -> None:
    assert decide(api_base, route) == expected


def test_a_configured_router_counts_as_the_router_by_origin() -> None:
    local = "http://127.0.0.1:5000"
    got = decide_route(local + "/v1", None, router=local, inference_base=INFERENCE)
    assert (got.kind, got.hf) == ("router", True)
    other = decide_route("http://127.0.0.1:5001", None, router=local, inference_base=INFERENCE)
    assert (other.kind, other.hf) == ("own", False)


def test_an_unknown_route_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="route must be one of"):
        decide("http://localhost:8000", "grpc")
