"""Choose how a prompt is built: the model's own chat template first, the seed's
family guesses only when no template can be had. Says which path it took."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model_info import tokenizer_config
from .chat_template import (
    choose_template,
    render_chat_template,
    render_may_be_slow,
    special_tokens_from,
)
from .families import format_with_family, pick_family
from .render_limits import RenderLimits

__all__ = [
    "Prompt",
    "TemplateInfo",
    "build_prompt",
    "get_inputs",
    "prompt_may_be_slow",
    "template_from_model_data",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateInfo:
    """A model's chat template and the special tokens it is rendered with.

    ``template`` is a string or transformers' list of named templates;
    ``source`` says where it came from (for ``hfinfer prompt`` and logs).
    """

    template: str | list[dict[str, Any]]
    special_tokens: dict[str, str] = field(default_factory=dict)
    source: str = "model info"


@dataclass(frozen=True)
class Prompt:
    """A built prompt and how it was built (``chat_template: ...`` or ``family: ...``)."""

    text: str
    source: str


def template_from_model_data(model_data: Mapping[str, Any] | None) -> TemplateInfo | None:
    """The template inline in the Hub's model info (``config.tokenizer_config``), if any."""
    inline = tokenizer_config(model_data)
    template = inline.get("chat_template")
    if not template:
        return None
    return TemplateInfo(template, special_tokens_from(inline), "model info")


def build_prompt(
    messages: Sequence[Mapping[str, Any]],
    model_data: Mapping[str, Any] | None,
    model_type: str | None = None,
    do_continue: bool = False,
    *,
    template: TemplateInfo | None = None,
    tools: list[dict[str, Any]] | None = None,
    documents: list[dict[str, Any]] | None = None,
    render_limits: RenderLimits | None = None,
) -> Prompt:
    """Render ``messages`` for a model.

    ``template`` (fetched by the caller) wins; else the template inline in
    ``model_data``; else the seed's family rules. ``do_continue`` ends the
    prompt inside the last message (transformers' ``continue_final_message``).
    Raises :class:`~hfinfer.errors.TemplateError` when the template refuses the
    conversation (its own message is quoted).
    """
    info = template or template_from_model_data(model_data)
    chosen = choose_template(info.template, tools=tools) if info else None
    if info is not None and chosen is not None:
        text = render_chat_template(
            chosen,
            list(messages),
            add_generation_prompt=not do_continue,
            continue_final_message=do_continue,
            tools=tools,
            documents=documents,
            special_tokens=info.special_tokens,
            render_limits=render_limits,
        )
        source = f"chat_template ({info.source})"
    else:
        family = pick_family(model_data, model_type)
        text = format_with_family(family, messages, model_data, do_continue)
        source = f"family: {family}"
    logger.debug("prompt built with %s (%d characters)", source, len(text))
    return Prompt(text, source)


def prompt_may_be_slow(
    model_data: Mapping[str, Any] | None,
    *,
    template: TemplateInfo | None = None,
    tools: list[dict[str, Any]] | None = None,
) -> bool:
    """Whether :func:`build_prompt` with these arguments renders a chat template that
    is new or was slow last time (worth running off the event loop); the family
    formatters and templates known to be fast are not."""
    info = template or template_from_model_data(model_data)
    try:
        chosen = choose_template(info.template, tools=tools) if info else None
    except Exception:
        return False  # build_prompt raises the same error at once
    return chosen is not None and render_may_be_slow(chosen)


def get_inputs(
    messages: Sequence[Mapping[str, Any]],
    model_data: Mapping[str, Any] | None,
    model_type: str | None,
    do_continue: bool = False,
) -> str:
    """The prompt text for ``messages`` (the seed's function, template first).

    >>> get_inputs([{"role": "user", "content": "Hi"}], {}, "gpt2")
    'Hi'
    """
    return build_prompt(messages, model_data, model_type, do_continue).text
