"""``hfinfer image``: an image of PROMPT, written to a file that ``-o`` decides."""

from __future__ import annotations

from pathlib import Path

import click

from ..types import ImageResponse
from .common import (
    api_base_option,
    api_key_option,
    err,
    make_client,
    model_option,
    require_token,
    route_option,
)
from .common import run as run_command
from .image_output import check_target, plan_target

__all__ = ["image"]


@click.command(
    epilog="""\\b
Examples:
  hfinfer image "a red fox in snow"                 writes a-red-fox-in-snow.png here
  hfinfer image "a red fox" -o pictures/            a generated name in that folder
  hfinfer image "a red fox" -o fox.png --seed 7     that file (never overwritten without --force)
  hfinfer image "a red fox" -m black-forest-labs/FLUX.1-schnell --aspect-ratio 16:9
"""
)
@click.argument("prompt")
@model_option
@click.option(
    "--output",
    "-o",
    "raw_output",
    type=click.Path(),
    default=None,
    help="A file, or a folder for a generated name (default: here). The extension "
    "follows the image's real type.",
)
@click.option("--force", is_flag=True, help="Overwrite the file if it exists.")
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
    raw_output: str | None,
    force: bool,
    width: int | None,
    height: int | None,
    aspect_ratio: str | None,
    seed: int | None,
    route: str,
    api_base: str | None,
    api_key: str | None,
) -> None:
    """Generate an image from PROMPT and write it to a file; its path goes to stdout.

    Through the router, the Hub's provider mapping picks who makes it; with
    --api-base, the text-to-image task route there (hf-inference's protocol).
    """
    # Read -o as typed: Path("dir/") drops the slash that says "a folder".
    raw = raw_output
    output = Path(raw_output) if raw_output else None
    problem = check_target(output, raw, force)
    if problem:  # said before anything is sent, so no image is paid for and lost
        raise click.ClickException(problem)
    require_token(api_key, route, api_base, model or "")

    async def go() -> ImageResponse:
        async with make_client(route, api_base, api_key) as client:
            return await client.image(
                model, prompt, width=width, height=height, aspect_ratio=aspect_ratio, seed=seed
            )

    result = run_command(go)
    try:
        body, media_type = result.data()
    except ValueError:  # a URL the provider left for us to fetch
        click.echo(result.url)
        err("the provider gave a link, not the image; its URL is above")
        return
    target = plan_target(output, raw, prompt, media_type, force=force)
    try:
        target.path.write_bytes(body)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target.path}: {exc.strerror or exc}") from exc
    click.echo(str(target.path))
    if target.note:
        err(target.note)
    seed_used = result.options.get("seed")
    if seed_used is not None:
        err(f"seed {seed_used}")

