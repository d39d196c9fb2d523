"""``hfinfer models``: the models on offer."""

from __future__ import annotations

import click

from .common import run

__all__ = ["models"]


@click.command()
def models() -> None:
    """List the models offered (the fallback list when the Hub cannot be reached)."""
    import hfinfer  # the public provider: its list is the Hub's warm models

    names = run(hfinfer.HuggingFaceInference.get_models_async)
    for name in names:
        click.echo(name)
