"""``hfinfer.__all__``, pinned: a name added or dropped is a decision, made here
(as httpx's test_exported_members does)."""

from __future__ import annotations

import hfinfer
from hfinfer import errors

EXPECTED = [
    "APIConnectionError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncGeneratorProvider",
    "AuthenticationError",
    "CertificateError",
    "ChatChoice",
    "ChatResponse",
    "ChatStream",
    "ChoiceChunk",
    "Chunk",
    "EmbeddingResponse",
    "EndpointGoneError",
    "FinishReason",
    "HFInferenceError",
    "HtmlResponseError",
    "HuggingFaceInference",
    "HuggingFaceRouter",
    "ImageResponse",
    "InvalidRequestError",
    "Logprobs",
    "Message",
    "Messages",
    "MissingAuthError",
    "ModelInfo",
    "ModelLoadingError",
    "ModelNotFoundError",
    "ModelNotSupportedError",
    "NameResolutionError",
    "OfflineCacheMiss",
    "PaymentRequiredError",
    "ProviderMapping",
    "ProviderModelMixin",
    "ProviderOffer",
    "RateLimitError",
    "Reasoning",
    "RenderedPrompt",
    "ResponseError",
    "RetryPolicy",
    "RouterModel",
    "ServerError",
    "StreamError",
    "TemplateError",
    "TimeoutError",
    "Timeouts",
    "TokenLogprob",
    "ToolCall",
    "ToolCalls",
    "Usage",
    "ValidationError",
    "__version__",
    "chat",
    "embed",
    "format_prompt",
    "format_prompt_custom",
    "format_prompt_llama",
    "format_prompt_mistral",
    "format_prompt_qwen",
    "format_prompt_qwen2",
    "get_inputs",
    "render_chat_template",
]


def test_all_is_pinned() -> None:
    assert hfinfer.__all__ == EXPECTED


def test_every_exported_name_is_defined() -> None:
    for name in hfinfer.__all__:
        assert getattr(hfinfer, name) is not None, name
    public = {name for name in dir(hfinfer) if not name.startswith("_")}
    assert set(hfinfer.__all__) - {"__version__"} <= public


def test_every_error_class_is_exported() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, errors.HFInferenceError)
        and not name.startswith("_")
    }
    # The builtins' namesakes are exported under names that do not shadow them.
    assert classes - {"ConnectionError"} <= set(hfinfer.__all__)
    assert hfinfer.APIConnectionError is errors.ConnectionError is errors.APIConnectionError
    assert hfinfer.APITimeoutError is errors.TimeoutError is hfinfer.TimeoutError
    assert set(errors.__all__) - {"error_from_response", "STATUS_ERRORS"} <= classes | {
        "APIConnectionError",
        "APITimeoutError",
        "MissingAuthError",
    }


def test_every_http_born_error_carries_its_answer() -> None:
    for status, kind in errors.STATUS_ERRORS.items():
        error = errors.error_from_response(
            status,
            b'{"error": "no"}',
            headers={"x-request-id": "r-1"},
            url="http://127.0.0.1:9/x",
            model="org/m",
        )
        assert type(error) is kind, status
        assert (error.status, error.url, error.request_id) == (  # type: ignore[attr-defined]
            status,
            "http://127.0.0.1:9/x",
            "r-1",
        )
