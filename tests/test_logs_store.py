"""The conversation log: schema by migrations, turns written twice, search, and a
database that cannot be used giving one warning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hfinfer.logs import (
    ConversationLog,
    LogStore,
    TurnRecord,
    estimate_cost,
    format_cost,
    history_messages,
    logs_db_path,
    logs_enabled,
    new_id,
    set_logs_enabled,
)
from hfinfer.logs.migrations import MIGRATIONS, migrate


def turn(cid: str, prompt: str, output: str = "", **fields: object) -> TurnRecord:
    return TurnRecord(
        conversation_id=cid,
        model="org/chat",
        prompt=prompt,
        input_messages=[{"role": "user", "content": prompt}],
        output=output,
        **fields,  # type: ignore[arg-type]
    )


def test_migrations_run_once_and_are_recorded(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "logs.db", isolation_level=None)
    assert migrate(db) == [m.__name__ for m in MIGRATIONS]
    assert migrate(db) == []
    names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == sorted(m.__name__ for m in MIGRATIONS)
    columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
    assert {"ttft", "duration", "cost_usd", "status", "in_history", "tool_calls"} <= columns


def test_store_is_in_wal_mode(tmp_path: Path) -> None:
    with LogStore(tmp_path / "logs.db") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_turn_is_written_at_first_token_and_completed(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "logs.db"
    record = turn("c1", "Hi there")
    with LogStore(path) as store:
        store.write_turn(record)  # the first token arrived
        [row] = store.turns("c1")
        assert row.status == "streaming" and row.output == ""
        record.output, record.status, record.ttft, record.duration = "Hello", "done", 0.2, 1.5
        record.tool_calls = [{"id": "t", "type": "function", "function": {"name": "f"}}]
        record.prompt_tokens, record.completion_tokens, record.cost_usd = 5, 3, 0.001
        store.write_turn(record)
    with LogStore(path) as store:  # a new process sees the same
        [row] = store.turns("c1")
        assert row == record
        assert store.has_conversation("c1") and not store.has_conversation("c2")


def test_history_resends_turns_in_order_without_undone_or_failed(tmp_path: Path) -> None:
    with LogStore(tmp_path / "logs.db") as store:
        store.write_turn(turn("c", "One", "1", system="Be brief", status="done"))
        store.write_turn(turn("c", "Two", "", status="error", error="HTTP 500"))
        undone = turn("c", "Three", "3", status="done")
        store.write_turn(undone)
        store.set_in_history(undone.id, False)
        store.write_turn(turn("c", "Four", "fo", status="interrupted"))
        messages = history_messages(store.turns("c"))
    assert messages == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "One"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "Four"},
        {"role": "assistant", "content": "fo"},
    ]


def test_search_and_last_conversation(tmp_path: Path) -> None:
    with LogStore(tmp_path / "logs.db") as store:
        assert store.last_conversation_id() is None
        store.write_turn(turn("a", "about primes", "2, 3, 5"))
        store.write_turn(turn("b", "about 100% cotton", "fabric"))
        store.write_turn(turn("a", "more", "7"))
        assert store.last_conversation_id() == "a"
        assert [t.prompt for t in store.search(limit=0)] == [
            "about primes",
            "about 100% cotton",
            "more",
        ]
        assert [t.prompt for t in store.search(limit=2)] == ["about 100% cotton", "more"]
        assert [t.output for t in store.search(query="PRIMES")] == ["2, 3, 5"]
        assert [t.prompt for t in store.search(query="100%")] == ["about 100% cotton"]
        assert [t.prompt for t in store.search(query="0%c")] == []
        assert [t.output for t in store.search(conversation_id="a", limit=0)] == ["2, 3, 5", "7"]


def test_ids_sort_by_time() -> None:
    ids = [new_id() for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) == 26 for i in ids)
    assert ids[0][:8] <= ids[-1][:8]


async def test_a_corrupt_database_warns_once_and_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    path.write_bytes(b"this is not sqlite" * 100)
    warnings: list[str] = []
    async with ConversationLog(path, warn=warnings.append) as log:
        await log.write_turn(turn("c", "Hi", "Hello"))
        await log.write_turn(turn("c", "Again", "Yes"))
        assert await log.turns("c") == []
        assert await log.last_conversation_id() is None
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "not an SQLite database" in warnings[0]


async def test_a_locked_database_warns_once(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    LogStore(path).open().close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    warnings: list[str] = []
    try:
        async with ConversationLog(path, warn=warnings.append, busy_timeout=0.2) as log:
            await log.write_turn(turn("c", "Hi", "Hello"))
            await log.write_turn(turn("c", "Hi", "Hello"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(warnings) == 1 and "locked" in warnings[0]


async def test_two_writers_at_once(tmp_path: Path) -> None:
    # The gateway and the CLI: two connections writing turns to the same file.
    path = tmp_path / "logs.db"
    async with ConversationLog(path, warn=pytest.fail) as one, ConversationLog(
        path, warn=pytest.fail
    ) as two:
        for n in range(5):
            await one.write_turn(turn("one", f"q{n}", "a"))
            await two.write_turn(turn("two", f"q{n}", "a"))
        assert len(await one.turns("two")) == 5 and len(await two.turns("one")) == 5


def test_paths_and_switch(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert logs_db_path() == isolated_env / "hfinfer" / "logs.db"
    monkeypatch.setenv("HFINFER_DATA_DIR", str(isolated_env / "data"))
    assert logs_db_path() == isolated_env / "data" / "logs.db"
    monkeypatch.setenv("HFINFER_LOGS_DB", str(isolated_env / "x.db"))
    assert logs_db_path() == isolated_env / "x.db"
    assert logs_enabled()
    set_logs_enabled(False)
    assert not logs_enabled()
    set_logs_enabled(True)
    assert logs_enabled()
    monkeypatch.setenv("HFINFER_NO_LOG", "1")
    assert not logs_enabled()


class Offer:
    def __init__(self, input_price: float | None, output_price: float | None) -> None:
        self.input_price = input_price
        self.output_price = output_price


def test_cost_estimate() -> None:
    assert estimate_cost(1_000_000, 500_000, Offer(0.2, 0.6)) == pytest.approx(0.5)
    assert estimate_cost(1000, 10, Offer(None, 0.6)) is None
    assert estimate_cost(0, 10, Offer(None, 1.0)) == pytest.approx(0.00001)
    assert estimate_cost(None, 10, Offer(1, 1)) is None
    assert estimate_cost(10, 10, None) is None
    assert format_cost(None) == "cost unknown"
    assert format_cost(0.5) == "$0.50" and format_cost(0.0012) == "$0.0012"
    assert format_cost(0.00001) == "$0.00001"
    assert format_cost(0.0) == "$0" and format_cost(1e-10) == "<$0.000000001"
    assert format_cost(2.8e-6) == "$0.0000028"
