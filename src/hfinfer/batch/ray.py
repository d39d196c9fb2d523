"""Batches past one machine, on Ray (``pip install 'hfinfer[ray]'``).

Two ways:

- :func:`process` (``ds.map_batches(ChatProcessor, ...)``): each Ray actor
  holds one :class:`hfinfer.AsyncClient` on a loop of its own and sends its
  blocks with the same rate rules as a local run (``concurrency`` per actor,
  ``rpm``/``tpm`` per actor). Each row becomes the flat result columns
  (:data:`~hfinfer.batch.outputs.FLAT_COLUMNS`) plus ``line``, the OpenAI
  batch output line as JSON. Resuming is the dataset's business here.
- :func:`run_sharded`: a JSONL (or any input :func:`hfinfer.batch.run`
  reads) split by a hash of ``custom_id`` into shards, one
  :func:`hfinfer.batch.run` per shard as a Ray task, each with its own
  resume state, then merged: the resume guarantees of a local run, across
  workers. A row stays in its shard whatever the order or the edits.

>>> ds = ray.data.read_parquet("prompts.parquet")
>>> out = hfinfer.batch.ray.process(ds, model="org/model", prompt_column="text", actors=4)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import orjson

from ..errors import InvalidRequestError
from .inputs import BatchRequest, RequestDefaults, iter_files, openai_line, row_request
from .outputs import FLAT_COLUMNS, OutputPaths, flat_row, write_parquet
from .rate import RetryRules
from .runner import BatchConfig
from .sender import BatchStopped, Sender
from .state import BatchState

__all__ = ["ChatProcessor", "process", "run_sharded", "shard_of"]


class ChatProcessor:
    """A Ray Data callable class: rows in, result columns out, one client per actor.

    Rows are shorthand rows (``custom_id`` + ``messages``/``prompt``, or the
    columns named in ``defaults``) or OpenAI batch lines (a ``body`` column,
    as a dict or JSON text). ``env`` is set in the actor before the client is
    made (endpoints, tokens).
    """

    def __init__(
        self,
        *,
        defaults: Mapping[str, Any] | None = None,
        provider: str | None = None,
        concurrency: int = 8,
        rpm: float | None = None,
        tpm: float | None = None,
        max_attempts: int = 6,
        client_options: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        os.environ.update(env or {})
        self.defaults = RequestDefaults(**(defaults or {}))
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.sender: Sender = self._on_loop(self._open(dict(client_options or {}), {
            "concurrency": concurrency, "rpm": rpm, "tpm": tpm, "provider": provider,
            "rules": RetryRules(max_attempts=max_attempts),
        }))  # fmt: skip

    def _on_loop(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    async def _open(self, client_options: dict[str, Any], rate: dict[str, Any]) -> Sender:
        from ..client import AsyncClient
        from .runner import load_prices

        client_options.setdefault("max_retries", 0)
        client = await AsyncClient(**client_options).__aenter__()
        return Sender(client, prices=await load_prices(client), **rate)

    def requests(self, rows: list[dict[str, Any]]) -> list[BatchRequest]:
        seen: dict[str, int] = {}
        out = []
        for number, row in enumerate(rows):
            where = f"row {row.get('custom_id', number)}"
            if row.get("body") is not None:
                body = row["body"]
                line = {**row, "body": orjson.loads(body) if isinstance(body, str) else body}
                out.append(openai_line(line, self.defaults, where))
            else:
                out.append(row_request(row, self.defaults, where, seen))
        return out

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        rows = batch.to_pylist() if hasattr(batch, "to_pylist") else _rows_of(batch)
        requests = self.requests(rows)
        outcomes = self._on_loop(self.sender.send_all(requests))
        if self.sender.stopped is not None:
            raise self.sender.stopped
        columns: dict[str, list[Any]] = {name: [] for name in (*FLAT_COLUMNS, "line")}
        for outcome in outcomes:
            line = outcome.line
            for name, value in flat_row(line).items():
                columns[name].append(value)
            columns["line"].append(orjson.dumps(line).decode())
        return columns

    def __del__(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)


def _rows_of(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    names = list(batch)
    count = len(batch[names[0]]) if names else 0
    return [{name: _plain(batch[name][i]) for name in names} for i in range(count)]


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def process(
    ds: Any,
    *,
    model: str | None = None,
    actors: int = 2,
    batch_size: int = 64,
    env: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    **options: Any,
) -> Any:
    """``ds.map_batches(ChatProcessor, ...)`` with ``actors`` actors; the result
    dataset has the flat result columns and ``line``. ``options`` go to
    :class:`ChatProcessor` (``concurrency`` per actor, ``rpm``, ``tpm``, ...);
    keys of ``defaults`` are :class:`~hfinfer.batch.RequestDefaults` fields."""
    merged = {**(defaults or {}), **({"model": model} if model else {})}
    return ds.map_batches(
        ChatProcessor,
        fn_constructor_kwargs={"defaults": merged, "env": dict(env or {}), **options},
        concurrency=actors,
        batch_size=batch_size,
        batch_format="pyarrow",
    )


def shard_of(custom_id: str, shards: int) -> int:
    """The shard a row belongs to: a hash of its ``custom_id``, stable across runs."""
    return int.from_bytes(hashlib.sha256(custom_id.encode()).digest()[:8], "big") % shards


def _split(config: BatchConfig, paths: list[Path], folder: Path, shards: int) -> list[Path]:
    """Write each request as an OpenAI batch line into its shard's input (atomically)."""
    if config.limit is not None:
        raise InvalidRequestError("limit is not supported by a sharded run")
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / f"shard-{n:04d}.input.jsonl" for n in range(shards)]
    handles = [t.with_name(t.name + ".part").open("wb") for t in targets]
    try:
        for request in iter_files(paths, config.defaults):
            line = {"custom_id": request.custom_id, "method": request.method,
                    "url": request.url, "body": request.body}  # fmt: skip
            handles[shard_of(request.custom_id, shards)].write(orjson.dumps(line) + b"\n")
    finally:
        for handle in handles:
            handle.close()
    for target in targets:
        os.replace(target.with_name(target.name + ".part"), target)
    return targets


def _run_shard(shard_input: str, shard_output: str, options: dict[str, Any]) -> dict[str, Any]:
    """One shard, in a Ray worker: a local run; returns its counts and stop reason."""
    from . import run

    async def go() -> dict[str, Any]:
        done = failed = 0
        stopped = None
        try:
            async for result in run(shard_input, shard_output, **options):
                done += result.ok
                failed += not result.ok
        except BatchStopped as exc:
            stopped = (str(exc), exc.reason)
        return {"done": done, "failed": failed, "stopped": stopped}

    return asyncio.run(go())


def run_sharded(
    input: str | Path,
    output: str | Path,
    *,
    shards: int = 2,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> dict[str, int]:
    """Run a batch as ``shards`` Ray tasks and merge their results into ``output``.

    Options are :func:`hfinfer.batch.run`'s; ``rpm``/``tpm`` are split evenly
    across shards, ``concurrency`` is per shard. Each shard keeps its state in
    ``<output>.shards/``, so a rerun resumes every shard; ``output`` and its
    errors file are rewritten from the shards' current answers, each
    ``custom_id`` once. Returns the counts of this run; raises
    :class:`~hfinfer.batch.BatchStopped` (after merging) when a shard stopped.
    """
    import ray

    config = BatchConfig(output=output, input=input, **options)
    paths = OutputPaths.for_output(output, config.output_format)
    folder = paths.output.with_name(paths.output.name + ".shards")
    inputs = _split(config, [Path(input)], folder, shards)
    shard_options = _shard_options(config, shards)
    task = ray.remote(_run_shard).options(runtime_env={"env_vars": dict(env or {})})
    refs = [task.remote(str(p), str(p).replace(".input.jsonl", ".output.jsonl"), shard_options)
            for p in inputs]  # fmt: skip
    reports = ray.get(refs)
    _merge(paths, [Path(str(p).replace(".input.jsonl", ".output.jsonl")) for p in inputs])
    stops = [r["stopped"] for r in reports if r["stopped"]]
    if stops:
        raise BatchStopped(stops[0][0], reason=stops[0][1])
    return {"done": sum(r["done"] for r in reports), "failed": sum(r["failed"] for r in reports)}


def _shard_options(config: BatchConfig, shards: int) -> dict[str, Any]:
    """A shard's run options: the lines are complete, so no defaults are needed."""
    rpm = config.rpm / shards if config.rpm else None
    tpm = config.tpm / shards if config.tpm else None
    cost = config.max_cost / shards if config.max_cost is not None else None
    shard = replace(config, rpm=rpm, tpm=tpm, max_cost=cost, output_format="jsonl",
                    defaults=RequestDefaults())  # fmt: skip
    fields = {k: v for k, v in asdict(shard).items() if k not in ("output", "input")}
    fields["defaults"], fields["rules"] = shard.defaults, shard.rules
    return fields


def _merge(paths: OutputPaths, shard_outputs: list[Path]) -> None:
    """Rewrite the output (and errors) from every shard's current answers."""
    ok_lines: list[bytes] = []
    bad_lines: list[bytes] = []
    flat: list[dict[str, Any]] = []
    for shard_output in shard_outputs:
        state = BatchState(OutputPaths.for_output(shard_output))
        state.open()
        try:
            entries = state.entries()
            for line in state.current_lines():
                ok = entries[line["custom_id"]].ok
                (ok_lines if ok else bad_lines).append(orjson.dumps(line) + b"\n")
                flat.append(flat_row(line))
        finally:
            state.close()
    if paths.parquet:
        write_parquet(flat, paths.output)
    else:
        _replace(paths.output, ok_lines)
    _replace(paths.errors, bad_lines)


def _replace(path: Path, lines: list[bytes]) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(b"".join(lines))
    os.replace(partial, path)
