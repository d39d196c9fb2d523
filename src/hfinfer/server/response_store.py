"""Stored responses for ``previous_response_id``: a small SQLite table, bounded.

Each row holds one response's whole chat transcript (without its
``instructions``, which OpenAI does not carry over) and the ``response``
object itself, so a later request continues from one row alone and a pruned
older row breaks nothing. Rows are bounded by age, by count and by total
size; the oldest go first. sqlite3 runs in a worker thread (one short
connection per operation: no state to open or close with the app).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["ResponseStore", "StoredResponse"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gateway_responses (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    size INTEGER NOT NULL,
    transcript BLOB NOT NULL,
    response BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS gateway_responses_created ON gateway_responses (created);
"""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One stored response: its chat ``transcript`` and the ``response`` object."""

    transcript: list[Any]  # chat messages
    response: dict[str, Any]


class ResponseStore:
    """Responses kept in the SQLite file ``path`` (the gateway's log database).

    ``max_age`` seconds, ``max_rows`` rows and ``max_bytes`` in all bound it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_age: float = 7 * 24 * 3600.0,
        max_rows: int = 10_000,
        max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.path = str(path)
        self.max_age = max_age
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()  # one writer at a time within the process
        self._ready = False

    async def save(self, response_id: str, transcript: list[Any], response: dict[str, Any]) -> None:
        """Keep a response (replacing one of the same id), then prune."""
        await asyncio.to_thread(self._save, response_id, transcript, response)

    async def load(self, response_id: str) -> StoredResponse | None:
        """The stored response of that id, or ``None`` (never stored, expired or pruned)."""
        return await asyncio.to_thread(self._load, response_id)

    async def delete(self, response_id: str) -> bool:
        """Forget a response; whether it was there."""
        return await asyncio.to_thread(self._delete, response_id)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30.0)
        if not self._ready:
            connection.executescript(_SCHEMA)
            self._ready = True
        return connection

    def _save(self, response_id: str, transcript: list[Any], response: dict[str, Any]) -> None:
        transcript_json, response_json = orjson.dumps(transcript), orjson.dumps(response)
        size = len(transcript_json) + len(response_json)
        with self._lock, self._connect() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO gateway_responses VALUES (?, ?, ?, ?, ?)",
                (response_id, time.time(), size, transcript_json, response_json),
            )
            self._prune(connection)
        connection.close()

    def _prune(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            "DELETE FROM gateway_responses WHERE created < ?", (time.time() - self.max_age,)
        )
        # Newest first: keep rows while both the count and the running size fit.
        connection.execute(
            """DELETE FROM gateway_responses WHERE id IN (
                SELECT id FROM (
                    SELECT id, ROW_NUMBER() OVER w AS n, SUM(size) OVER w AS total
                    FROM gateway_responses
                    WINDOW w AS (ORDER BY created DESC, id ROWS UNBOUNDED PRECEDING)
                ) WHERE n > ? OR total > ?
            )""",
            (self.max_rows, self.max_bytes),
        )

    def _load(self, response_id: str) -> StoredResponse | None:
        with self._connect() as connection:
            row = connection.execute(
                "SELECT transcript, response FROM gateway_responses WHERE id = ? AND created >= ?",
                (response_id, time.time() - self.max_age),
            ).fetchone()
        connection.close()
        if row is None:
            return None
        return StoredResponse(orjson.loads(row[0]), orjson.loads(row[1]))

    def _delete(self, response_id: str) -> bool:
        with self._lock, self._connect() as connection:
            deleted = connection.execute(
                "DELETE FROM gateway_responses WHERE id = ?", (response_id,)
            ).rowcount
        connection.close()
        return deleted > 0
