"""``hfinfer logs``: where the conversation log is, what it holds, and whether it is kept."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import click

from ..logs import LogStore, TurnRecord, format_cost, logs_db_path, logs_enabled, set_logs_enabled

__all__ = ["logs"]


@click.group(invoke_without_command=True)
@click.pass_context
def logs(ctx: click.Context) -> None:
    """The conversation log: every exchange of `hfinfer chat`, in SQLite.

    \b
    Examples:
      hfinfer logs list -n 5          the last five turns
      hfinfer logs list -q invoice    turns that mention "invoice"
      hfinfer logs list --cid ID      one conversation (continue it: hfinfer chat --cid ID)
      hfinfer logs off                stop logging (HFINFER_NO_LOG=1 for one command)

    The database is HFINFER_LOGS_DB, else logs.db in the data folder.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_turns)


@logs.command("path")
def path() -> None:
    """Print the log database's path.

    \b
    Example:
      sqlite3 "$(hfinfer logs path)" 'select count(*) from turns'
    """
    click.echo(str(logs_db_path()))


def _logging_switch(enabled: bool, summary: str) -> click.Command:
    """The command ``hfinfer logs on`` (``enabled``) or ``off``; ``summary`` opens its help."""
    word = "on" if enabled else "off"

    def switch() -> None:
        set_logs_enabled(enabled)
        click.echo(f"logging is {word}", err=True)

    example = f"\b\nExample:\n  hfinfer logs {word}"
    return logs.command(word, help=f"{summary}\n\n{example}")(switch)


on = _logging_switch(True, "Log every exchange from now on (the default).")
off = _logging_switch(False, "Stop logging exchanges (until `hfinfer logs on`).")


@logs.command("status")
def status() -> None:
    """Whether logging is on, where the log is, and how much it holds.

    \b
    Example:
      hfinfer logs status
    """
    where = logs_db_path()
    click.echo(f"logging is {'on' if logs_enabled() else 'off'}")
    click.echo(f"database: {where}")
    if where.exists():
        with _opened() as store:
            turns = store.db.execute("SELECT count(*) FROM turns").fetchone()[0]
            conversations = store.db.execute("SELECT count(*) FROM conversations").fetchone()[0]
        click.echo(f"{conversations} conversations, {turns} turns")


@logs.command("list")
@click.option("-n", "--count", type=int, default=3, show_default=True, help="Turns (0: all).")
@click.option("-q", "--query", default=None, help="Only turns whose text contains this.")
@click.option("--cid", "conversation_id", default=None, help="Only this conversation.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of turns.")
def list_turns(count: int, query: str | None, conversation_id: str | None, as_json: bool) -> None:
    """Show the latest turns, oldest first.

    \b
    Examples:
      hfinfer logs list -n 10 -q "error budget"
      hfinfer logs list --cid 01jd... --json | jq '.[].output'
    """
    if not logs_db_path().exists():
        if as_json:
            click.echo("[]")
        else:
            click.echo("the log is empty (nothing was logged yet)", err=True)
        return
    with _opened() as store:
        turns = store.search(query=query, conversation_id=conversation_id, limit=count)
    if as_json:
        click.echo(json.dumps([turn.to_dict() for turn in turns], ensure_ascii=False, indent=2))
        return
    for index, turn in enumerate(turns):
        if index:
            click.echo()
        click.echo(format_turn(turn))


class _opened:
    """The store, with an unusable database reported in the command line's words."""

    def __enter__(self) -> LogStore:
        self.store = LogStore(logs_db_path())
        try:
            return self.store.open()
        except (sqlite3.Error, OSError) as exc:
            message = f"the log at {self.store.path} cannot be read: {exc}"
            raise click.ClickException(message) from exc

    def __exit__(self, *exc_info: Any) -> None:
        self.store.close()


def format_turn(turn: TurnRecord) -> str:
    """One turn as Markdown: a heading with when and who, the prompt, the answer, the numbers."""
    when = turn.created[:19].replace("T", " ")
    who = turn.model + (f" via {turn.provider}" if turn.provider else "")
    lines = [f"## {when}  {who}", f"conversation {turn.conversation_id}, turn {turn.id}", ""]
    if turn.system:
        lines += ["System:", "", turn.system, ""]
    lines += ["Prompt:", "", turn.prompt or "", ""]
    if turn.reasoning:
        lines += ["Reasoning:", "", turn.reasoning, ""]
    lines += ["Answer:", "", turn.output or "(none)"]
    for call in turn.tool_calls:
        function = call.get("function", {})
        lines.append(f"tool call: {function.get('name')}({function.get('arguments')})")
    lines += ["", _numbers(turn)]
    return "\n".join(lines)


def _numbers(turn: TurnRecord) -> str:
    parts = [turn.status]
    if turn.error:
        parts[0] += f" ({turn.error})"
    if turn.prompt_tokens is not None or turn.completion_tokens is not None:
        parts.append(f"{turn.prompt_tokens} input + {turn.completion_tokens} output tokens")
    if turn.cost_usd is not None:
        parts.append(format_cost(turn.cost_usd))
    if turn.ttft is not None:
        parts.append(f"first token {turn.ttft:.2f} s")
    if turn.duration is not None:
        parts.append(f"{turn.duration:.2f} s")
    if turn.finish_reason:
        parts.append(f"finish: {turn.finish_reason}")
    return " · ".join(parts)
