"""Find a model's chat template: ``chat_template.jinja`` in the repo wins (as in
transformers >= 4.47), then the template inline in the model info, then the
repo's ``tokenizer_config.json``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import HFInferenceError
from ..model_info import tokenizer_config
from ..prompts.chat_template import special_tokens_from
from ..prompts.select import TemplateInfo, template_from_model_data
from .cache import is_public_repo
from .metadata import Hub

__all__ = ["load_chat_template"]

logger = logging.getLogger(__name__)


def _siblings(model_data: Mapping[str, Any]) -> set[str] | None:
    siblings = model_data.get("siblings")
    if not isinstance(siblings, list):
        return None  # unknown: the info was trimmed (expand) or the server omits it
    return {s.get("rfilename", "") for s in siblings if isinstance(s, dict)}


async def load_chat_template(
    hub: Hub, model: str, model_data: Mapping[str, Any]
) -> TemplateInfo | None:
    """The model's template with its special tokens, or ``None`` when it has none.

    Hub failures while looking are logged and answered with ``None``: a
    missing template falls back to the family formatters, it does not fail
    the generation.
    """
    files = _siblings(model_data)
    inline = tokenizer_config(model_data)
    public = is_public_repo(model_data)  # a private or gated repo's files stay per token
    try:
        if files is None or "chat_template.jinja" in files:
            text = await hub.repo_file(model, "chat_template.jinja", public=public)
            if text:
                tokens = special_tokens_from(inline)
                if not tokens:
                    tokens = special_tokens_from(
                        await _tokenizer_config_file(hub, model, files, public)
                    )
                return TemplateInfo(text, tokens, "chat_template.jinja")
        info = template_from_model_data(model_data)
        if info is not None:
            return info
        if files is None or "tokenizer_config.json" in files:
            from_file = await _tokenizer_config_file(hub, model, files, public)
            template = from_file.get("chat_template")
            if template:
                return TemplateInfo(
                    template, special_tokens_from(from_file), "tokenizer_config.json"
                )
    except HFInferenceError as exc:
        logger.warning("could not fetch the chat template of %s (%s); using a fallback", model, exc)
    return None


async def _tokenizer_config_file(
    hub: Hub, model: str, files: set[str] | None, public: bool
) -> Mapping[str, Any]:
    if files is not None and "tokenizer_config.json" not in files:
        return {}
    text = await hub.repo_file(model, "tokenizer_config.json", public=public)
    if not text:
        return {}
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        logger.warning("the tokenizer_config.json of %s is not JSON; ignoring it", model)
        return {}
    return data if isinstance(data, dict) else {}
