"""``hfinfer image``: an image of PROMPT, written to a file."""

from __future__ import annotations

from pathlib import Path

import click

from ..types import ImageResponse
from .common import api_base_option, api_key_option, err, make_client, model_option, route_option
from .common import run as run_command

__all__ = ["image"]


@click.command()
@click.argument("prompt")
@model_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=Path("image"),
    show_default=True,
    help="File or folder; the extension follows the image type.",
)
@click.option("--width", type=int, default=None)
@click.option("--height", type=int, default=None)
@click.option("--aspect-ratio", default=None, help="e.g. 16:9")
@click.option("--seed", type=int, default=None)
@route_option
@api_base_option
@api_key_option
def image(
    prompt: str,
    model: str | None,
    output: Path,
    width: int | None,
    height: int | None,
    aspect_ratio: str | None,
    seed: int | None,
    route: str,
    api_base: str | None,
    api_key: str | None,
) -> None:
    """Generate an image from PROMPT and write it to --output.

    Through the router, the Hub's provider mapping picks who makes it; with
    --api-base, the text-to-image task route there (hf-inference's protocol).
    """

    async def go() -> ImageResponse:
        async with make_client(route, api_base, api_key) as client:
            return await client.image(
                model, prompt, width=width, height=height, aspect_ratio=aspect_ratio, seed=seed
            )

    result = run_command(go)
    path = result.save(output)
    click.echo(str(path))
    seed_used = result.options.get("seed")
    if seed_used is not None:
        err(f"seed {seed_used}")
