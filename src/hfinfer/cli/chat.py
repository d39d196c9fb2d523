"""``hfinfer chat``: the answer on stdout as it streams, reasoning on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..client import ChatResponse
from ..errors import APITimeoutError, StreamError
from ..types import Chunk, ImageResponse, Reasoning
from .common import (
    api_base_option,
    api_key_option,
    err,
    make_client,
    messages_from,
    messages_options,
    model_option,
    require_token,
    route_option,
    run,
)

__all__ = ["chat"]


@click.command()
@click.argument("prompt", required=False)
@model_option
@messages_options
@click.option("--max-tokens", type=int, default=1024, show_default=True)
@click.option("--temperature", "-t", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--no-stream", is_flag=True, help="Wait for the whole answer.")
@click.option(
    "--continue",
    "do_continue",
    is_flag=True,
    help="Carry the last assistant message on (text-generation route).",
)
@route_option
@click.option("--provider", default=None, help="Router provider or policy (fastest, cheapest...).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: text, reasoning, finish reason, usage.",
)
@api_base_option
@api_key_option
def chat(
    prompt: str | None,
    model: str | None,
    system: str | None,
    messages_file: Path | None,
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
    no_stream: bool,
    do_continue: bool,
    route: str,
    provider: str | None,
    as_json: bool,
    api_base: str | None,
    api_key: str | None,
) -> None:
    """Stream the model's answer to PROMPT (reasoning, if any, goes to stderr)."""
    require_token(api_key, route, api_base, model or "")
    messages = messages_from(prompt, system, messages_file)
    options: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    if do_continue:
        options["action"] = "continue"
    if provider:
        options["provider"] = provider

    async def go() -> ChatResponse:
        async with make_client(route, api_base, api_key) as client:
            if no_stream:
                response = await client.chat(model or "", messages, **options)
                if not as_json:
                    _show(Reasoning(response.reasoning) if response.reasoning else "")
                    _show(response.text)
                return response
            stream = await client.chat(model or "", messages, stream=True, **options)
            async with stream:
                try:
                    async for chunk in stream:
                        if not as_json:
                            _show(chunk)
                except (StreamError, APITimeoutError):
                    if stream.response.text and not as_json:
                        click.echo()  # what arrived stays on stdout; the error follows
                    raise
            return stream.response

    _finish(run(go), as_json)


def _show(chunk: Chunk) -> None:
    """One chunk as it arrives: text on stdout, reasoning dimmed on stderr."""
    if isinstance(chunk, str):
        if chunk:
            click.echo(chunk, nl=False)
    elif isinstance(chunk, Reasoning) and chunk.token:
        click.secho(chunk.token, nl=False, err=True, dim=True)
    elif isinstance(chunk, ImageResponse):
        err("this model makes images: use `hfinfer image`")


def _finish(response: ChatResponse, as_json: bool) -> None:
    if as_json:
        usage = response.usage
        summary = {
            "text": response.text,
            "reasoning": response.reasoning or None,
            "finish_reason": response.finish_reason,
            "usage": None
            if usage is None
            else {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
            },
        }
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    click.echo()
    if response.finish_reason == "length":
        err("(stopped at the token limit; raise --max-tokens for more)")
