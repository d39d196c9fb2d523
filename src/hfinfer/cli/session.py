"""``hfinfer chat`` on a terminal with no prompt: a conversation, one turn after another.

Input is read with readline (line editing, and a history kept in the data
folder); a line ending in ``\\`` goes on to the next, and ``\"\"\"`` opens a
block that a line of ``\"\"\"`` closes. Ctrl-C stops the answer being written
(the session goes on); Ctrl-D, ``/exit`` or ``/quit`` leave.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import HFInferenceError
from ..logs import ConversationLog, format_cost
from .conversation import Conversation
from .errors import describe_error
from .exchange import PriceBook, ask
from .render import AnswerView
from .runner import LoopRunner

__all__ = ["Session", "read_message"]

HELP = """\
  /model [NAME]       show or change the model
  /provider [NAME]    show or change the provider (a name, or fastest, cheapest...)
  /system [TEXT|-]    show, set or clear (-) the system prompt
  /retry              ask the last prompt again, in place of its answer
  /undo               take the last exchange out of the conversation
  /prompt             the exact prompt the model's template makes of the conversation
  /usage              tokens and estimated cost of this session
  /save [PATH]        write the conversation as JSON (for --messages)
  /exit               leave (or Ctrl-D)
A line ending in \\ goes on; a line of \"\"\" opens and closes a multi-line message."""


def read_message(read_line: Callable[[str], str]) -> str:
    """One message: a line, or several (trailing ``\\``, or a ``\"\"\"`` block).
    Raises ``EOFError`` (Ctrl-D) and ``KeyboardInterrupt`` (Ctrl-C) as ``input`` does."""
    first = read_line("> ")
    if first.strip() == '"""':
        lines = []
        while (line := read_line("… ")).strip() != '"""':
            lines.append(line)
        return "\n".join(lines)
    lines = [first]
    while lines[-1].endswith("\\"):
        lines[-1] = lines[-1][:-1]
        lines.append(read_line("… "))
    return "\n".join(lines)


def _history_file(data_folder: Path) -> Callable[[], None]:
    """Load readline's history; returns the function that saves it (a no-op without readline)."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input() still works
        return lambda: None
    path = data_folder / "chat-history"
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(2000)

    def save() -> None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)

    return save


class Session:
    """The loop of a conversation: read, ask, show, log, until the user leaves.

    ``make_view`` makes the view of one answer; ``say`` prints a line on stderr.
    The client is opened on ``runner``'s loop by the caller.
    """

    def __init__(
        self,
        *,
        runner: LoopRunner,
        client: Any,
        conversation: Conversation,
        make_view: Callable[[], AnswerView],
        log: ConversationLog | None,
        data_folder: Path,
        say: Callable[[str], None],
        read_line: Callable[[str], str] = input,
    ) -> None:
        self.runner = runner
        self.client = client
        self.conversation = conversation
        self.make_view = make_view
        self.log = log
        self.prices = PriceBook(client)
        self.data_folder = data_folder
        self.say = say
        self.read_line = read_line
        self.session_turns: list[Any] = []
        #: The last message that got no answer at all (an error before any text).
        self.unanswered: list[dict[str, Any]] | None = None
        self.commands: dict[str, Callable[[str], bool | None]] = {
            "model": self.cmd_model,
            "provider": self.cmd_provider,
            "system": self.cmd_system,
            "retry": self.cmd_retry,
            "undo": self.cmd_undo,
            "prompt": self.cmd_prompt,
            "usage": self.cmd_usage,
            "save": self.cmd_save,
            "help": self.cmd_help,
            "exit": lambda _: True,
            "quit": lambda _: True,
        }

    def run(self) -> None:
        """Read and answer until Ctrl-D or ``/exit``."""
        save_history = _history_file(self.data_folder)
        conversation = self.conversation
        resumed = f", {len(conversation.answered)} earlier turns" if conversation.turns else ""
        self.say(
            f"Chatting with {conversation.model} (conversation {conversation.id}{resumed}). "
            "/help for commands, Ctrl-D to leave."
        )
        try:
            while True:
                try:
                    text = read_message(self.read_line)
                except KeyboardInterrupt:
                    self.say("")  # Ctrl-C at the prompt clears the line, as a shell does
                    continue
                except EOFError:
                    self.say("")
                    return
                if self.handle(text):
                    return
        finally:
            save_history()

    def handle(self, text: str) -> bool:
        """Answer one message or run one command; ``True`` to leave."""
        stripped = text.strip()
        if not stripped:
            return False
        if stripped.startswith("/") and not stripped.startswith("//"):
            name, _, argument = stripped[1:].partition(" ")
            command = self.commands.get(name.lower())
            if command is None:
                self.say(f"unknown command /{name}; /help lists them")
                return False
            return bool(command(argument.strip()))
        self.send([{"role": "user", "content": text.removeprefix("/")}])
        return False

    def send(self, new_messages: list[dict[str, Any]]) -> None:
        """One turn; Ctrl-C stops it and the session goes on."""
        coroutine = ask(
            self.client,
            self.conversation,
            new_messages,
            self.make_view(),
            log=self.log,
            prices=self.prices,
        )
        before = len(self.conversation.turns)
        self.unanswered = None
        try:
            record, _ = self.runner.run(coroutine)
        except (KeyboardInterrupt, HFInferenceError) as exc:
            if isinstance(exc, KeyboardInterrupt):
                self.say("(interrupted; the text so far is kept)")
            else:
                self.say(f"error: {describe_error(exc)}")
            if len(self.conversation.turns) == before:  # nothing said: /retry asks it again
                self.unanswered = new_messages
            self._note_turn()
            return
        self.session_turns.append(record)

    def _note_turn(self) -> None:
        turns = self.conversation.turns
        if turns and turns[-1] not in self.session_turns:
            self.session_turns.append(turns[-1])

    def cmd_model(self, argument: str) -> None:
        if argument:
            self.conversation.model = argument
        self.say(f"model: {self.conversation.model}")

    def cmd_provider(self, argument: str) -> None:
        if argument:
            self.conversation.provider = None if argument in ("-", "auto") else argument
        self.say(f"provider: {self.conversation.provider or 'auto (the router chooses)'}")

    def cmd_system(self, argument: str) -> None:
        if argument == "-":
            self.conversation.system = None
        elif argument:
            self.conversation.system = argument
        self.say(f"system prompt: {self.conversation.system or '(none)'}")

    def _take_back(self) -> Any:
        turn = self.conversation.pop_turn()
        if turn is not None and self.log is not None:
            self.runner.run(self.log.set_in_history(turn.id, False))
        return turn

    def cmd_undo(self, argument: str) -> None:
        turn = self._take_back()
        self.say("nothing to undo" if turn is None else f"took back: {_short(turn.prompt)}")

    def cmd_retry(self, argument: str) -> None:
        if self.unanswered is not None:
            self.send(self.unanswered)
            return
        turn = self._take_back()
        if turn is None:
            self.say("nothing to retry")
            return
        self.send(turn.input_messages)

    def cmd_prompt(self, argument: str) -> None:
        conversation = self.conversation
        messages = conversation.messages([])
        if not messages:
            self.say("the conversation is empty")
            return
        try:
            rendered = self.runner.run(
                self.client.render_prompt(conversation.model, messages)
            )
        except (HFInferenceError, KeyboardInterrupt) as exc:
            self.say(f"no prompt to show: {describe_error(exc)}")
            return
        click.echo(rendered.text)
        where = (
            "the router's provider applies the model's template itself; this is the Hub's"
            if getattr(self.client, "route", None) == "router"
            else "as sent"
        )
        self.say(f"[{conversation.model}: {rendered.source}; {where}]")

    def cmd_usage(self, argument: str) -> None:
        turns = self.session_turns
        if not turns:
            self.say("no answers yet in this session")
            return
        prompt = sum(t.prompt_tokens or 0 for t in turns)
        completion = sum(t.completion_tokens or 0 for t in turns)
        costs = [t.cost_usd for t in turns]
        known = [c for c in costs if c is not None]
        cost = format_cost(sum(known)) if known else "cost unknown"
        if known and len(known) < len(costs):
            cost += f" (for {len(known)} of {len(costs)} turns)"
        count = f"{len(turns)} turn{'s' if len(turns) != 1 else ''}"
        self.say(f"{count}: {prompt} input tokens, {completion} output tokens, {cost}")
        last = turns[-1]
        self.say(f"last: {usage_line(last)}")

    def cmd_save(self, argument: str) -> None:
        conversation = self.conversation
        path = Path(argument or f"hfinfer-{conversation.id}.json").expanduser()
        data = {
            "conversation_id": conversation.id,
            "model": conversation.model,
            "messages": conversation.messages([]),
        }
        try:
            path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
        except OSError as exc:
            self.say(f"cannot write {path}: {exc.strerror or exc}")
            return
        self.say(f"saved to {path}")

    def cmd_help(self, argument: str) -> None:
        self.say(HELP)


def usage_line(turn: Any) -> str:
    """``5 input + 3 output tokens, $0.00001 (together)`` for one turn."""
    tokens = (
        f"{turn.prompt_tokens} input + {turn.completion_tokens} output tokens"
        if turn.prompt_tokens is not None and turn.completion_tokens is not None
        else "token counts unknown"
    )
    who = f" ({turn.provider})" if turn.provider else ""
    timing = f", first token after {turn.ttft:.2f} s" if turn.ttft is not None else ""
    return f"{tokens}, {format_cost(turn.cost_usd)}{who}{timing}"


def _short(text: str | None) -> str:
    line = " ".join((text or "").split())
    return line[:50] + ("…" if len(line) > 50 else "")
