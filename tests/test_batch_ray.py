"""The Ray path on a local Ray: ``map_batches`` with one client per actor, and a
sharded JSONL run, each giving the same results as a run on one machine."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from batchserver import MODEL, BatchRouter, read_jsonl, rows, write_jsonl
from hfinfer.batch import BatchStopped, PriceList, RequestDefaults, RetryRules, run
from hfinfer.batch.outputs import flat_row
from hfserver import running_in_thread
from routerserver import clear_router_caches

TIMING = {"latency_s"}
# Ray Data warns about its own settings as it copies them; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")
FAST = RetryRules(max_attempts=4, backoff_base=0.05, backoff_cap=0.2)


@pytest.fixture(scope="session")
def local_ray() -> Iterator[Any]:
    import ray  # in the [test] extra

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)  # fmt: skip
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture
def router(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[BatchRouter]:
    server = BatchRouter()
    server.fail_rows = {"r3"}
    server.flaky_rows = {"r5": 1}
    clear_router_caches()
    with running_in_thread(server):
        for name in ("HF_ENDPOINT", "HF_ROUTER_URL"):
            monkeypatch.setenv(name, server.url)
        yield server
    clear_router_caches()


def worker_env() -> dict[str, str]:
    """What a Ray worker needs to reach the local server (the test's environment)."""
    names = ("HF_ENDPOINT", "HF_ROUTER_URL", "HF_HOME", "HFINFER_API_BASE")
    return {name: os.environ[name] for name in names if name in os.environ}


def comparable(row: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in row.items() if k not in TIMING}, sort_keys=True)


def local_results(source: Path, out: Path) -> list[str]:
    async def go() -> list[dict[str, Any]]:
        defaults = RequestDefaults(model=MODEL)
        return [r.line async for r in run(source, out, defaults=defaults, rules=FAST,
                                          prices=PriceList({}))]  # fmt: skip

    return sorted(comparable(flat_row(line)) for line in asyncio.run(go()))


def test_map_batches_matches_the_local_run(
    local_ray: Any, router: BatchRouter, tmp_path: Path
) -> None:
    from hfinfer.batch.ray import process

    items = rows(8)
    expected = local_results(write_jsonl(tmp_path / "in.jsonl", items), tmp_path / "out.jsonl")
    router.flaky_rows = {"r5": 1}
    ds = local_ray.data.from_items(items)
    result = process(ds, model=MODEL, actors=2, batch_size=4, env=worker_env(),
                     concurrency=4, max_attempts=4).take_all()  # fmt: skip
    got = sorted(comparable({k: v for k, v in r.items() if k != "line"}) for r in result)
    assert got == expected
    assert {r["custom_id"]: r["status_code"] for r in result}["r3"] == 400
    assert router.counts["r0"] == 2  # once locally, once on Ray


def test_sharded_run_matches_the_local_run_and_resumes(
    local_ray: Any, router: BatchRouter, tmp_path: Path
) -> None:
    from hfinfer.batch.ray import run_sharded, shard_of

    items = rows(12)
    source = write_jsonl(tmp_path / "in.jsonl", items)
    expected = local_results(source, tmp_path / "local.jsonl")
    router.counts.clear()
    router.flaky_rows = {"r5": 1}  # the same faults as the local run met
    out = tmp_path / "sharded.jsonl"
    counts = run_sharded(source, out, shards=2, env=worker_env(),
                         defaults=RequestDefaults(model=MODEL), rules=FAST,
                         concurrency=3)  # fmt: skip
    assert counts == {"done": 11, "failed": 1}
    assert {shard_of(f"r{n}", 2) for n in range(12)} == {0, 1}  # both shards had work
    merged = read_jsonl(out) + read_jsonl(tmp_path / "sharded.errors.jsonl")
    assert sorted(comparable(flat_row(line)) for line in merged) == expected
    assert sorted(line["custom_id"] for line in merged) == sorted(f"r{n}" for n in range(12))
    # A rerun after an edit sends only the edited row, and the merge keeps one line each.
    items[4]["prompt"] = "r4|changed"
    write_jsonl(source, items)
    before = dict(router.counts)
    counts = run_sharded(source, out, shards=2, env=worker_env(),
                         defaults=RequestDefaults(model=MODEL), rules=FAST)  # fmt: skip
    assert counts == {"done": 1, "failed": 0}
    assert {k: v - before.get(k, 0) for k, v in router.counts.items() if v != before.get(k)} == {
        "r4": 1
    }
    assert sorted(line["custom_id"] for line in read_jsonl(out)) == sorted(
        f"r{n}" for n in range(12) if n != 3
    )
    # Credits run out mid-run: the shards stop, the merge keeps every answer so far.
    for n in (0, 1, 2, 6):
        items[n]["prompt"] = f"r{n}|edited again"
    write_jsonl(source, items)
    router.pay_after = router.answered
    with pytest.raises(BatchStopped) as stopped:
        run_sharded(source, out, shards=2, env=worker_env(),
                    defaults=RequestDefaults(model=MODEL), rules=FAST)  # fmt: skip
    assert stopped.value.reason == "payment"
    assert len(read_jsonl(out)) == 11  # the earlier answers, each once
    router.pay_after = None
    counts = run_sharded(source, out, shards=2, env=worker_env(),
                         defaults=RequestDefaults(model=MODEL), rules=FAST)  # fmt: skip
    assert counts == {"done": 4, "failed": 0}
    latest = {line["custom_id"]: flat_row(line)["content"] for line in read_jsonl(out)}
    assert latest["r6"] == "answer to r6|edited again" and len(latest) == 11
