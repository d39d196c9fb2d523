"""The conversation log: SQLite, one row per conversation and one per turn.

:class:`LogStore` is the blocking store (one connection, WAL, so that the
gateway and the CLI can write at once); :class:`ConversationLog` is its face
for async code: every call runs on one worker thread, and a database that is
locked or corrupt gives one warning and then stays out of the way, so a chat
never fails because its log cannot be written.

A turn is written when its first token arrives (status ``streaming``) and
completed at its end (``done``, ``interrupted`` or ``error``), so an answer
cut by Ctrl-C or a broken connection is kept with what had arrived.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from .migrations import migrate

__all__ = [
    "ConversationLog",
    "LogStore",
    "TurnRecord",
    "history_messages",
    "new_id",
    "turn_messages",
    "utc_now",
]

T = TypeVar("T")

#: How long a write waits for another process's lock before giving up (seconds).
BUSY_TIMEOUT = 5.0

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """A 26-character id that sorts by creation time (a ULID: 48 bits of
    milliseconds, then 80 random bits, in Crockford's base 32)."""
    number = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5)).lower()


def utc_now() -> str:
    """Now, as ISO 8601 in UTC with microseconds (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass
class TurnRecord:
    """One exchange: what was asked, what came back, and how it went.

    ``input_messages`` are the messages this turn added to the conversation
    (the user's, usually one); ``system`` the system prompt in force.
    ``status`` is ``streaming`` (the first token arrived), ``done``,
    ``interrupted`` or ``error``. Times are in seconds, the cost in USD.
    """

    conversation_id: str
    model: str
    id: str = field(default_factory=new_id)
    created: str = field(default_factory=utc_now)
    route: str | None = None
    provider: str | None = None
    request_id: str | None = None
    system: str | None = None
    prompt: str | None = None
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    ttft: float | None = None
    duration: float | None = None
    status: str = "streaming"
    error: str | None = None
    in_history: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-ready data."""
        return asdict(self)


_JSON_COLUMNS = ("input_messages", "options", "tool_calls")
_COLUMNS = tuple(f.name for f in fields(TurnRecord))


def _to_row(turn: TurnRecord) -> tuple[Any, ...]:
    values = asdict(turn)
    for name in _JSON_COLUMNS:
        values[name] = json.dumps(values[name], ensure_ascii=False, default=str)
    values["in_history"] = int(turn.in_history)
    return tuple(values[name] for name in _COLUMNS)


def _from_row(row: sqlite3.Row) -> TurnRecord:
    values = {name: row[name] for name in _COLUMNS}
    for name in _JSON_COLUMNS:
        empty: Any = {} if name == "options" else []
        values[name] = json.loads(values[name]) if values[name] else empty
    values["in_history"] = bool(values["in_history"])
    return TurnRecord(**values)


def turn_messages(turn: TurnRecord) -> list[dict[str, Any]]:
    """The messages one turn adds to its conversation: its input, then the answer."""
    answer: dict[str, Any] = {"role": "assistant", "content": turn.output}
    if turn.tool_calls:
        answer["tool_calls"] = turn.tool_calls
    return [*turn.input_messages, answer]


def history_messages(turns: list[TurnRecord]) -> list[dict[str, Any]]:
    """The messages a conversation's turns add up to, to send again when it continues.

    The system prompt is the latest turn's (first in the list); turns taken out
    (``/undo``) and turns that failed with nothing said are left out.
    """
    messages: list[dict[str, Any]] = []
    system = next((t.system for t in reversed(turns) if t.in_history and t.system), None)
    if system:
        messages.append({"role": "system", "content": system})
    for turn in turns:
        if turn.in_history and (turn.output or turn.tool_calls):
            messages.extend(turn_messages(turn))
    return messages


class LogStore:
    """The log database, blocking. Open it with :meth:`open` (creates the file and
    runs the migrations); use one instance from one thread at a time.

    Raises :class:`sqlite3.Error` (locked, corrupt, not a database) and
    :class:`OSError` (the folder cannot be made); :class:`ConversationLog`
    turns those into one warning.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: sqlite3.Connection | None = None

    def open(self) -> LogStore:
        """Connect, switch to WAL, and bring the schema up to date."""
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self

    @property
    def db(self) -> sqlite3.Connection:
        return self.open()._db  # type: ignore[return-value]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> LogStore:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def write_turn(self, turn: TurnRecord) -> None:
        """Insert or update ``turn`` (and its conversation, the first time)."""
        placeholders = ", ".join("?" for _ in _COLUMNS)
        updates = ", ".join(f"{name} = excluded.{name}" for name in _COLUMNS if name != "id")
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO conversations (id, name, model, created) "
                "VALUES (?, ?, ?, ?)",
                (turn.conversation_id, _title(turn.prompt), turn.model, turn.created),
            )
            db.execute(
                f"INSERT INTO turns ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT(id) DO UPDATE SET {updates}",
                _to_row(turn),
            )

    def set_in_history(self, turn_id: str, in_history: bool) -> None:
        """Take a turn out of its conversation (or put it back); the row stays."""
        with self._transaction() as db:
            db.execute("UPDATE turns SET in_history = ? WHERE id = ?", (int(in_history), turn_id))

    def turns(self, conversation_id: str) -> list[TurnRecord]:
        """A conversation's turns, oldest first."""
        rows = self.db.execute(
            "SELECT * FROM turns WHERE conversation_id = ? ORDER BY created, rowid",
            (conversation_id,),
        )
        return [_from_row(row) for row in rows]

    def has_conversation(self, conversation_id: str) -> bool:
        row = self.db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
        return row.fetchone() is not None

    def last_conversation_id(self) -> str | None:
        """The conversation whose latest turn is the most recent."""
        row = self.db.execute(
            "SELECT conversation_id FROM turns ORDER BY created DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def search(
        self, *, query: str | None = None, conversation_id: str | None = None, limit: int = 3
    ) -> list[TurnRecord]:
        """The latest ``limit`` turns (0: all), oldest first; ``query`` matches text in
        the prompt, system prompt, answer or reasoning (case-insensitive for ASCII)."""
        where, args = [], []
        if conversation_id:
            where.append("conversation_id = ?")
            args.append(conversation_id)
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern += "%"
            where.append(
                "(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _SEARCHED) + ")"
            )
            args.extend([pattern] * len(_SEARCHED))
        sql = "SELECT * FROM turns"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, rowid DESC"
        if limit > 0:
            sql += f" LIMIT {int(limit)}"
        return [_from_row(row) for row in reversed(self.db.execute(sql, args).fetchall())]

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


_SEARCHED = ("prompt", "system", "output", "reasoning")


def _title(prompt: str | None) -> str | None:
    # A conversation is named by the start of its first prompt, as llm names them.
    if not prompt:
        return None
    line = " ".join(prompt.split())
    return line[:60] + ("…" if len(line) > 60 else "")


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: take the write lock up front, so that a
    busy database waits (up to :data:`BUSY_TIMEOUT`) instead of failing midway."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class ConversationLog:
    """The log for async code: each call runs on one worker thread.

    The first failure (a locked or corrupt database, a folder that cannot be
    made) is reported once through ``warn`` and turns the log off for the rest
    of this object's life: the calls then do nothing and return ``None`` or an
    empty answer. Close it with :meth:`aclose` (or ``async with``).
    """

    def __init__(
        self, path: str | Path, *, warn: Callable[[str], None], busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.store = LogStore(path, busy_timeout=busy_timeout)
        self.path = self.store.path
        self._warn = warn
        self.broken = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hfinfer-log")

    async def _call(self, function: Callable[[], T], fallback: T) -> T:
        if self.broken:
            return fallback
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, function)
        except (sqlite3.Error, OSError) as exc:
            self.broken = True
            self._warn(
                f"the conversation log at {self.path} cannot be used ({_describe(exc)}); "
                "this chat is not logged"
            )
            return fallback

    async def write_turn(self, turn: TurnRecord) -> None:
        """Insert or update one turn (a copy is taken, so the caller may go on changing it)."""
        snapshot = TurnRecord(**{f.name: getattr(turn, f.name) for f in fields(turn)})
        await self._call(lambda: self.store.write_turn(snapshot), None)

    async def set_in_history(self, turn_id: str, in_history: bool) -> None:
        await self._call(lambda: self.store.set_in_history(turn_id, in_history), None)

    async def turns(self, conversation_id: str) -> list[TurnRecord]:
        return await self._call(lambda: self.store.turns(conversation_id), [])

    async def last_conversation_id(self) -> str | None:
        return await self._call(self.store.last_conversation_id, None)

    async def aclose(self) -> None:
        """Close the database and stop the worker thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self.store.close)
        self._thread.shutdown(wait=True)

    async def __aenter__(self) -> ConversationLog:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return "the file is not an SQLite database or is damaged"
    return text

