"""hfinfer: async, streaming access to models hosted on Hugging Face.

>>> from hfinfer import HuggingFaceInference
>>> async for chunk in HuggingFaceInference.create_async_generator(model, messages):
...     print(chunk, end="")
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .config import Timeouts
from .errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    CertificateError,
    EndpointGoneError,
    HFInferenceError,
    HtmlResponseError,
    InvalidRequestError,
    MissingAuthError,
    ModelLoadingError,
    ModelNotFoundError,
    ModelNotSupportedError,
    NameResolutionError,
    OfflineCacheMiss,
    PaymentRequiredError,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
    TemplateError,
    TimeoutError,
    ValidationError,
)
from .http.retry import RetryPolicy
from .prompts.families import (
    format_prompt,
    format_prompt_custom,
    format_prompt_llama,
    format_prompt_mistral,
    format_prompt_qwen,
    format_prompt_qwen2,
)
from .providers.base import AsyncGeneratorProvider, ProviderModelMixin
from .types import (
    ChoiceChunk,
    Chunk,
    EmbeddingResponse,
    FinishReason,
    ImageResponse,
    Logprobs,
    Message,
    Messages,
    ModelInfo,
    ProviderMapping,
    ProviderOffer,
    Reasoning,
    RenderedPrompt,
    RouterModel,
    TokenLogprob,
    ToolCall,
    ToolCalls,
    Usage,
)

if TYPE_CHECKING:
    from .client import AsyncClient, ChatChoice, ChatResponse, ChatStream, chat, embed
    from .prompts.chat_template import render_chat_template
    from .prompts.select import get_inputs
    from .providers.hf_inference import HuggingFaceInference
    from .providers.hf_router import HuggingFaceRouter

# Loaded on first use: the HTTP stack and Jinja cost more to import than the
# rest of the package together, and `import hfinfer` should stay quick.
_LAZY = {
    "AsyncClient": "hfinfer.client",
    "ChatChoice": "hfinfer.client",
    "ChatResponse": "hfinfer.client",
    "ChatStream": "hfinfer.client",
    "HuggingFaceInference": "hfinfer.providers.hf_inference",
    "HuggingFaceRouter": "hfinfer.providers.hf_router",
    "chat": "hfinfer.client",
    "embed": "hfinfer.client",
    "get_inputs": "hfinfer.prompts.select",
    "render_chat_template": "hfinfer.prompts.chat_template",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hfinfer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
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
