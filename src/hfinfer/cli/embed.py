"""``hfinfer embed``: one vector per input, as JSON lines (or one JSON object)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..types import EmbeddingResponse
from .common import api_base_option, api_key_option, make_client, model_option, route_option, run

__all__ = ["embed"]


@click.command(
    epilog="""\b
Examples:
  hfinfer embed -m BAAI/bge-small-en-v1.5 "first text" "second text"
  hfinfer embed -m BAAI/bge-small-en-v1.5 --file lines.txt --json
"""
)
@click.argument("texts", nargs=-1)
@model_option
@click.option(
    "--file",
    "-f",
    "input_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Read the inputs from FILE, one per line (- for stdin).",
)
@click.option("--provider", default=None, help="Router provider (hf-inference, together...).")
@click.option("--dimensions", type=int, default=None, help="Vector length, where supported.")
@click.option("--batch-size", type=int, default=None, help="Inputs per request.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object (model, provider, usage, vectors) instead of a vector per line.",
)
@route_option
@api_base_option
@api_key_option
def embed(
    texts: tuple[str, ...],
    model: str | None,
    input_file: Path | None,
    provider: str | None,
    dimensions: int | None,
    batch_size: int | None,
    as_json: bool,
    route: str,
    api_base: str | None,
    api_key: str | None,
) -> None:
    """Embed TEXTS (or the lines of --file): one JSON array per input on stdout, in order."""
    inputs = list(texts) + _read_lines(input_file)
    if not inputs:
        raise click.UsageError("give TEXTS, or --file FILE (one input per line)")
    if not model:
        raise click.UsageError("give --model, e.g. -m BAAI/bge-small-en-v1.5")
    options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}

    async def go() -> EmbeddingResponse:
        async with make_client(route, api_base, api_key) as client:
            return await client.embed(
                model, inputs, provider=provider, dimensions=dimensions, **options
            )

    result = run(go)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    for vector in result.vectors:
        click.echo(json.dumps(vector))


def _read_lines(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}") from exc
    return [line for line in text.splitlines() if line.strip()]
