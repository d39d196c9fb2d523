"""``hfinfer serve``: run the OpenAI-compatible gateway on uvicorn."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from ..errors import HFInferenceError

__all__ = ["serve"]


@click.command(
    epilog="""\b
Examples:
  hfinfer serve --port 8000 --api-key sk-local
  hfinfer serve --config gateway.toml
"""
)
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes (default 1); each is stateless, so more scale out.",
)
@click.option(
    "--api-key",
    envvar="HFINFER_SERVE_API_KEY",
    default=None,
    help="Key callers must send as 'Authorization: Bearer KEY' (default $HFINFER_SERVE_API_KEY).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A TOML file: aliases, upstreams, limits.",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    default=None,
    help="Allow listening beyond loopback without an API key.",
)
@click.option(
    "--models",
    "models",
    multiple=True,
    help="Serve only these models (repeat, or separate with commas).",
)
@click.option(
    "--drop-params",
    is_flag=True,
    default=None,
    help="Drop request fields the gateway does not know instead of passing them on.",
)
@click.option(
    "--forward-client-token",
    is_flag=True,
    default=None,
    help="A caller's own hf_ token (as the bearer) is used upstream instead of the server's.",
)
@click.option(
    "--no-bill-to",
    "no_bill_to",
    is_flag=True,
    default=False,
    help="Ignore callers' X-HF-Bill-To header.",
)
@click.option(
    "--log-db",
    "log_db",
    is_flag=False,
    flag_value="",
    default=None,
    help="Write each exchange into the SQLite conversation log (the CLI's, or the file given).",
)
@click.option(
    "--log-prompts", is_flag=True, default=None, help="Put messages and answers in the access log."
)
@click.option(
    "--max-body-bytes", type=click.IntRange(1), default=None, help="Largest request body accepted."
)
@click.option(
    "--max-tokens",
    type=click.IntRange(1),
    default=None,
    help="Largest max_tokens a caller may ask for.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="uvicorn's log level.",
)
def serve(config_file: Path | None, models: tuple[str, ...], no_bill_to: bool, log_level: str,
          **options: Any) -> None:  # fmt: skip
    """Serve Hugging Face models behind OpenAI's API (/v1/chat/completions, ...)."""
    try:
        from ..server.app import OPTIONS_ENV
        from ..server.config import load_config
        from ..server.gateway import check_upstreams
    except ImportError as exc:  # the server extra is not installed
        raise click.UsageError(
            f"hfinfer serve needs the server extra ({exc}): pip install 'hfinfer[server]'"
        ) from None

    if models:
        options["models"] = [m.strip() for spec in models for m in spec.split(",") if m.strip()]
    if no_bill_to:
        options["allow_bill_to"] = False
    try:
        config = load_config(config_file).with_options(**options)
        config.check_exposure()
        check_upstreams(config)
    except HFInferenceError as exc:
        raise click.UsageError(str(exc)) from None
    given = {k: v for k, v in options.items() if v is not None}
    given["config"] = str(config_file) if config_file else None
    os.environ[OPTIONS_ENV] = json.dumps(given)
    click.echo(
        f"hfinfer serve: http://{config.host}:{config.port}/v1 "
        f"({config.workers} worker{'s' if config.workers > 1 else ''})",
        err=True,
    )
    from ..server.runner import run_uvicorn

    run_uvicorn(config.host, config.port, config.workers, log_level)
