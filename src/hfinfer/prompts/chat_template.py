"""Render a model's chat template exactly as ``transformers`` renders it
(``apply_chat_template(..., tokenize=False)``), inside Jinja's immutable sandbox.

The environment mirrors transformers' ``_compile_jinja_template``:
``trim_blocks``, ``lstrip_blocks``, loop controls, a ``{% generation %}``
block that renders its body, the globals ``raise_exception`` and
``strftime_now``, and a ``tojson`` that keeps non-ASCII text. A template from
an untrusted repo cannot reach Python internals: the sandbox refuses, and the
refusal surfaces as :class:`~hfinfer.errors.TemplateError`.
"""

from __future__ import annotations

import datetime
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ..errors import TemplateError
from . import render_limits as limits
from .render_limits import DEFAULT_RENDER_LIMITS, RenderLimitExceeded, RenderLimits
from .render_limits import SMALL_SIZE as _SMALL_SIZE

__all__ = [
    "MAX_TEMPLATE_CHARS",
    "SPECIAL_TOKEN_NAMES",
    "RenderLimits",
    "choose_template",
    "compile_template",
    "render_chat_template",
    "render_may_be_slow",
    "special_tokens_from",
]

#: The named special tokens transformers passes to a template (its special_tokens_map).
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)

#: The longest real template (gpt-oss) is 17 KB; a longer text is not a chat template
#: but a way to make compiling it expensive.
MAX_TEMPLATE_CHARS = 256 * 1024
#: A render faster than this (the last time this template was rendered) stays on the
#: caller's thread; anything else may be slow and is worth a worker thread.
FAST_RENDER_SECONDS = 0.002

#: The clock behind ``strftime_now``; tests replace it to freeze the date.
now: Callable[[], datetime.datetime] = datetime.datetime.now


class _TemplateRaised(Exception):
    """``raise_exception(...)`` was called by the template itself."""


class _GenerationBlock(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}`` marks assistant text for
    training masks in transformers; for rendering it is its body."""

    tags = {"generation"}  # noqa: RUF012 - jinja's interface

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(
            lineno
        )

    def _render(self, caller: Callable[[], str]) -> str:
        return caller()


class _StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, but an unsafe attribute raises at once, and every
    loop, call, growing operator and output checks the render's budget
    (:mod:`hfinfer.prompts.render_limits`).

    Jinja's sandbox answers ``x.__class__`` with an undefined value that
    prints as nothing; a template that reaches for internals should fail
    loudly instead of rendering a quietly different prompt.
    """

    intercepted_binops = limits.INTERCEPTED_BINOPS

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":  # the common one, inline: it at most doubles a checked value
            value = left + right
            kind = type(value)
            if (kind is str or kind is list or kind is tuple) and len(value) > _SMALL_SIZE:
                limits.check_size(len(value))
            return value
        return limits.guarded_binop(operator, left, right)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        limits.check_time()
        limits.check_call(obj, args, kwargs)
        return limits.guarded_result(super().call(context, obj, *args, **kwargs))

    def _parse(self, source: str, name: str | None, filename: str | None) -> jinja2.nodes.Template:
        tree = limits.guard_tree(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree


def _raise_exception(message: str) -> None:
    raise _TemplateRaised(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Not jinja's own tojson: that one escapes HTML and non-ASCII characters.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    return now().strftime(format)


@functools.lru_cache(maxsize=64)
def compile_template(template: str) -> jinja2.Template:
    """Compile once per template text (cached); a syntax error is a TemplateError."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"The chat template is {len(template):,} characters long, over the limit of "
            f"{MAX_TEMPLATE_CHARS:,}: it is not rendered."
        )
    env = _StrictSandbox(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationBlock, jinja2.ext.loopcontrols],
    )
    env.concat = limits.bounded_concat  # type: ignore[method-assign]
    env.filters["tojson"] = _tojson
    env.filters.update(limits.guarded_filters(env.filters))
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(template)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"The chat template does not compile (line {exc.lineno}): {exc.message}"
        ) from exc
    except (RecursionError, MemoryError) as exc:  # a tree too deep to compile
        raise TemplateError(f"The chat template does not compile ({type(exc).__name__}).") from exc


#: How long the last render of each template text took (a few hundred entries at most).
_last_render_seconds: dict[str, float] = {}


def render_may_be_slow(template: str) -> bool:
    """False once ``template`` has rendered quickly before: it then stays on the
    caller's thread; True for a new template (its compile and first render cost
    unknown) or one that was slow, worth a worker thread off the event loop."""
    seconds = _last_render_seconds.get(template)
    return seconds is None or seconds > FAST_RENDER_SECONDS


def _without_none(message: Any) -> Any:
    # transformers drops keys whose value is None before rendering.
    if isinstance(message, Mapping):
        return {k: v for k, v in message.items() if v is not None}
    return message


def render_chat_template(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = False,
    continue_final_message: bool = False,
    tools: list[dict[str, Any]] | None = None,
    documents: list[dict[str, Any]] | None = None,
    special_tokens: Mapping[str, Any] | None = None,
    render_limits: RenderLimits | None = None,
    **template_kwargs: Any,
) -> str:
    """The prompt ``transformers`` renders for ``messages`` with ``template``.

    ``special_tokens`` (``bos_token``, ``eos_token``, ...) may be strings or
    ``{"content": ...}`` objects; a missing or ``None`` token is undefined in
    the template, as in transformers. Extra keyword arguments become template
    variables (``enable_thinking=False``, ``date_string=...``).
    ``render_limits`` bounds the render in time and size (default
    :data:`~hfinfer.prompts.render_limits.DEFAULT_RENDER_LIMITS`: 2 s, 8 Mi
    characters); a template that passes them raises ``TemplateError``.

    Raises :class:`~hfinfer.errors.TemplateError` when the template does not
    compile, refuses the conversation (quoting its own message), or tries to
    leave the sandbox; and when the flags cannot be honoured.

    >>> render_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}",
    ...                      [{"role": "user", "content": "Hi"}])
    'Hi'
    """
    if not messages:
        raise TemplateError("Cannot render a chat template for an empty conversation.")
    if continue_final_message and add_generation_prompt:
        raise TemplateError(
            "continue_final_message and add_generation_prompt cannot both be set: continue "
            "the last message, or open a new assistant turn."
        )
    variables = {**special_tokens_from(special_tokens or {}), **template_kwargs}
    compiled = compile_template(template)
    started = time.monotonic()
    budget = limits.start_budget(render_limits or DEFAULT_RENDER_LIMITS)
    try:
        rendered = compiled.render(
            messages=[_without_none(m) for m in messages],
            tools=tools,
            documents=documents,
            add_generation_prompt=add_generation_prompt,
            **variables,
        )
    except RenderLimitExceeded as exc:
        raise TemplateError(f"The chat template was stopped: {exc}.") from exc
    except _TemplateRaised as exc:
        raise TemplateError(f"The chat template refused the conversation: {exc}") from exc
    except SecurityError as exc:
        raise TemplateError(f"The chat template tried an unsafe operation: {exc}") from exc
    except MemoryError as exc:
        raise TemplateError("The chat template ran out of memory while rendering.") from exc
    except Exception as exc:  # a template is code from the repo: any failure is its own
        raise TemplateError(
            f"The chat template failed while rendering ({type(exc).__name__}): {exc}"
        ) from exc
    finally:
        limits.end_budget(budget)
        _remember_render_time(template, time.monotonic() - started)
    if continue_final_message:
        rendered = _cut_after_final_message(rendered, messages[-1])
    return rendered


def _remember_render_time(template: str, seconds: float) -> None:
    if len(_last_render_seconds) > 256 and template not in _last_render_seconds:
        _last_render_seconds.clear()
    _last_render_seconds[template] = seconds


def _cut_after_final_message(rendered: str, final: Mapping[str, Any]) -> str:
    """End the prompt right after the last message's text, as transformers does."""
    content = final.get("content")
    if isinstance(content, (list, tuple)):
        for part in reversed(content):
            if isinstance(part, Mapping) and "text" in part:
                content = part["text"]
                break
        else:
            raise TemplateError(
                "continue_final_message is set but the final message has no text to continue."
            )
    if not isinstance(content, str) or content.strip() not in rendered:
        raise TemplateError(
            "continue_final_message is set but the final message does not appear in the "
            "rendered chat: the template changes it, so it cannot be continued."
        )
    start = rendered.rindex(content.strip())
    if rendered[start : start + len(content.lstrip())] == content:
        return rendered[: start + len(content.lstrip())]
    return rendered[: start + len(content.strip())]


def special_tokens_from(tokenizer_config: Mapping[str, Any]) -> dict[str, str]:
    """The named special tokens of a tokenizer config, as strings.

    A token may be a string or an AddedToken object ``{"content": ...}``;
    missing and ``None`` tokens are left out.
    """
    tokens = {}
    for name in SPECIAL_TOKEN_NAMES:
        value = tokenizer_config.get(name)
        if isinstance(value, Mapping):
            value = value.get("content")
        if isinstance(value, str):
            tokens[name] = value
    return tokens


def choose_template(
    chat_template: str | list[dict[str, Any]] | Mapping[str, str] | None,
    *,
    tools: list[Any] | None = None,
) -> str | None:
    """Pick the template to render, as transformers does.

    A string is used as is. Named templates (a list of ``{"name", "template"}``
    or a dict) give ``tool_use`` when tools are passed and it exists, else
    ``default``; with neither, :class:`TemplateError` lists the names.
    """
    if chat_template is None or isinstance(chat_template, str):
        return chat_template or None
    if not isinstance(chat_template, (Mapping, list, tuple)):
        raise TemplateError(
            f"The model's chat_template is a {type(chat_template).__name__}, not a template."
        )
    if isinstance(chat_template, Mapping):
        named = {str(k): v for k, v in chat_template.items() if isinstance(v, str)}
    else:
        named = {
            item["name"]: item["template"]
            for item in chat_template
            if isinstance(item, Mapping)
            and isinstance(item.get("template"), str)
            and isinstance(item.get("name"), str)
        }
    if tools and "tool_use" in named:
        return named["tool_use"]
    if "default" in named:
        return named["default"]
    raise TemplateError(
        f"The model has several chat templates ({', '.join(sorted(named))}) and none is "
        "named 'default'; pick one by name."
    )
