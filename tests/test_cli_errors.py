"""Errors in the command line's own words: options, not arguments; no attribute names,
no reprs of other libraries' exceptions."""

from __future__ import annotations

from hfinfer.cli.errors import describe_error
from hfinfer.errors import (
    AuthenticationError,
    ConnectionError,
    HFInferenceError,
    ModelNotSupportedError,
    StreamError,
)


def test_partial_text_attribute_is_not_mentioned() -> None:
    error = StreamError(
        "The stream ended before its final event, after 2 tokens. The text so far is in "
        ".partial_text.",
        partial_text="Partial",
    )
    text = describe_error(error)
    assert ".partial_text" not in text and "after 2 tokens" in text
    assert "what arrived before is kept" in text


def test_arguments_become_options() -> None:
    error = AuthenticationError(
        "HTTP 401: bad token. A valid token with access to this model is needed: pass "
        "api_key=..., set HF_TOKEN, or run `hf auth login`.",
        status=401,
    )
    text = describe_error(error)
    assert "api_key" not in text and "pass --token, set HF_TOKEN" in text
    routed = describe_error(
        ModelNotSupportedError(
            "No Inference Provider serves org/x now. Choose a model from "
            "HuggingFaceRouter.get_models(), or run it on a dedicated endpoint with "
            "HuggingFaceInference(api_base=...). Pick one with provider=..., or not."
        )
    )
    assert "`hfinfer models`" in routed and "--api-base URL" in routed
    assert "--provider NAME" in routed and "HuggingFace" not in routed


def test_reprs_of_other_libraries_exceptions_are_unwrapped() -> None:
    error = ConnectionError(
        "Reading the stream from http://h/v1 failed: "
        "ClientPayloadError('Response payload is not completed', None)"
    )
    assert describe_error(error) == (
        "Reading the stream from http://h/v1 failed: Response payload is not completed"
    )


def test_anything_else_is_one_line_without_its_repr() -> None:
    assert describe_error(KeyError("https://h|org/m|model_info")) == (
        "unexpected KeyError; run with -v for the details"
    )
    assert describe_error(HFInferenceError("")) == "HFInferenceError"
