"""``hfinfer prompt``: the exact prompt the text-generation route would send."""

from __future__ import annotations

from pathlib import Path

import click

from ..client import AsyncClient
from ..types import RenderedPrompt
from .common import api_key_option, err, messages_from, messages_options, model_option, run

__all__ = ["prompt"]


@click.command(
    epilog="""\b
Examples:
  hfinfer prompt -m meta-llama/Llama-3.1-8B-Instruct -s "Be brief" "Hi"
  hfinfer prompt -m Qwen/Qwen2.5-7B-Instruct --messages chat.json --continue-final-message
"""
)
@click.argument("prompt", required=False)
@model_option
@messages_options
@click.option(
    "--continue-final-message",
    "do_continue",
    is_flag=True,
    help="End the prompt inside the last (assistant) message, to carry it on.",
)
@api_key_option
def prompt(
    prompt: str | None,
    model: str | None,
    system: str | None,
    messages_file: Path | None,
    do_continue: bool,
    api_key: str | None,
) -> None:
    """Print the exact prompt that would be sent, and (on stderr) what built it."""
    messages = messages_from(prompt, system, messages_file)
    options = {"action": "continue"} if do_continue else {}

    async def go() -> RenderedPrompt:
        async with AsyncClient(api_key=api_key, route="tgi") as client:
            return await client.render_prompt(model or "", messages, **options)

    built = run(go)
    click.echo(built.text, nl=False)
    err(f"\n[{built.model}: {built.source}]")
