"""How an answer is shown: for people on a terminal, for pipes, and as JSON for scripts.

The answer goes to stdout, everything else to stderr. On a terminal the
answer's Markdown is rendered live (rich), reasoning is a dim block set
apart, and a status line shows while the first token is awaited; piped,
stdout gets the plain text as it arrives and nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import IO, Any, Protocol

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.status import Status

from ..types import Reasoning, ToolCall, ToolCalls

__all__ = ["AnswerView", "JsonView", "StreamView", "describe_tool_call", "is_terminal"]


def is_terminal(stream: IO[str] | None) -> bool:
    """Whether ``stream`` is an interactive terminal (``False`` for ``None``, pipes, files)."""
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):  # a closed stream
        return False


def describe_tool_call(call: ToolCall) -> str:
    """``name({"city": "Paris"})``: a tool call as one line."""
    return f"{call.name}({call.arguments})"


class AnswerView(Protocol):
    """What :func:`hfinfer.cli.exchange.ask` tells while a turn runs."""

    def waiting(self, model: str) -> None:
        """The request is sent; nothing has come back yet."""

    def retrying(self, note: str, loading_seconds: float | None) -> None:
        """An attempt failed and another follows (``loading_seconds``: a cold model's estimate)."""

    def chunk(self, chunk: Any) -> None:
        """One chunk of the stream vocabulary."""

    def end(self, response: Any, *, error: BaseException | None, extra: dict[str, Any]) -> None:
        """The turn is over (``error``: why it stopped early, if it did)."""


class _Tail:
    """The last lines of a renderable that fit the screen: a live view of a long
    answer shows where the text grows (the whole answer is printed at the end)."""

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options, pad=False)
        keep = max(1, console.size.height - 2)
        for line in lines[-keep:]:
            yield from line
            yield Segment.line()


class StreamView:
    """Text as it arrives: rendered Markdown on a terminal (``markdown=True``), plain
    text otherwise. Reasoning (unless ``show_reasoning`` is false) and tool calls go
    to stderr; the status line and retry notes only when stderr is a terminal."""

    def __init__(
        self,
        *,
        markdown: bool,
        show_reasoning: bool = True,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.markdown = markdown
        self.show_reasoning = show_reasoning
        self.err_is_terminal = is_terminal(self.stderr)
        self.err = Console(file=self.stderr, highlight=False, soft_wrap=True)
        # --render on a pipe (for `less -R`): styles without a terminal to detect.
        forced = True if markdown and not is_terminal(self.stdout) else None
        self.out = (
            Console(file=self.stdout, highlight=False, force_terminal=forced) if markdown else None
        )
        if self.out is not None and self.out.is_dumb_terminal:
            self.out = None  # TERM=dumb cannot redraw: plain text as it comes
        self.text = ""
        self._status: Status | None = None
        self._live: Live | None = None
        self._in_reasoning = False
        self._reasoned = False

    # The status line while the first token is awaited, on a terminal only.
    def waiting(self, model: str) -> None:
        if self.err_is_terminal:
            self._status = Status(f"[dim]waiting for {model}…[/]", console=self.err)
            self._status.start()

    def retrying(self, note: str, loading_seconds: float | None) -> None:
        if not self.err_is_terminal:
            return
        self.err.print(f"[dim]{_escape(note)}[/]")
        if self._status is not None and loading_seconds:
            self._status.update(f"[dim]the model is loading (about {loading_seconds:.0f} s)…[/]")

    def _stop_status(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def chunk(self, chunk: Any) -> None:
        if isinstance(chunk, str):
            if chunk:
                self._stop_status()
                self._answer(chunk)
        elif isinstance(chunk, Reasoning):
            if chunk.token:
                self._stop_status()
                self._reasoning(chunk.token)
        elif isinstance(chunk, ToolCalls):
            self._stop_status()
            self._end_reasoning()
            for call in chunk:
                self._note(f"tool call: {describe_tool_call(call)}")

    def _reasoning(self, token: str) -> None:
        if not self.show_reasoning:
            return
        if self.err_is_terminal:
            # A block set apart: a dim bar before each line, as quotes are drawn.
            start = "" if self._in_reasoning else "[dim]│ thinking[/]\n[dim]│[/] "
            body = _escape(token).replace("\n", "\n[dim]│[/] ")
            self.err.print(f"{start}[dim italic]{body}[/]", end="")
        else:
            self.stderr.write(token)
            self.stderr.flush()
        self._in_reasoning = self._reasoned = True

    def _end_reasoning(self) -> None:
        if self._in_reasoning:
            self.stderr.write("\n\n")
            self.stderr.flush()
            self._in_reasoning = False

    def _answer(self, text: str) -> None:
        self._end_reasoning()
        self.text += text
        if self.out is None:
            self.stdout.write(text)
            self.stdout.flush()
            return
        if self._live is None:
            self._live = Live(
                console=self.out, transient=True, refresh_per_second=8, redirect_stderr=False
            )
            self._live.start()
        self._live.update(_Tail(Markdown(self.text)))

    def _note(self, text: str) -> None:
        if self.err_is_terminal:
            self.err.print(f"[yellow]{_escape(text)}[/]")
        else:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def end(self, response: Any, *, error: BaseException | None, extra: dict[str, Any]) -> None:
        self._stop_status()
        self._end_reasoning()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self.out is not None and self.text:
            self.out.print(Markdown(self.text))
        elif self.text:
            self.stdout.write("\n")  # what arrived stays on stdout, ended by a newline
            self.stdout.flush()
        reason = getattr(response, "finish_reason", None)
        if error is None and reason == "length":
            self._note("(stopped at the token limit; raise --max-tokens for more)")


class JsonView:
    """Nothing while the answer streams; at the end one JSON object on stdout, also when
    the turn failed (with what had arrived, and an ``error`` object)."""

    def __init__(self, stdout: IO[str] | None = None) -> None:
        self.stdout = stdout or sys.stdout

    def waiting(self, model: str) -> None:
        pass

    def retrying(self, note: str, loading_seconds: float | None) -> None:
        pass

    def chunk(self, chunk: Any) -> None:
        pass

    def end(self, response: Any, *, error: BaseException | None, extra: dict[str, Any]) -> None:
        data = response.to_dict() if hasattr(response, "to_dict") else {}
        data.update(extra)
        data["error"] = None if error is None else error_object(error)
        self.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        self.stdout.flush()


def error_object(error: BaseException) -> dict[str, Any]:
    """The ``error`` member of ``--json``'s object: type, message, and what the server said."""
    import asyncio

    from .errors import describe_error

    if isinstance(error, (asyncio.CancelledError, KeyboardInterrupt)):
        return {"type": "Interrupted", "message": "stopped by Ctrl-C"}
    info: dict[str, Any] = {"type": type(error).__name__, "message": describe_error(error)}
    for name in ("status", "request_id", "error_type"):
        value = getattr(error, name, None)
        if value is not None:
            info[name] = value
    return info


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_lines(lines: Iterable[str], stream: IO[str] | None = None) -> None:
    """Write ``lines`` to ``stream`` (stderr by default), one per line."""
    target = stream or sys.stderr
    for line in lines:
        target.write(line + "\n")
    target.flush()
