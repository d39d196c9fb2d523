"""The model the command line uses when ``-m`` is not given: ``HFINFER_MODEL``, else the
one saved by ``hfinfer models default MODEL``, else the route's own default."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import data_dir

__all__ = ["chosen_model", "default_model_file", "save_default_model", "saved_default_model"]


def default_model_file() -> Path:
    """``default-model`` in the data folder: one model id."""
    return data_dir() / "default-model"


def saved_default_model() -> str | None:
    """The model ``hfinfer models default MODEL`` saved, if any."""
    try:
        text = default_model_file().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def save_default_model(model: str | None) -> None:
    """Save ``model`` as the default (``None``: forget the saved one)."""
    path = default_model_file()
    if model is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model + "\n", encoding="utf-8")


def chosen_model(given: str | None) -> str | None:
    """``-m``, else ``HFINFER_MODEL``, else the saved default; ``None``: the route's default."""
    return given or os.environ.get("HFINFER_MODEL", "").strip() or saved_default_model()
