"""Where a prompt comes from: files (``-f``), piped stdin, and the argument.

``echo notes | hfinfer chat "summarize this"`` sends ``notes`` and the
prompt, in that order, separated by a blank line, as llm does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click

from .render import is_terminal

__all__ = ["gather_prompt", "load_messages", "parse_options", "read_schema"]


def read_piped(stdin: IO[str] | None = None) -> str | None:
    """Everything piped on stdin, or ``None`` when stdin is a terminal or absent."""
    stream = sys.stdin if stdin is None else stdin
    if stream is None or is_terminal(stream):
        return None
    try:
        text = stream.read()
    except (OSError, ValueError):  # closed, or not readable
        return None
    return text if text.strip() else None


def gather_prompt(
    prompt: str | None, files: Sequence[Path], stdin: IO[str] | None = None
) -> str | None:
    """The user's message: each ``-f`` file, then piped stdin, then ``prompt``, joined
    by blank lines; ``None`` when there is none of them. ``prompt`` ``-`` is stdin."""
    parts = []
    for path in files:
        try:
            parts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            message = f"cannot read {path}: {_reason(exc)}"
            raise click.BadParameter(message, param_hint="-f") from exc
    if prompt == "-":
        prompt = None
    piped = read_piped(stdin)
    if piped is not None:
        parts.append(piped.rstrip("\n"))
    if prompt:
        parts.append(prompt)
    return "\n\n".join(parts) if parts else None


def load_messages(path: Path) -> list[dict[str, Any]]:
    """A JSON file of messages: a list, or an object with ``messages`` (``/save``'s file)."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {_reason(exc)}") from exc
    loaded = loaded.get("messages", loaded) if isinstance(loaded, dict) else loaded
    if not isinstance(loaded, list) or not all(isinstance(m, dict) for m in loaded):
        raise click.BadParameter(f"{path} must hold a list of messages")
    return loaded


def parse_options(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``-o KEY VALUE`` pairs: a value that reads as JSON (``0.9``, ``["\\n"]``, ``true``)
    is taken as such, anything else as text (``-o reasoning_effort low``)."""
    options: dict[str, Any] = {}
    for key, value in pairs:
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def read_schema(value: str) -> dict[str, Any]:
    """``--schema``: inline JSON or a file holding it; gives a ``response_format``."""
    text = value
    path = Path(value)
    if not value.lstrip().startswith("{"):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(
                f"{value} is neither JSON nor a readable file ({_reason(exc)})",
                param_hint="--schema",
            ) from exc
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--schema") from exc
    if not isinstance(schema, dict):
        raise click.BadParameter("a JSON schema is an object", param_hint="--schema")
    if schema.get("type") == "json_schema" and "json_schema" in schema:
        return schema  # already a whole response_format
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)
