"""Reading the Hub's model info (``GET /api/models/{id}``), pure: the pieces the
prompt, reasoning and routing code need, each dug out in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["model_config", "model_type", "tokenizer_config"]


def model_config(model_info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The info's ``config`` object (``{}`` when missing or not an object)."""
    config = (model_info or {}).get("config")
    # dict first: the Mapping check goes through the ABC machinery, on every call.
    return config if isinstance(config, (dict, Mapping)) else {}


def tokenizer_config(model_info: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``config.tokenizer_config`` (the chat template, special tokens), or ``{}``."""
    found = model_config(model_info).get("tokenizer_config")
    return found if isinstance(found, (dict, Mapping)) else {}


def model_type(model_info: Mapping[str, Any] | None) -> str | None:
    """``config.model_type`` (``"llama"``, ``"qwen2"``...), or ``None``."""
    found = model_config(model_info).get("model_type")
    return found if isinstance(found, str) else None
