"""The text-generation exchange of ``HuggingFaceInference``: the request's
parameters, the stream read into text chunks, and one retry with a smaller
``max_new_tokens`` when the prompt and the limit overflow the context."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from ..errors import InvalidRequestError, StreamError, ValidationError
from ..http.session import Exchange, HttpClient
from ..model_info import model_type as model_type_of
from ..protocol import tgi
from ..protocol.parameters import apply_aliases
from ..types import Chunk

__all__ = ["generate_text", "text_parameters"]

logger = logging.getLogger(__name__)

#: Keyword arguments the image route uses; the text route ignores them quietly.
IMAGE_OPTIONS = ("negative_prompt", "num_inference_steps", "guidance_scale", "scheduler")


def text_parameters(
    model_data: Mapping[str, Any],
    max_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    extra: Mapping[str, Any],
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    """The request's ``parameters`` from the call's arguments; TGI knobs are taken
    out of ``kwargs`` under their protocol names, the others named in a warning."""
    apply_aliases(kwargs)
    if "max_tokens" in kwargs:  # from the max_new_tokens alias
        max_tokens = kwargs.pop("max_tokens")
    answers = kwargs.pop("n", None)
    if answers not in (None, 1):
        raise InvalidRequestError(
            f"n={answers}: the text-generation protocol makes one answer per request. "
            "Use the OpenAI route (route='openai') for several, or send several requests."
        )
    knobs = {k: kwargs[k] for k in tgi.GENERATION_PARAMETERS if k in kwargs}
    ignored = set(kwargs) - tgi.GENERATION_PARAMETERS - {"tools"} - set(IMAGE_OPTIONS)
    if ignored:
        logger.warning(
            "not sent (not parameters of the text-generation protocol): %s; pass "
            "extra_data={...} to send them in `parameters` as they are",
            ", ".join(sorted(ignored)),
        )
    model_type = model_type_of(model_data)
    if model_type == "gpt2" and max_tokens is not None and max_tokens >= 1024:
        max_tokens = 512  # gpt2's whole context is 1024 tokens
    return tgi.build_parameters(
        max_new_tokens=max_tokens, temperature=temperature, seed=seed, extra=extra, **knobs
    )


async def generate_text(
    http: HttpClient,
    url: str,
    model: str,
    prompt: str,
    params: dict[str, Any],
    stream: bool,
    do_continue: bool,
    exchange: Exchange | None = None,
) -> AsyncGenerator[Chunk, None]:
    """POST the prompt to ``url`` and yield the answer (streamed or whole) as chunks.

    When the prompt and the limit overflow the context (TGI says so when the exchange
    opens), it is sent once more with ``max_new_tokens`` clamped to what fits. One
    generator from the socket to the caller: each layer costs every event."""
    payload = {"inputs": prompt, "parameters": params, "stream": stream}
    fitted = False
    while True:
        opened = False
        try:
            async with http.open(
                "POST",
                url,
                json=payload,
                stream=stream,
                model=model,
                exchange=exchange,
                expect="event-stream",
            ) as response:
                opened = True
                if not stream or "event-stream" not in response.headers.get("content-type", ""):
                    text, tail = tgi.decode_generation(await http.read_json(response))
                    if text:
                        yield text
                    for item in tail:
                        yield item
                    return
                state = tgi.TextStream(do_continue)
                decode, read = state.read, response.content.readany
                with http.reading(response, state.progress):
                    while True:
                        chunk = await read()
                        try:
                            text = decode(chunk) if chunk else state.close()
                        except StreamError as exc:
                            raise _with_text(exc, state) from None
                        if text:
                            yield text
                        if state.error is not None:
                            raise state.error
                        if not chunk:
                            break
                for item in state.finish():
                    yield item
                return
        except ValidationError as exc:
            if opened or fitted or not _fit(payload, exc):
                raise
            fitted = True


def _fit(payload: dict[str, Any], error: ValidationError) -> bool:
    """Clamp ``payload``'s ``max_new_tokens`` to what the context has room for, as
    TGI's refusal says; whether it could."""
    fitted = tgi.fit_max_new_tokens(str(error))
    if fitted is None:
        return False
    params = payload["parameters"]
    logger.info(
        "max_new_tokens %s does not fit the context; using %d", params.get("max_new_tokens"), fitted
    )
    payload["parameters"] = {**params, "max_new_tokens": fitted}
    return True


def _with_text(error: StreamError, state: tgi.TextStream) -> StreamError:
    """The parser's error, with the text the caller already has."""
    return StreamError(
        f"{error} (after {state.tokens} tokens)",
        partial_text=state.text,
        tokens_received=state.tokens,
    )
