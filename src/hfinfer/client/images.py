"""Images: a prompt sent through the chat provider, which draws it (the router's
mapping, or the text-to-image task at ``api_base``)."""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import ModelNotSupportedError
from ..types import ImageResponse
from .connection import Connection

__all__ = ["draw_image"]


async def draw_image(
    conn: Connection,
    model: str | None,
    prompt: str,
    *,
    provider: str | None,
    negative_prompt: str | None,
    steps: int | None,
    **options: Any,
) -> ImageResponse:
    """:meth:`AsyncClient.image`, for the client's connection: the first image the
    provider answers with (``options``: the seed's keywords and the provider's)."""
    if provider is not None:
        options["provider"] = provider
    for name, value in (("negative_prompt", negative_prompt), ("num_inference_steps", steps)):
        if value is not None:
            options[name] = value
    chat_provider = await conn.chat_provider()
    chunks = chat_provider.create_async_generator(
        model or chat_provider.default_image_model,
        [{"role": "user", "content": prompt}],
        prompt=prompt,
        **options,
    )
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            if isinstance(chunk, ImageResponse):
                return chunk
    raise ModelNotSupportedError(
        f"{model or 'the model'} answered with text, not an image: it is a chat model "
        "(use chat(), or `hfinfer chat`)",
        model=model,
    )
