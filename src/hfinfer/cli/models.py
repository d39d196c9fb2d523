"""``hfinfer models``: the models on offer; ``hfinfer models info MODEL``: a model's
tasks and providers."""

from __future__ import annotations

import json

import click

from ..client import AsyncClient
from ..types import ModelInfo
from .common import api_key_option, run

__all__ = ["models"]


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the models offered (the fallback list when the Hub cannot be reached)."""
    if ctx.invoked_subcommand is not None:
        return
    import hfinfer  # the public provider: its list is the Hub's warm models

    names = run(hfinfer.HuggingFaceInference.get_models_async)
    for name in names:
        click.echo(name)


@models.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as one JSON object.")
@api_key_option
def info(model: str, as_json: bool, api_key: str | None) -> None:
    """Show MODEL's pipeline tag, and the tasks and providers the Hub routes it to
    (with "yes" where hfinfer speaks that provider's task)."""

    async def go() -> ModelInfo:
        async with AsyncClient(api_key=api_key) as client:
            return await client.model_info(model)

    found = run(go)
    if as_json:
        providers = [
            {
                "provider": p.provider,
                "task": p.task,
                "status": p.status,
                "provider_id": p.provider_id,
                "hfinfer": p.speaks,
            }
            for p in found.providers
        ]
        summary = {"id": found.id, "pipeline_tag": found.pipeline_tag, "tasks": list(found.tasks)}
        click.echo(json.dumps({**summary, "providers": providers}, ensure_ascii=False))
        return
    click.echo(f"{found.id}  (pipeline tag: {found.pipeline_tag or 'none'})")
    if not found.providers:
        click.echo("no Inference Provider serves it; run it on a server of your own")
        return
    click.echo(f"tasks: {', '.join(found.tasks)}")
    width = max(len(p.provider) for p in found.providers)
    for p in found.providers:
        spoken = "yes" if p.speaks else "no"
        click.echo(
            f"  {p.provider:<{width}}  {p.task or '?':<20} {p.status or '?':<8} "
            f"hfinfer: {spoken:<3}  {p.provider_id or ''}"
        )
