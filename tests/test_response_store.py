"""The gateway's response store: rows kept and found, bounded by age, count and size."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from hfinfer.server.response_store import ResponseStore

TRANSCRIPT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]


async def test_a_saved_response_is_found_and_can_be_deleted(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "log.db")
    await store.save("resp_1", TRANSCRIPT, {"id": "resp_1", "status": "completed"})
    found = await store.load("resp_1")
    assert found is not None
    assert found.transcript == TRANSCRIPT and found.response["status"] == "completed"
    assert await store.load("resp_2") is None
    assert await store.delete("resp_1") is True
    assert await store.delete("resp_1") is False
    assert await store.load("resp_1") is None


async def test_the_oldest_rows_go_first_past_the_count_bound(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "log.db", max_rows=3)
    for n in range(5):
        await store.save(f"resp_{n}", TRANSCRIPT, {"id": f"resp_{n}"})
    kept = [n for n in range(5) if await store.load(f"resp_{n}") is not None]
    assert kept == [2, 3, 4]


async def test_the_oldest_rows_go_first_past_the_size_bound(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path / "log.db", max_bytes=5_000)
    big = [{"role": "user", "content": "x" * 2_000}]
    for n in range(4):
        await store.save(f"resp_{n}", big, {"id": f"resp_{n}"})
    kept = [n for n in range(4) if await store.load(f"resp_{n}") is not None]
    assert kept == [2, 3]


async def test_rows_past_their_age_are_neither_found_nor_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResponseStore(tmp_path / "log.db", max_age=60)
    await store.save("resp_old", TRANSCRIPT, {"id": "resp_old"})
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert await store.load("resp_old") is None
    await store.save("resp_new", TRANSCRIPT, {"id": "resp_new"})
    # Pruned from the file, not only hidden: a fresh store with no age bound finds nothing.
    assert await ResponseStore(tmp_path / "log.db", max_age=10**9).load("resp_old") is None
    assert await store.load("resp_new") is not None


async def test_it_shares_a_database_file_with_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE conversations (id TEXT)")
    store = ResponseStore(path)
    await store.save("resp_1", TRANSCRIPT, {"id": "resp_1"})
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"conversations", "gateway_responses"} <= tables
