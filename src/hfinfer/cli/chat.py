"""``hfinfer chat``: one answer, or (on a terminal, with no prompt) a conversation.

The prompt comes from ``-f`` files, piped stdin and the argument, joined;
each exchange is logged (``hfinfer logs``) unless ``--no-log``; ``-c``
and ``--cid`` continue a conversation from the log.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..errors import HFInferenceError
from ..logs import ConversationLog, logs_db_path, logs_enabled
from .common import api_base_option, api_key_option, chosen_route, route_option
from .conversation import Conversation
from .defaults import chosen_model
from .errors import describe_error
from .exchange import EmptyResponse, PriceBook, ask
from .inputs import gather_prompt, load_messages, parse_options, read_schema
from .render import AnswerView, JsonView, StreamView, is_terminal
from .runner import LoopRunner
from .session import Session, usage_line

__all__ = ["ChatRequest", "chat", "run_chat"]

EXAMPLES = """
\b
Examples:
  hfinfer chat "Name three primes"       one answer (or: hfinfer "Name three primes")
  git diff | hfinfer chat "Review this"  piped text comes first, then the prompt
  hfinfer chat -f notes.md -s "Be brief" "Summarize"
  hfinfer chat                           a conversation (on a terminal)
  hfinfer chat -c "And the next one?"    continue the last conversation
  hfinfer chat -o top_p 0.9 -o stop '["\\n"]' --schema schema.json "..."
  hfinfer chat --json "Hi" | jq .text
"""


@dataclass
class ChatRequest:
    """Everything ``hfinfer chat`` was asked, once the arguments are parsed."""

    text: str | None
    file_messages: list[dict[str, Any]]
    model: str | None
    system: str | None
    provider: str | None
    options: dict[str, Any]
    continue_last: bool = False
    conversation_id: str | None = None
    stream: bool = True
    as_json: bool = False
    no_log: bool = False
    show_usage: bool = False
    render: bool | None = None
    hide_reasoning: bool = False
    client_options: dict[str, Any] = field(default_factory=dict)

    def new_messages(self) -> list[dict[str, Any]]:
        """The messages this turn adds: a ``--messages`` file's, then the prompt."""
        messages = list(self.file_messages)
        if self.text:
            messages.append({"role": "user", "content": self.text})
        return messages


def say(text: str) -> None:
    """A line for the person at the terminal, on stderr."""
    click.echo(text, err=True)


def make_view(request: ChatRequest) -> AnswerView:
    """JSON for ``--json``; else text, rendered when stdout is a terminal (or ``--render``)."""
    if request.as_json:
        return JsonView()
    markdown = is_terminal(sys.stdout) if request.render is None else request.render
    return StreamView(markdown=markdown, show_reasoning=not request.hide_reasoning)


@contextlib.asynccontextmanager
async def open_log(request: ChatRequest) -> AsyncIterator[ConversationLog | None]:
    """The conversation log, or ``None`` when logging is off."""
    if request.no_log or not logs_enabled():
        yield None
        return
    log = ConversationLog(logs_db_path(), warn=lambda text: say(f"warning: {text}"))
    try:
        yield log
    finally:
        await log.aclose()


async def load_conversation(
    request: ChatRequest, log: ConversationLog | None, model: str
) -> Conversation:
    """A new conversation, or the one ``-c``/``--cid`` names, from the log."""
    fields: dict[str, Any] = {
        "model": request.model and model,
        "system": request.system,
        "provider": request.provider,
    }
    wanted = request.conversation_id
    if log is not None and request.continue_last and wanted is None:
        wanted = await log.last_conversation_id()
        if wanted is None and not log.broken:
            say("(no earlier conversation in the log: starting a new one)")
    if wanted is None or log is None:
        conversation = Conversation(model=model, system=request.system, provider=request.provider)
    else:
        turns = await log.turns(wanted)
        if not turns and not log.broken and request.conversation_id:
            raise click.ClickException(
                f"no conversation {wanted} in the log; `hfinfer logs list` shows them"
            )
        conversation = Conversation.resumed(wanted, turns, **fields)
        conversation.model = conversation.model or model
    conversation.options = dict(request.options)
    return conversation


def run_chat(request: ChatRequest) -> None:
    """Run ``hfinfer chat``: exit 0 on an answer, 1 on an error, 130 on Ctrl-C."""
    if (request.continue_last or request.conversation_id) and (
        request.no_log or not logs_enabled()
    ):
        raise click.UsageError("-c and --cid continue a conversation from the log, which is off")
    try:
        _check_token(request)
        _run_chat(request)
    except HFInferenceError as exc:  # before any turn: a token, a route, the client itself
        if request.as_json:  # one JSON object, whatever happens
            model = chosen_model(request.model) or ""
            JsonView().end(EmptyResponse(model), error=exc, extra={"status": "error"})
        say(f"error: {describe_error(exc)}")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        say("interrupted")
        raise SystemExit(130) from None


def _check_token(request: ChatRequest) -> None:
    """Refuse at once, before any request, to call a Hugging Face host without a token
    (it could only answer 401, after retries on a slow network)."""
    from ..config import inference_base, require_token, router_url

    options = request.client_options
    api_base, model = options.get("api_base"), chosen_model(request.model) or ""
    endpoint = model if model.startswith(("http://", "https://")) else None
    if chosen_route(options.get("route") or "auto", api_base) == "router":
        url = api_base or router_url()
    else:
        url = endpoint or inference_base(api_base)
    require_token(options.get("api_key"), url, how=TOKEN_HOWTO)


TOKEN_HOWTO = "pass --token hf_..., set HF_TOKEN, or run `hf auth login`"


def _run_chat(request: ChatRequest) -> None:
    from .. import AsyncClient

    interactive = not request.new_messages()
    client = AsyncClient(**request.client_options)
    if client.route == "tgi":
        _schema_as_grammar(request.options)
    model = chosen_model(request.model) or _route_default(client)
    runner = LoopRunner()
    log_context = open_log(request)
    try:
        log = runner.run(log_context.__aenter__())
        runner.run(client.__aenter__())
        conversation = runner.run(load_conversation(request, log, model))
        if interactive:
            _session(request, runner, client, conversation, log)
        else:
            _one_shot(request, runner, client, conversation, log)
    finally:
        with contextlib.suppress(Exception, KeyboardInterrupt):
            runner.run(client.aclose())
        with contextlib.suppress(Exception, KeyboardInterrupt):
            runner.run(log_context.__aexit__(None, None, None))
        runner.close()


def _schema_as_grammar(options: dict[str, Any]) -> None:
    # The text-generation protocol asks for JSON output with a grammar, not response_format.
    response_format = options.pop("response_format", None)
    if response_format is not None:
        schema = response_format.get("json_schema", {}).get("schema", {})
        options["grammar"] = {"type": "json", "value": schema}


def _route_default(client: Any) -> str:
    """The model asked when none is named: the router's default, Hugging Face's
    text-generation default, or ``""`` for a server of one's own (it says what it serves)."""
    from .. import HuggingFaceInference, HuggingFaceRouter

    if client.route == "router":
        return str(HuggingFaceRouter.default_model)
    if client.api_base is None:
        return str(HuggingFaceInference.default_model)
    return ""


def _one_shot(
    request: ChatRequest,
    runner: LoopRunner,
    client: Any,
    conversation: Conversation,
    log: ConversationLog | None,
) -> None:
    coroutine = ask(
        client,
        conversation,
        request.new_messages(),
        make_view(request),
        log=log,
        prices=PriceBook(client),
        stream=request.stream,
    )
    try:
        record, _ = runner.run(coroutine)
    except KeyboardInterrupt:
        say("interrupted")
        raise SystemExit(130) from None
    except HFInferenceError as exc:
        say(f"error: {describe_error(exc)}")
        raise SystemExit(1) from None
    if request.show_usage:
        say(usage_line(record))


def _session(
    request: ChatRequest,
    runner: LoopRunner,
    client: Any,
    conversation: Conversation,
    log: ConversationLog | None,
) -> None:
    from ..config import data_dir

    Session(
        runner=runner,
        client=client,
        conversation=conversation,
        make_view=lambda: make_view(request),
        log=log,
        data_folder=data_dir(),
        say=say,
    ).run()


def build_request(
    *,
    prompt: str | None,
    files: tuple[Path, ...],
    messages_file: Path | None,
    options: tuple[tuple[str, str], ...],
    schema: str | None,
    continue_final_message: bool,
    max_tokens: int | None,
    temperature: float | None,
    seed: int | None,
    **given: Any,
) -> ChatRequest:
    """The :class:`ChatRequest` the options describe; a usage error when there is no
    prompt and no terminal to hold a conversation on."""
    text = gather_prompt(prompt, files)
    file_messages = load_messages(messages_file) if messages_file else []
    system = given.pop("system")
    if file_messages and file_messages[0].get("role") == "system":
        system = system or str(file_messages.pop(0).get("content") or "")
    if text is None and not file_messages and not is_terminal(sys.stdin):
        raise click.UsageError(
            "give a PROMPT, pipe text on stdin, or use -f FILE or --messages FILE "
            "(with none of these on a terminal, hfinfer chat opens a conversation)"
        )
    generation: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
    generation["seed"] = seed
    if continue_final_message:
        generation["action"] = "continue"
    if schema is not None:
        generation["response_format"] = read_schema(schema)
    if options:
        generation["extra_body"] = parse_options(options)
    return ChatRequest(
        text=text, file_messages=file_messages, system=system, options=generation, **given
    )



def _chat_options(function: Any) -> Any:
    """The options of ``hfinfer chat``, in the order --help lists them."""
    path = click.Path(path_type=Path)
    decorators = [
        click.argument("prompt", required=False),
        click.option("-m", "--model", help="Model id (else HFINFER_MODEL or the default)."),
        click.option("-s", "--system", help="A system prompt."),
        click.option("-f", "--file", "files", multiple=True, type=path, help=FILE_HELP),
        click.option("--messages", "messages_file", type=path, help=MESSAGES_HELP),
        click.option("-c", "--continue", "continue_last", is_flag=True, help=CONTINUE_HELP),
        click.option("--cid", "conversation_id", help="Continue this conversation."),
        click.option("--continue-final-message", is_flag=True, help=FINAL_HELP),
        click.option("--max-tokens", type=int, default=1024, show_default=True),
        click.option("-t", "--temperature", type=float),
        click.option("--seed", type=int),
        click.option(
            "-o",
            "--option",
            "options",
            type=(str, str),
            multiple=True,
            metavar="KEY VALUE",
            help=OPTION_HELP,
        ),
        click.option("--schema", metavar="JSON|FILE", help=SCHEMA_HELP),
        click.option("--provider", help="Router provider, or a policy (fastest, cheapest...)."),
        click.option("--no-stream", is_flag=True, help="Wait for the whole answer."),
        click.option("--json", "as_json", is_flag=True, help=JSON_HELP),
        click.option("-u", "--usage", "show_usage", is_flag=True, help=USAGE_HELP),
        click.option("--render/--no-render", default=None, help=RENDER_HELP),
        click.option("-R", "--hide-reasoning", is_flag=True, help="Do not show reasoning."),
        click.option("--no-log", is_flag=True, help="Do not log this exchange."),
        route_option,
        api_base_option,
        api_key_option,
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


FILE_HELP = "Add a file's text to the prompt (repeatable)."
MESSAGES_HELP = "A JSON file of messages (a list, or what /save wrote)."
CONTINUE_HELP = "Continue the last conversation in the log."
FINAL_HELP = "Carry the last assistant message on (text-generation route)."
OPTION_HELP = (
    "A generation option sent to the server as given (top_p, stop, reasoning_effort...); "
    "VALUE is read as JSON, else as text. Repeatable."
)
SCHEMA_HELP = "Answer in JSON that matches this schema (structured output)."
JSON_HELP = "Print one JSON object (also on failure, with an `error` member)."
USAGE_HELP = "Print the token counts and the estimated cost on stderr."
RENDER_HELP = "Render Markdown (default: when stdout is a terminal)."


@click.command("chat", epilog=EXAMPLES)
@_chat_options
@click.pass_context
def chat(ctx: click.Context, **arguments: Any) -> None:
    """Ask a model: the answer streams to stdout, the rest goes to stderr.

    With no PROMPT on a terminal, a conversation opens (/help inside lists its
    commands). Every exchange is logged unless --no-log or `hfinfer logs off`.
    """
    client_options = {name: arguments.pop(name) for name in ("api_key", "api_base", "route")}
    keys = ("prompt", "files", "messages_file", "options", "schema", "continue_final_message",
            "max_tokens", "temperature", "seed")  # fmt: skip
    parsed = {k: arguments.pop(k) for k in keys}
    arguments["stream"] = not arguments.pop("no_stream")
    request = build_request(**parsed, **arguments, client_options=client_options)
    run_chat(request)
