"""The log database's schema, as a numbered list of migrations kept in code.

Each migration is a function ``mNNN_name(db)``; :func:`migrate` runs, in
order, those not yet recorded in the ``_migrations`` table, each in its own
transaction. A migration, once released, is never edited: a change of schema
is a new migration at the end of the list.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "migrate"]

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []


def migration(function: Migration) -> Migration:
    """Add ``function`` to :data:`MIGRATIONS` (the order of definition is the order run)."""
    MIGRATIONS.append(function)
    return function


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations ``db`` lacks; returns the names applied.

    All in one write transaction (``BEGIN IMMEDIATE``): two processes opening a
    new database at once (the gateway and the CLI) cannot both create it, and a
    failing migration leaves the last good schema. ``db`` must be in autocommit
    mode (``isolation_level=None``).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT)")
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        applied = []
        for function in MIGRATIONS:
            if function.__name__ in done:
                continue
            function(db)
            db.execute(
                "INSERT INTO _migrations (name, applied) VALUES (?, datetime('now'))",
                (function.__name__,),
            )
            applied.append(function.__name__)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied


@migration
def m001_conversations_and_turns(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            name TEXT,
            model TEXT,
            created TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE turns (
            id TEXT PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations(id),
            created TEXT NOT NULL,
            model TEXT,
            route TEXT,
            provider TEXT,
            request_id TEXT,
            system TEXT,
            prompt TEXT,
            input_messages TEXT,
            options TEXT,
            output TEXT NOT NULL DEFAULT '',
            reasoning TEXT NOT NULL DEFAULT '',
            tool_calls TEXT,
            finish_reason TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost_usd REAL,
            ttft REAL,
            duration REAL,
            status TEXT NOT NULL,
            error TEXT
        )"""
    )
    db.execute("CREATE INDEX turns_conversation ON turns (conversation_id, created)")
    db.execute("CREATE INDEX turns_created ON turns (created)")


@migration
def m002_turns_in_history(db: sqlite3.Connection) -> None:
    # /undo and /retry take a turn out of the conversation; the log keeps it.
    db.execute("ALTER TABLE turns ADD COLUMN in_history INTEGER NOT NULL DEFAULT 1")
