"""Caches for Hub answers: in memory (:class:`MemoryCache`, :class:`TimedCache`),
JSON files on disk with an expiry, and single flight (concurrent askers of one
key share one request).

File work runs in a thread so the event loop never blocks on the disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

__all__ = [
    "PUBLIC",
    "DiskCache",
    "MemoryCache",
    "TimedCache",
    "is_public_repo",
    "scope_of",
    "scoped_keys",
    "single_flight",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL = 24 * 3600.0

# -- who may see a cached answer ----------------------------------------------------
#
# An answer fetched without a token is public: anyone may be served it. An answer
# fetched with a token is kept for that token alone (under a hash of it, never the
# token) unless it is known to be public: model info that says the repo is neither
# private nor gated, and the files of such a repo. Every key also names the Hub
# endpoint. A caller reads the public entry first, then its own.

PUBLIC = "public"


def scope_of(token: str | None) -> str:
    """The cache scope of answers fetched with ``token``: ``"public"`` without one."""
    if not token:
        return PUBLIC
    return "token:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def is_public_repo(info: Any) -> bool:
    """Whether model info says anyone may see the repo (not private, not gated);
    unknown (a trimmed ``expand`` answer) counts as not public."""
    return (
        isinstance(info, dict)
        and info.get("private") is False
        and info.get("gated", False) is False
    )


def scoped_keys(endpoint: str, token: str | None, name: str) -> tuple[str, ...]:
    """The keys a caller with ``token`` may read ``name`` under, public first."""
    own = scope_of(token)
    public = f"{endpoint}|{PUBLIC}|{name}"
    return (public,) if own == PUBLIC else (public, f"{endpoint}|{own}|{name}")


def scoped_key(endpoint: str, token: str | None, name: str, *, public: bool) -> str:
    """The key to store an answer under: public when it is, else the token's."""
    return f"{endpoint}|{PUBLIC if public else scope_of(token)}|{name}"


class MemoryCache(dict[str, T]):
    """Answers kept in memory by key for the life of the process (a dict, as the
    seed's ``model_data`` is); :meth:`clear` forgets them."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} entries)"


class TimedCache(Generic[T]):
    """Answers kept in memory for ``ttl`` seconds each (monotonic clock)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, T]] = {}

    def __repr__(self) -> str:
        return f"TimedCache(ttl={self.ttl}, {len(self._entries)} entries)"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> T | None:
        """The answer kept for ``key``, or ``None`` when there is none or it expired."""
        hit = self._entries.get(key)
        if hit is None or time.monotonic() - hit[0] >= self.ttl:
            return None
        return hit[1]

    def put(self, key: str, value: T) -> None:
        self._entries[key] = (time.monotonic(), value)

    def clear(self) -> None:
        """Forget every answer."""
        self._entries.clear()


class DiskCache:
    """JSON values under ``directory``, one file a key, each with the time it was stored.

    ``get`` returns ``None`` for a missing, unreadable or expired entry;
    ``ignore_expiry`` (offline mode) returns an expired one too. A broken
    file is treated as missing, never as an error: a cache must not fail a call.
    """

    def __init__(self, directory: Path, ttl: float = DEFAULT_TTL) -> None:
        self.directory = directory
        self.ttl = ttl

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    def _read(self, key: str, ignore_expiry: bool) -> Any:
        try:
            record = orjson.loads(self._path(key).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        stored_at = record.get("stored_at")
        now = time.time()
        if (
            isinstance(stored_at, bool)
            or not isinstance(stored_at, (int, float))
            or not math.isfinite(stored_at)
            or stored_at > now + 300  # from the future: not a time this cache wrote
        ):
            return None  # a miss: the next answer replaces the record
        if not ignore_expiry and now - stored_at > self.ttl:
            return None
        return record.get("value")

    def _write(self, key: str, value: Any) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_bytes(
                orjson.dumps({"key": key, "stored_at": time.time(), "value": value})
            )
            os.replace(temporary, path)  # atomic: a reader never sees half a file
        except OSError as exc:
            logger.debug("could not write the cache entry %s: %s", path, exc)

    async def get(self, key: str, *, ignore_expiry: bool = False) -> Any:
        return await asyncio.to_thread(self._read, key, ignore_expiry)

    async def put(self, key: str, value: Any) -> None:
        await asyncio.to_thread(self._write, key, value)


_inflight: dict[tuple[int, str], asyncio.Future[Any]] = {}


class _LeaderCancelled(Exception):
    """The caller doing the fetch was cancelled; a waiter fetches for itself."""


async def single_flight(key: str, fetch: Callable[[], Awaitable[T]]) -> T:
    """Run ``fetch`` once for concurrent callers of the same key on one loop.

    When the caller doing the fetch is cancelled, the first waiter takes over and
    the others wait for it: one cancelled caller costs one more request, not one
    per waiter."""
    loop = asyncio.get_running_loop()
    slot = (id(loop), key)
    while (pending := _inflight.get(slot)) is not None:
        try:
            return await asyncio.shield(pending)
        except _LeaderCancelled:
            continue  # the first waiter to wake finds no flight and leads the next one
    future: asyncio.Future[Any] = loop.create_future()
    _inflight[slot] = future
    try:
        result = await fetch()
    except asyncio.CancelledError:
        future.set_exception(_LeaderCancelled())
        future.exception()  # retrieved: no "exception was never retrieved" warning
        raise
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()
        raise
    else:
        future.set_result(result)
        return result
    finally:
        if _inflight.get(slot) is future:
            del _inflight[slot]
