"""What every ``hfinfer`` command shares: the options, running a coroutine with
hfinfer's errors as a message and exit code 1, and reading the messages."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..client import AsyncClient, choose_route
from ..errors import HFInferenceError
from ..types import Messages
from .errors import describe_error

__all__ = [
    "api_base_option",
    "api_key_option",
    "chosen_route",
    "err",
    "make_client",
    "messages_from",
    "messages_options",
    "model_option",
    "require_token",
    "route_option",
    "run",
]

T = TypeVar("T")

api_base_option = click.option(
    "--api-base",
    envvar="HFINFER_API_BASE",
    default=None,
    help="A server's base URL, with or without /v1 (default: Hugging Face's router).",
)
api_key_option = click.option(
    "--token",  # the Hugging Face CLI's spelling
    "--api-key",
    "api_key",
    default=None,
    help="Token; default HF_TOKEN or the saved login token (for Hugging Face only). "
    "For a server of your own, its key, sent to that server only.",
)
model_option = click.option("--model", "-m", default=None, help="Model id or alias.")
route_option = click.option(
    "--route",
    type=click.Choice(["auto", "router", "openai", "tgi"]),
    default="auto",
    show_default=True,
    help="router: Inference Providers; openai: any OpenAI-compatible server at --api-base "
    "(llama.cpp, vLLM, ollama, TGI's Messages API); tgi: text-generation-inference's own "
    "protocol; auto: the router, or what the server at --api-base speaks.",
)


def messages_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``PROMPT``, ``--system`` and ``--messages FILE``: what :func:`messages_from` reads."""
    command = click.option(
        "--messages",
        "messages_file",
        type=click.Path(path_type=Path),
        default=None,
        help="A JSON file with a list of messages (the PROMPT, if given, is appended).",
    )(command)
    command = click.option("--system", "-s", default=None, help="A system message.")(command)
    return command


def chosen_route(route: str, api_base: str | None) -> str:
    """The route a command takes (the client's one decision): ``"router"``,
    ``"openai"``, ``"tgi"``, or ``"auto"`` when the server will be asked."""
    from ..config import router_url

    return choose_route(api_base, router_url(), route)


def make_client(route: str, api_base: str | None, api_key: str | None) -> AsyncClient:
    """The client a command talks through; the route is the client's to decide."""
    return AsyncClient(api_base=api_base, api_key=api_key, route=route)  # type: ignore[arg-type]


def require_token(api_key: str | None, route: str, api_base: str | None, model: str) -> None:
    """Exit at once, before any request, when a Hugging Face host would be called
    without a token: it could only answer 401 (after retries, on a slow network)."""
    from ..config import inference_base, router_url
    from ..config import require_token as check

    how = "pass --token hf_..., set HF_TOKEN, or run `hf auth login`"
    endpoint = model if model.startswith(("http://", "https://")) else None
    try:
        if chosen_route(route, api_base) == "router":
            url = api_base or router_url()
        else:
            url = endpoint or inference_base(api_base)
        check(api_key, url, how=how)
    except HFInferenceError as exc:
        err(f"error: {exc}")
        raise SystemExit(1) from None


def err(message: str) -> None:
    click.echo(message, err=True)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; hfinfer errors become a message and exit code 1."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except HFInferenceError as exc:
        err(f"error: {describe_error(exc)}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err("interrupted")
        raise SystemExit(130) from None


def messages_from(prompt: str | None, system: str | None, messages_file: Path | None) -> Messages:
    """The conversation: the file's messages, the system message first, the PROMPT
    (``-``: stdin) last."""
    messages: Messages = []
    if messages_file is not None:
        try:
            loaded = json.loads(messages_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise click.BadParameter(f"cannot read {messages_file}: {exc}") from exc
        loaded = loaded.get("messages", loaded) if isinstance(loaded, dict) else loaded
        if not isinstance(loaded, list):
            raise click.BadParameter("the file must hold a list of messages")
        messages = loaded
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    if prompt == "-":
        prompt = sys.stdin.read()
    if prompt:
        messages.append({"role": "user", "content": prompt})
    if not messages:
        raise click.UsageError("give a PROMPT (or - to read stdin), or --messages FILE")
    return messages
