"""The ``hfinfer`` command run as a user runs it: a subprocess, or a pseudo-terminal.

The environment (isolated by ``conftest.isolated_env``, pointed at a local
server by :func:`router_for_cli`) is inherited by the child; its data folder,
and so its log, is ``$HF_HOME/hfinfer``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hfserver import running_in_thread
from routerserver import FakeRouter, clear_router_caches

SCRIPT = Path(sys.executable).with_name("hfinfer")

#: together's price for org/chat, USD per million tokens (input, output).
PRICES = (0.2, 0.6)


def command(*args: str) -> list[str]:
    """The argv of ``hfinfer ARGS``: the installed script, else the module's main()."""
    if SCRIPT.exists():
        return [str(SCRIPT), *args]
    return [sys.executable, "-c", "from hfinfer.cli.main import main; main()", *args]


def run(
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
    unset: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``hfinfer ARGS`` to its end; stdin is ``input`` piped, else empty (not a terminal).
    ``unset`` names variables the child must not see."""
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    return subprocess.run(
        command(*args),
        cwd=cwd,
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def catalogue_entry(model: str, **providers: tuple[float, float] | None) -> dict[str, Any]:
    """One ``/v1/models`` entry: ``together=(0.2, 0.6)`` gives together's prices."""
    offers = []
    for name, prices in providers.items():
        offer: dict[str, Any] = {
            "provider": name,
            "status": "live",
            "context_length": 32768,
            "supports_tools": True,
            "supports_structured_output": False,
        }
        if prices is not None:
            offer["pricing"] = {"input": prices[0], "output": prices[1]}
        offers.append(offer)
    return {"id": model, "object": "model", "owned_by": model.split("/")[0], "providers": offers}


@contextmanager
def router_for_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRouter]:
    """A local router in a thread serving ``org/chat`` (through together, with prices);
    no text-generation base is configured, so ``hfinfer chat`` takes the router."""
    server = FakeRouter()
    server.add_chat_model("org/chat", ["Bonjour", " !"])
    server.router_models.append(catalogue_entry("org/chat", together=PRICES))
    with running_in_thread(server):
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_ROUTER_URL", server.url)
        monkeypatch.delenv("HFINFER_API_BASE", raising=False)
        clear_router_caches()
        yield server
        clear_router_caches()


def log_rows(home: Path) -> list[dict[str, Any]]:
    """The turns the command logged, oldest first, as plain dicts."""
    path = home / "hfinfer" / "logs.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT * FROM turns ORDER BY created, rowid")
        return [dict(row) for row in rows]
    except sqlite3.OperationalError:  # the command is still creating the schema
        return []
    finally:
        db.close()
