"""``hfinfer prompt``: the exact prompt the text-generation route would send."""

from __future__ import annotations

from pathlib import Path

import click

from ..client import AsyncClient
from ..types import RenderedPrompt
from .common import api_key_option, err, messages_from, messages_options, model_option, run

__all__ = ["prompt"]


@click.command()
@click.argument("prompt", required=False)
@model_option
@messages_options
@click.option(
    "--continue", "do_continue", is_flag=True, help="End the prompt inside the last message."
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
