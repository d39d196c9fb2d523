"""The generation knobs' other spellings, and the one loop that reads them. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PARAMETER_ALIASES", "apply_aliases"]

#: Other spellings people use for the same knobs (OpenAI's and huggingface_hub's),
#: by the name both routes read.
PARAMETER_ALIASES: Mapping[str, str] = {"stop_sequences": "stop", "max_new_tokens": "max_tokens"}


def apply_aliases(kwargs: dict[str, Any], aliases: Mapping[str, str] = PARAMETER_ALIASES) -> None:
    """Rename, in place, each alias in ``kwargs`` to its name (an explicit name wins)."""
    for alias, name in aliases.items():
        if alias in kwargs and name not in kwargs:
            kwargs[name] = kwargs.pop(alias)
