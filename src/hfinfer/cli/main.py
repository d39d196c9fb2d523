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
from ..client import ChatResponse
from ..errors import HFInferenceError, StreamError, TimeoutError
from ..providers.hf_inference import HuggingFaceInference
from ..types import FinishReason, ImageResponse, Messages, Reasoning, Usage

T = TypeVar("T")

api_base_option = click.option(
    "--api-base",
    envvar="HFINFER_API_BASE",
    default=None,
    help="Inference base URL (default: the hf-inference route of the router).",
)
api_key_option = click.option(
    "--api-key",
    "--token",  # the Hugging Face CLI's spelling
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


def _require_token(api_key: str | None, route: str, api_base: str | None, model: str) -> None:
    """Exit at once, before any request, when a Hugging Face host would be called
    without a token: it could only answer 401 (after retries, on a slow network)."""
    from ..config import inference_base, require_token, router_url

    how = "pass --token hf_..., set HF_TOKEN, or run `hf auth login`"
    endpoint = model if model.startswith(("http://", "https://")) else None
    try:
        if route == "router":
            url = api_base or router_url()
        else:
            url = endpoint or inference_base(api_base)
        require_token(api_key, url, how=how)
    except HFInferenceError as exc:
        _err(f"error: {exc}")
        raise SystemExit(1) from None


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hfinfer")
@click.option("-v", "--verbose", count=True, help="Log to stderr (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Chat, generate text and images with models hosted on Hugging Face."""
    if verbose:
        import logging

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            stream=sys.stderr,
            format="%(levelname)s %(name)s: %(message)s",
        )


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
@click.option("--max-tokens", type=int, default=1024, show_default=True)
@click.option("--temperature", "-t", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--no-stream", is_flag=True, help="Wait for the whole answer.")
@click.option(
    "--continue",
    "do_continue",
    is_flag=True,
    help="Carry the last assistant message on (text-generation route).",
)
@route_option
@click.option("--provider", default=None, help="Router provider or policy (fastest, cheapest...).")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: text, reasoning, finish reason, usage.",
)
@api_base_option
@api_key_option
def chat(
    prompt: str | None,
    model: str | None,
    system: str | None,
    messages_file: Path | None,
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
    no_stream: bool,
    do_continue: bool,
    route: str,
    provider: str | None,
    as_json: bool,
    api_base: str | None,
    api_key: str | None,
) -> None:
    """Stream the model's answer to PROMPT (reasoning, if any, goes to stderr)."""
    from ..client import AsyncClient

    _require_token(api_key, _route(route, api_base), api_base, model or "")
    messages = _messages(prompt, system, messages_file)
    options: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
    if do_continue:
        options["action"] = "continue"
    if provider:
        options["provider"] = provider

    async def go() -> None:
        answer = _Answer(as_json)
        chosen = _route(route, api_base)
        client = AsyncClient(api_base=api_base, api_key=api_key, route=chosen)  # type: ignore[arg-type]
        async with client:
            if no_stream:
                answer.take_response(await client.chat(model or "", messages, **options))
            else:
                stream = await client.chat(model or "", messages, stream=True, **options)
                async with stream:
                    try:
                        async for chunk in stream:
                            answer.take(chunk)
                    except (StreamError, TimeoutError):
                        answer.broken()
                        raise
        answer.finish()

    _run(go)


class _Answer:
    """What ``hfinfer chat`` prints: text on stdout as it comes, reasoning on stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def take(self, chunk: Any) -> None:
        if isinstance(chunk, str):
            self.text.append(chunk)
            if not self.as_json:
                click.echo(chunk, nl=False)
        elif isinstance(chunk, Reasoning) and chunk.token:
            self.reasoning.append(chunk.token)
            if not self.as_json:
                click.secho(chunk.token, nl=False, err=True, dim=True)
        elif isinstance(chunk, FinishReason):
            self.finish_reason = chunk.reason
        elif isinstance(chunk, Usage):
            self.usage = chunk
        elif isinstance(chunk, ImageResponse):
            _err("this model makes images: use `hfinfer image`")

    def take_response(self, response: ChatResponse) -> None:
        for piece in (Reasoning(response.reasoning) if response.reasoning else None, response.text):
            if piece:
                self.take(piece)
        self.finish_reason = response.finish_reason
        self.usage = response.usage

    def broken(self) -> None:
        if self.text and not self.as_json:
            click.echo()  # what arrived stays on stdout; the error follows on stderr

    def finish(self) -> None:
        if self.as_json:
            usage = self.usage
            click.echo(
                json.dumps(
                    {
                        "text": "".join(self.text),
                        "reasoning": "".join(self.reasoning) or None,
                        "finish_reason": self.finish_reason,
                        "usage": None
                        if usage is None
                        else {
                            "prompt_tokens": usage.prompt_tokens,
                            "completion_tokens": usage.completion_tokens,
                        },
                    },
                    ensure_ascii=False,
                )
            )
            return
        click.echo()
        if self.finish_reason == "length":
            _err("(stopped at the token limit; raise --max-tokens for more)")


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


@cli.command()
def models() -> None:
    """List the models offered (the fallback list when the Hub cannot be reached)."""
    names = _run(HuggingFaceInference.get_models_async)
    for name in names:
        click.echo(name)


def main() -> None:
    cli(prog_name="hfinfer")
