"""The resume state of a batch: a sidecar SQLite file next to the output.

Rows are keyed by ``custom_id`` with the key (a hash) of the request that was
answered, so a rerun skips what is done, answers again a row whose request
changed, and never trusts line numbers. Results are appended to the output
first and recorded here after; on open, lines past the last recorded size are
read back into the state (the run was killed between the two), and a torn last
line is cut off. So a killed run loses at most the requests in flight and a
resumed one never writes a line twice. Blocking: call it from a thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from ..errors import InvalidRequestError
from .outputs import OutputPaths, key_of, read_lines

__all__ = ["BatchState", "Entry", "Record"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    custom_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    ok INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    cost REAL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """What the state knows of one ``custom_id``."""

    key: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Record:
    """One finished request to append and record."""

    custom_id: str
    key: str
    ok: bool
    line: dict[str, Any]
    attempts: int = 1
    cost: float | None = None


class BatchState:
    """Open with :meth:`open`; every method is blocking (run it in a thread)."""

    def __init__(self, paths: OutputPaths) -> None:
        self.paths = paths
        self._db: sqlite3.Connection | None = None
        self._files: dict[Path, IO[bytes]] = {}
        self._lock: Any = None
        # One connection, used from worker threads: one at a time.
        self._guard = threading.Lock()

    # -- life --------------------------------------------------------------------

    def open(self, *, restart: bool = False) -> BatchState:
        """Lock, (with ``restart``) forget everything, repair and reconcile."""
        self.paths.output.parent.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._open_db(restart)
        except BaseException:
            self.close()
            raise
        return self

    def _open_db(self, restart: bool) -> None:
        if restart:
            for path in (self.paths.results, self.paths.errors, self.paths.output,
                         self.paths.state):  # fmt: skip
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self._db = sqlite3.connect(self.paths.state, check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for path in (self.paths.results, self.paths.errors):
            self._reconcile(path)
        self._db.commit()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; one run per output is on the user
            return
        handle = self.paths.state.with_name(self.paths.state.name + ".lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise InvalidRequestError(
                f"another run is writing {self.paths.output} (its state is locked); "
                "wait for it or give another -o"
            ) from exc
        self._lock = handle

    # -- reading -----------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the batch state is not open")
        return self._db

    def entries(self) -> dict[str, Entry]:
        """Every recorded ``custom_id`` with the key it was answered for."""
        with self._guard:
            rows = self.db.execute("SELECT custom_id, key, ok FROM rows").fetchall()
        return {custom_id: Entry(key, bool(ok)) for custom_id, key, ok in rows}

    def counts(self) -> tuple[int, int]:
        """(done, failed) rows."""
        with self._guard:
            done, failed = self.db.execute(
                "SELECT COALESCE(SUM(ok), 0), COALESCE(SUM(1 - ok), 0) FROM rows"
            ).fetchone()
        return int(done), int(failed)

    def spent(self) -> float:
        """The estimated cost of every recorded row, in USD."""
        with self._guard:
            (total,) = self.db.execute("SELECT COALESCE(SUM(cost), 0) FROM rows").fetchone()
        return float(total)

    def current_lines(self) -> Iterator[dict[str, Any]]:
        """The line of each row's current answer (the one its key was answered by)."""
        wanted = self.entries()
        for path, ok in ((self.paths.results, True), (self.paths.errors, False)):
            for line in read_lines(path):
                cid = line.get("custom_id")
                entry = wanted.get(cid) if isinstance(cid, str) else None
                if entry is not None and entry.ok == ok and entry.key == key_of(line):
                    del wanted[cid]  # type: ignore[arg-type]
                    yield line

    # -- writing -----------------------------------------------------------------

    def record(self, records: Iterable[Record]) -> None:
        """Append the lines, flush them, then record the rows (in that order)."""
        batch = list(records)
        pieces: dict[Path, list[bytes]] = {}
        for item in batch:
            path = self.paths.results if item.ok else self.paths.errors
            pieces.setdefault(path, []).append(orjson.dumps(item.line) + b"\n")
        touched = set(pieces)
        for path, lines in pieces.items():
            handle = self._file(path)
            handle.write(b"".join(lines))  # one write: lines are not split across calls
            handle.flush()  # in the kernel now: a SIGKILL cannot lose it
        with self._guard:
            self._commit(batch, touched)

    def _commit(self, batch: list[Record], touched: set[Path]) -> None:
        now = time.time()
        self.db.executemany(
            "INSERT INTO rows (custom_id, key, ok, attempts, cost, updated) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(custom_id) DO UPDATE SET key = excluded.key, "
            "ok = excluded.ok, attempts = excluded.attempts, cost = excluded.cost, "
            "updated = excluded.updated",
            [(r.custom_id, r.key, int(r.ok), r.attempts, r.cost, now) for r in batch],
        )
        for path in touched:
            self._set_size(path, self._files[path].tell())
        self.db.commit()

    def _file(self, path: Path) -> IO[bytes]:
        handle = self._files.get(path)
        if handle is None:
            handle = self._files[path] = path.open("ab")
        return handle

    # -- repair ------------------------------------------------------------------

    def _size(self, path: Path) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE name = ?", (str(path.name),))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def _set_size(self, path: Path, size: int) -> None:
        self.db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (str(path.name), str(size)),
        )

    def _reconcile(self, path: Path) -> None:
        recorded = self._size(path)
        size = _cut_torn_tail(path)
        if size < recorded:
            raise InvalidRequestError(
                f"{path} is shorter than the state recorded ({size} < {recorded} bytes): it "
                "was edited or replaced, so the state cannot be trusted. Run with --restart "
                "to start over, or restore the file."
            )
        if size == recorded:
            return
        ok = path == self.paths.results
        with path.open("rb") as handle:
            handle.seek(recorded)
            for raw in handle:
                line = orjson.loads(raw)
                cid, key = line.get("custom_id"), key_of(line)
                if isinstance(cid, str) and key is not None:
                    self.db.execute(
                        "INSERT INTO rows (custom_id, key, ok, updated) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(custom_id) DO UPDATE SET key = excluded.key, "
                        "ok = excluded.ok, updated = excluded.updated",
                        (cid, key, int(ok), time.time()),
                    )
        self._set_size(path, size)


def _cut_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (a write that was cut short); the new size."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return size
        end = size
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            piece = handle.read(end - start)
            newline = piece.rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            end = start
        else:
            cut = 0
        handle.truncate(cut)
        os.fsync(handle.fileno())
        return cut
