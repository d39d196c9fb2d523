"""hub/cache.py on its own: the memory caches, the disk cache and single flight."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hfinfer import HuggingFaceInference, HuggingFaceRouter
from hfinfer.hub.cache import DiskCache, MemoryCache, TimedCache, single_flight


def test_memory_cache_is_a_dict_that_clears() -> None:
    cache: MemoryCache[int] = MemoryCache()
    cache["a"] = 1
    assert cache == {"a": 1} and "1 entries" in repr(cache)
    cache.clear()
    assert cache == {}


def test_timed_cache_forgets_after_its_ttl() -> None:
    kept: TimedCache[str] = TimedCache(ttl=3600)
    kept.put("k", "v")
    assert kept.get("k") == "v" and kept.get("other") is None and len(kept) == 1
    kept.clear()
    assert kept.get("k") is None
    expired: TimedCache[str] = TimedCache(ttl=0)  # every entry is already too old
    expired.put("k", "v")
    assert expired.get("k") is None


def test_providers_caches_are_cleared_as_objects() -> None:
    HuggingFaceInference.model_data["org/m"] = {"id": "org/m"}
    HuggingFaceInference.chat_templates["org/m"] = None
    HuggingFaceRouter.provider_mappings.put("hub|org/m", {})
    HuggingFaceInference.clear_caches()
    HuggingFaceRouter.clear_caches()
    assert not HuggingFaceInference.model_data and not HuggingFaceInference.chat_templates
    assert HuggingFaceRouter.provider_mappings.get("hub|org/m") is None

    class Mine(HuggingFaceInference):
        pass

    assert Mine.model_data is not HuggingFaceInference.model_data


async def test_disk_cache_round_trip_expiry_and_broken_files(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "c", ttl=3600)
    assert await cache.get("k") is None
    await cache.put("k", {"x": [1, 2]})
    assert await cache.get("k") == {"x": [1, 2]}
    old = DiskCache(tmp_path / "c", ttl=-1)  # the same files, every one past its time
    assert await old.get("k") is None
    assert await old.get("k", ignore_expiry=True) == {"x": [1, 2]}  # offline mode
    for path in (tmp_path / "c").iterdir():
        path.write_text("{not json")
    assert await cache.get("k") is None  # a broken file is a miss, not an error


async def test_single_flight_shares_one_fetch() -> None:
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    tasks = [asyncio.create_task(single_flight("key", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == [42] * 5
    assert calls == 1
    assert await single_flight("key", fetch) == 42 and calls == 2  # done: asked anew


async def test_single_flight_shares_the_failure() -> None:
    async def fail() -> int:
        await asyncio.sleep(0)
        raise ValueError("no")

    results = await asyncio.gather(
        *(single_flight("bad", fail) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)
