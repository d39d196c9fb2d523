"""Where the log lives and whether it is on: ``HFINFER_LOGS_DB``, ``HFINFER_NO_LOG``,
and the ``logs-off`` file that ``hfinfer logs off`` leaves in the data folder."""

from __future__ import annotations

import os
from pathlib import Path

from ..config import data_dir

__all__ = ["logs_db_path", "logs_enabled", "set_logs_enabled"]

_TRUE = {"1", "true", "yes", "on"}


def logs_db_path() -> Path:
    """``HFINFER_LOGS_DB`` when set, else ``logs.db`` in :func:`hfinfer.config.data_dir`."""
    configured = os.environ.get("HFINFER_LOGS_DB", "").strip()
    return Path(configured).expanduser() if configured else data_dir() / "logs.db"


def _off_marker() -> Path:
    return data_dir() / "logs-off"


def logs_enabled() -> bool:
    """False when ``HFINFER_NO_LOG`` is true or ``hfinfer logs off`` was run."""
    if os.environ.get("HFINFER_NO_LOG", "").strip().lower() in _TRUE:
        return False
    return not _off_marker().exists()


def set_logs_enabled(enabled: bool) -> None:
    """Turn logging on or off for every later command (a marker file, as llm keeps one)."""
    marker = _off_marker()
    if enabled:
        marker.unlink(missing_ok=True)
    else:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
