"""The ``hfinfer`` command: the answer on stdout, everything else on stderr.

Exit codes: 0 success, 1 an hfinfer error (message on stderr, no traceback),
2 a usage error, 130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .._version import __version__
from ..errors import HFInferenceError
from ..providers.hf_inference import HuggingFaceInference
from ..types import ImageResponse, Messages
from .catalogue import models
from .chat_command import chat_command
from .group import HFInferGroup
from .logs import logs

T = TypeVar("T")

GROUP_EPILOG = """\b
Examples:
  hfinfer "Name three primes"
  echo notes | hfinfer chat "Summarize"
  hfinfer chat                       (a conversation, on a terminal)
  hfinfer logs list -n 5
  hfinfer models --search qwen
  hfinfer image "a red fox in snow" -o fox.png

\b
Shell completion (bash; zsh and fish alike with zsh_source, fish_source):
  eval "$(_HFINFER_COMPLETE=bash_source hfinfer)"
"""

api_base_option = click.option(
    "--api-base",
    envvar="HFINFER_API_BASE",
    default=None,
    help="Inference base URL (default: the hf-inference route of the router).",
)
api_key_option = click.option(
    "--token",
    "--api-key",
    "api_key",
    default=None,
    help="Token; default HF_TOKEN or the saved login token.",
)
model_option = click.option("--model", "-m", default=None, help="Model id or alias.")
route_option = click.option(
    "--route",
    type=click.Choice(["auto", "router", "tgi"]),
    default="auto",
    show_default=True,
    help="router: Inference Providers; tgi: the text-generation protocol at --api-base; "
    "auto: tgi when --api-base is given, else the router.",
)


def _route(route: str, api_base: str | None) -> str:
    """The route ``auto`` stands for: the text-generation server named, else the router."""
    return ("tgi" if api_base else "router") if route == "auto" else route


def _err(message: str) -> None:
    click.echo(message, err=True)


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; hfinfer errors become a message and exit code 1."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except HFInferenceError as exc:
        _err(f"error: {exc}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise SystemExit(130) from None


def _messages(prompt: str | None, system: str | None, messages_file: Path | None) -> Messages:
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


@click.group(
    cls=HFInferGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=GROUP_EPILOG,
)
@click.version_option(__version__, prog_name="hfinfer")
@click.option("-v", "--verbose", count=True, help="Log to stderr (-v info, -vv debug); anywhere.")
def cli(verbose: int) -> None:
    """Chat, generate text and images with models hosted on Hugging Face.

    `hfinfer "Hi"` is `hfinfer chat "Hi"`.
    """


@cli.command()
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
    from ..providers.hf_router import HuggingFaceRouter

    chosen = _route(route, api_base)
    provider: Any = HuggingFaceRouter if chosen == "router" else HuggingFaceInference

    async def go() -> ImageResponse:
        async for chunk in provider.create_async_generator(
            model or provider.default_image_model,
            [{"role": "user", "content": prompt}],
            prompt=prompt,
            api_base=api_base if chosen == "tgi" else None,
            api_key=api_key,
            seed=seed,
            width=width,
            height=height,
            aspect_ratio=aspect_ratio,
        ):
            if isinstance(chunk, ImageResponse):
                return chunk
        raise HFInferenceError("the model answered with text, not an image: use `hfinfer chat`")

    result = _run(go)
    path = result.save(output)
    click.echo(str(path))
    seed_used = result.options.get("seed")
    if seed_used is not None:
        _err(f"seed {seed_used}")


@cli.command()
@click.argument("prompt", required=False)
@model_option
@click.option("--system", "-s", default=None, help="A system message.")
@click.option(
    "--messages",
    "messages_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A JSON file with a list of messages (the PROMPT, if given, is appended).",
)
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
    messages = _messages(prompt, system, messages_file)

    async def go() -> Any:
        from ..config import ClientSettings
        from ..http.session import HttpClient

        name = HuggingFaceInference.get_model(model)
        async with HttpClient(ClientSettings.resolve(api_key=api_key)) as http:
            model_data = await HuggingFaceInference.get_model_data(http, name)
            return name, await HuggingFaceInference._build_text_prompt(
                http, name, model_data, messages, do_continue, {}
            )

    name, built = _run(go)
    click.echo(built.text, nl=False)
    _err(f"\n[{name}: {built.source}]")


cli.add_command(chat_command)
cli.add_command(logs)
cli.add_command(models)


def main() -> None:
    cli(prog_name="hfinfer")
