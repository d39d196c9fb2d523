"""``hfinfer models``: what ``hfinfer chat`` can use (the router's catalogue), one model's
details, and the default model."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import HFInferenceError
from .defaults import default_model_file, save_default_model, saved_default_model
from .errors import describe_error
from .runner import LoopRunner

__all__ = ["models"]

#: Tasks the router's chat catalogue serves, and what each asks of a model's inputs.
CHAT_TASKS = {
    "conversational": None,
    "text-generation": None,
    "chat": None,
    "image-text-to-text": "image",
}


def _client(ctx: click.Context, token: str | None) -> Any:
    from .. import AsyncClient

    return AsyncClient(api_key=token, route="router")


def _run(call: Any) -> Any:
    runner = LoopRunner()
    try:
        return runner.run(call)
    except HFInferenceError as exc:
        raise click.ClickException(describe_error(exc)) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None
    finally:
        runner.close()


async def _catalogue(client: Any, refresh: bool) -> list[Any]:
    async with client:
        return list(await client.models(refresh=refresh))


def _matches(model: Any, task: str | None, search: str | None) -> bool:
    if search and search.lower() not in model.id.lower():
        return False
    if task is None:
        return True
    modality = CHAT_TASKS[task]
    if modality is None:
        return True
    architecture = model.raw.get("architecture") if isinstance(model.raw, dict) else None
    inputs = architecture.get("input_modalities") if isinstance(architecture, dict) else None
    return isinstance(inputs, list) and modality in inputs


def _price(offer: Any) -> str:
    if offer.input_price is None and offer.output_price is None:
        return "-"
    return f"${_number(offer.input_price)}/{_number(offer.output_price)}"


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _cheapest(model: Any) -> Any:
    live = [o for o in model.providers if o.status in (None, "live")] or list(model.providers)
    priced = [o for o in live if o.input_price is not None and o.output_price is not None]
    if not priced:
        return live[0] if live else None
    return min(priced, key=lambda o: (o.input_price + o.output_price, o.provider))


def _context(model: Any) -> str:
    lengths = [o.context_length for o in model.providers if o.context_length]
    return f"{max(lengths) // 1000}k" if lengths else "-"


def offer_dict(offer: Any) -> dict[str, Any]:
    """One provider's offer as JSON-ready values."""
    names = (
        "provider",
        "status",
        "context_length",
        "input_price",
        "output_price",
        "supports_tools",
        "supports_structured_output",
    )
    return {name: getattr(offer, name) for name in names}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@click.group(invoke_without_command=True, epilog=None)
@click.option(
    "--task",
    default=None,
    help="Only models for this task: a chat task (conversational, image-text-to-text...) "
    "from the router's catalogue, any other (text-to-image...) from the Hub's list.",
)
@click.option("--search", default=None, help="Only models whose id contains this.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list, with every provider.")
@click.option("--refresh", is_flag=True, help="Ask the router again (the list is cached).")
@click.option("--token", "--api-key", "token", default=None, help="Token (else HF_TOKEN).")
@click.pass_context
def models(
    ctx: click.Context,
    task: str | None,
    search: str | None,
    as_json: bool,
    refresh: bool,
    token: str | None,
) -> None:
    """The models `hfinfer chat` can use: the router's catalogue, with each model's
    providers, longest context and cheapest price (USD per million input/output tokens).

    \b
    Examples:
      hfinfer models --search qwen
      hfinfer models --task image-text-to-text --json | jq '.[].id'
      hfinfer models info meta-llama/Llama-3.1-8B-Instruct
      hfinfer models default Qwen/Qwen2.5-72B-Instruct
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"token": token}
        return
    if task is not None and task not in CHAT_TASKS:
        _list_task(_client(ctx, token), task, search, as_json)
        return
    catalogue = _run(_catalogue(_client(ctx, token), refresh))
    chosen = [m for m in catalogue if _matches(m, task, search)]
    if as_json:
        data = [
            {"id": m.id, "owned_by": m.owned_by, "providers": [offer_dict(o) for o in m.providers]}
            for m in chosen
        ]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not chosen:
        click.echo("no model matches", err=True)
        return
    rows = [["MODEL", "PROVIDERS", "CONTEXT", "PRICE $/M in/out (cheapest)"]]
    for model in chosen:
        cheapest = _cheapest(model)
        price = "-" if cheapest is None else f"{_price(cheapest)} ({cheapest.provider})"
        rows.append([model.id, str(len(model.providers)), _context(model), price])
    click.echo(_table(rows))


async def _hub_list(client: Any, task: str, search: str | None) -> list[dict[str, Any]]:
    async with client:
        return list(await client.hub_models(task, search=search))


def _list_task(client: Any, task: str, search: str | None, as_json: bool) -> None:
    """Models of a task the router's chat catalogue does not hold, from the Hub."""
    found = []
    for entry in _run(_hub_list(client, task, search)):
        mapping = entry.get("inferenceProviderMapping") or {}
        if isinstance(mapping, dict):
            mapping = [{"provider": name, **value} for name, value in mapping.items()]
        providers = [
            {"provider": m.get("provider"), "status": m.get("status"), "task": m.get("task")}
            for m in mapping
            if isinstance(m, dict)
        ]
        found.append({"id": entry.get("id"), "task": task, "providers": providers})
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo(f"no {task} model is served by an Inference Provider now", err=True)
        return
    rows = [["MODEL", "PROVIDERS (live)"]]
    for model in found:
        live = [p["provider"] for p in model["providers"] if p["status"] in (None, "live")]
        rows.append([str(model["id"]), ", ".join(str(name) for name in live) or "-"])
    click.echo(_table(rows))


@models.command("info")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def info(ctx: click.Context, model: str, as_json: bool) -> None:
    """What the Hub and the router say of MODEL: its task, whether it is gated, who
    serves it (task, status, whether hfinfer speaks that provider's task, provider id,
    context length, price in USD per million input/output tokens), and where its
    prompt format comes from.

    \b
    Example:
      hfinfer models info Qwen/Qwen2.5-7B-Instruct
    """
    token = (ctx.obj or {}).get("token")
    details = _run(_model_details(_client(ctx, token), model))
    if as_json:
        click.echo(json.dumps(details, ensure_ascii=False, indent=2))
        return
    click.echo(format_details(details))


async def _model_details(client: Any, model: str) -> dict[str, Any]:
    async with client:
        hub = await client.model_info(model)
        try:
            catalogue = await client.models()
        except HFInferenceError:
            catalogue = []
        try:
            template: str | None = (await client.render_prompt(model, "Hi")).source
        except HFInferenceError:
            template = None
    offers = {o.provider: o for m in catalogue if m.id == model for o in m.providers}
    providers = []
    for mapped in hub.providers:
        offer = offers.pop(mapped.provider, None)
        priced = offer_dict(offer) if offer is not None else {}
        providers.append(
            {
                "provider": mapped.provider,
                "task": mapped.task,
                "status": (offer.status if offer else None) or mapped.status,
                "provider_id": mapped.provider_id,
                "hfinfer": mapped.speaks,
                **{k: v for k, v in priced.items() if k not in ("provider", "status")},
            }
        )
    for offer in offers.values():  # in the catalogue, not (yet) in the Hub's mapping
        providers.append({**offer_dict(offer), "task": None, "provider_id": None, "hfinfer": None})
    raw = hub.raw if isinstance(hub.raw, dict) else {}
    return {
        "id": hub.id or model,
        "pipeline_tag": hub.pipeline_tag,
        "task": hub.pipeline_tag,
        "tasks": list(hub.tasks),
        "gated": raw.get("gated") if "gated" in raw else None,
        "template_source": template,
        "providers": providers,
    }


def format_details(details: dict[str, Any]) -> str:
    """``hfinfer models info``'s text: the model, then one line per provider."""
    gated = details["gated"]
    gated_text = "unknown" if gated is None else "no" if not gated else f"yes ({gated})"
    lines = [
        f"{details['id']}  (pipeline tag: {details['pipeline_tag'] or 'none'})",
        f"tasks: {', '.join(details['tasks']) or 'none'}",
        f"gated: {gated_text}",
        f"template: {details['template_source'] or 'unknown'}",
    ]
    providers = details["providers"]
    if not providers:
        lines.append("no Inference Provider serves it; run it on a server of your own")
        return "\n".join(lines)
    rows = []
    for p in providers:
        spoken = {True: "yes", False: "no", None: "?"}[p.get("hfinfer")]
        price = "-"
        if p.get("input_price") is not None or p.get("output_price") is not None:
            price = f"${_number(p.get('input_price'))}/{_number(p.get('output_price'))}"
        context = str(p["context_length"]) if p.get("context_length") else "-"
        rows.append(
            [
                "  " + p["provider"],
                p.get("task") or "?",
                p.get("status") or "?",
                f"hfinfer: {spoken}",
                p.get("provider_id") or "-",
                context,
                price,
            ]
        )
    return "\n".join([*lines, _table(rows)])


@models.command("default")
@click.argument("model", required=False)
@click.option("--clear", is_flag=True, help="Forget the saved default.")
def default(model: str | None, clear: bool) -> None:
    """Show the default model, or save MODEL as the default for `hfinfer chat`.

    HFINFER_MODEL, when set, wins over the saved default; -m wins over both.

    \b
    Examples:
      hfinfer models default Qwen/Qwen2.5-72B-Instruct
      hfinfer models default
    """
    import os

    if clear:
        save_default_model(None)
        click.echo("the saved default is forgotten", err=True)
        return
    if model:
        save_default_model(model)
        click.echo(f"default model: {model} (saved in {default_model_file()})", err=True)
        return
    from_env = os.environ.get("HFINFER_MODEL", "").strip()
    if from_env:
        click.echo(from_env)
        click.echo("(from HFINFER_MODEL)", err=True)
        return
    saved = saved_default_model()
    if saved:
        click.echo(saved)
        return
    from .. import HuggingFaceRouter

    click.echo(HuggingFaceRouter.default_model)
    click.echo("(the router's default; none saved)", err=True)
