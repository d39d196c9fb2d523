"""Chat without caring which route serves the model: :class:`AsyncClient` and :func:`chat`.

The route is chosen per client, in one place (:func:`hfinfer.protocol.routing.decide_route`):
the Inference Providers router
(:class:`~hfinfer.providers.hf_router.HuggingFaceRouter`, chat completions,
the server applies the chat template) unless ``api_base`` names another
server. Hugging Face's own text-generation route (``/hf-inference``) speaks
text generation by model id; any other server (an Inference Endpoint, or one
of the user's own: llama.cpp, vLLM, ollama, TGI) speaks OpenAI's chat
protocol or TGI's, found out once per base (``GET /v1/models``, else ``GET
/info``) or named with ``route="openai"`` / ``route="tgi"``. A server of the
user's own gets no Hub request, the model name as given and only the key
passed for it.

Both faces follow OpenAI's client: awaiting ``chat(...)`` gives a whole
:class:`ChatResponse`; with ``stream=True`` it gives a :class:`ChatStream`,
an async iterator of the stream vocabulary (``str``, ``Reasoning``,
``ToolCalls``, ``Usage``, ``FinishReason``, ``ImageResponse``).

>>> reply = await hfinfer.chat("meta-llama/Llama-3.1-8B-Instruct", "Hi")
>>> print(reply.text)
>>> async with await hfinfer.chat(model, messages, stream=True) as stream:
...     async for chunk in stream:
...         if isinstance(chunk, str):
...             print(chunk, end="")
"""

from __future__ import annotations

from .answers import ChatChoice, ChatResponse
from .async_client import AsyncClient
from .calls import chat, embed
from .routing import Route as Route  # the route names, for annotations
from .routing import choose_route
from .stream import ChatStream

__all__ = [
    "AsyncClient",
    "ChatChoice",
    "ChatResponse",
    "ChatStream",
    "chat",
    "choose_route",
    "embed",
]
