"""``hfinfer.batch.run``: send a batch through :class:`hfinfer.AsyncClient`, resumably.

Requests are read lazily, checked against the resume state, and sent with at
most ``concurrency`` in flight (halved on 429, regrown slowly), within the
``rpm``/``tpm`` buckets. Each finished request is appended to the output and
recorded before it is yielded. A 402 (or ``max_cost`` reached) stops new
sends, lets those in flight finish, flushes, and raises :class:`BatchStopped`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HFInferenceError, InvalidRequestError
from .cost import PriceList, estimate_prompt_tokens, max_output_tokens
from .inputs import (
    CHAT_URL,
    EMBEDDINGS_URL,
    RESPONSES_URL,
    BatchRequest,
    RequestDefaults,
    iter_files,
)
from .outputs import OutputPaths, write_parquet
from .progress import Progress
from .rate import RetryRules
from .sender import BatchStopped, Sender
from .sources import resolve_inputs
from .state import BatchState, Entry, Record

__all__ = ["BatchConfig", "BatchResult", "BatchStopped", "load_prices", "pending_requests", "run"]

logger = logging.getLogger(__name__)

#: Requests read and checked per trip to the reading thread.
READ_CHUNK = 256
#: Results recorded per trip to the writing thread, at most.
WRITE_CHUNK = 512
#: A result waits this long for others to share its write and commit (at a slow
#: pace each would otherwise pay a thread hop and an SQLite commit of its own).
WRITE_WINDOW = 0.02


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One finished request: its output ``line`` (OpenAI's batch output format)."""

    custom_id: str
    ok: bool
    line: dict[str, Any]
    attempts: int
    cost: float | None


@dataclass(frozen=True)
class BatchConfig:
    """Everything a run needs; see :func:`run` for the meaning of each field."""

    output: str | Path
    input: str | Path | None = None
    dataset: str | None = None
    split: str = "train"
    config: str = "default"
    defaults: RequestDefaults = field(default_factory=RequestDefaults)
    provider: str | None = None
    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    max_cost: float | None = None
    limit: int | None = None
    restart: bool = False
    retry_failed: bool = False
    output_format: str = "jsonl"
    rules: RetryRules = field(default_factory=RetryRules)

    @property
    def paths(self) -> OutputPaths:
        return OutputPaths.for_output(self.output, self.output_format)


def pending_requests(
    requests: Iterator[BatchRequest], entries: Mapping[str, Entry], retry_failed: bool,
    progress: Progress,
) -> Iterator[BatchRequest]:  # fmt: skip
    """The requests still to send: not answered for this key (failed ones only on
    ``retry_failed``)."""
    for request in requests:
        entry = entries.get(request.custom_id)
        if entry is not None and entry.key == request.key and (entry.ok or not retry_failed):
            progress.skipped += 1
            continue
        yield request


class _Job:
    """One run's moving parts; see :func:`run`."""

    def __init__(self, config: BatchConfig, client: Any, prices: PriceList,
                 progress: Progress) -> None:  # fmt: skip
        self.config, self.client, self.prices, self.progress = config, client, prices, progress
        self.state = BatchState(config.paths)
        self.sender = Sender(client, concurrency=config.concurrency, rpm=config.rpm,
                             tpm=config.tpm, rules=config.rules, prices=prices,
                             provider=config.provider, progress=progress)  # fmt: skip
        self.limit = self.sender.limit
        self.spent = 0.0
        self.reserved = 0.0
        self.finished: asyncio.Queue[Record | None] = asyncio.Queue()
        self.results: asyncio.Queue[BatchResult | BaseException | None] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()
        self.entries: dict[str, Entry] = {}  # what the state held when the run began

    # -- reading -----------------------------------------------------------------

    async def requests(self, paths: list[Path]) -> AsyncIterator[BatchRequest]:
        entries = self.entries
        source = pending_requests(iter_files(paths, self.config.defaults), entries,
                                  self.config.retry_failed, self.progress)  # fmt: skip
        sent = 0
        while True:
            chunk = await asyncio.to_thread(_take, source, READ_CHUNK)
            for request in chunk:
                if self.config.limit is not None and sent >= self.config.limit:
                    return
                check_supported(request, self.client)
                sent += 1
                yield request
            if len(chunk) < READ_CHUNK:
                return

    # -- sending -----------------------------------------------------------------

    async def dispatch(self, paths: list[Path]) -> None:
        try:
            async for request in self.requests(paths):
                reserve = self.estimate(request)
                if self.stopped is not None or self.over_budget(reserve):
                    break
                epoch = await self.limit.acquire()
                if self.stopped is not None or self.over_budget(reserve):
                    self.limit.release()
                    break
                self.reserved += reserve
                task = asyncio.create_task(self.one(request, epoch, reserve))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        finally:
            # Those in flight finish and are written, even when reading failed.
            while self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)
            await self.finished.put(None)

    def estimate(self, request: BatchRequest) -> float:
        """The most this request may cost (for ``max_cost``), 0 when unpriced."""
        model, provider = request.body.get("model", ""), self.config.provider
        upper = self.prices.cost(model, provider, estimate_prompt_tokens(request.body),
                                 max_output_tokens(request.body))  # fmt: skip
        return upper or 0.0

    def over_budget(self, reserve: float) -> bool:
        """Whether sending one more request (at most ``reserve`` USD) could pass
        ``max_cost``; the cost of earlier runs on this output counts too."""
        cap = self.config.max_cost
        if cap is None or self.spent + self.reserved + reserve <= cap:
            return False
        self.stop(
            f"the next request could take the estimated cost past --max-cost ${cap:.4f} "
            f"(spent ${self.spent:.4f}, ${self.reserved:.4f} in flight)", "max_cost",
        )  # fmt: skip
        return True

    @property
    def stopped(self) -> BatchStopped | None:
        return self.sender.stopped

    def stop(self, why: str, reason: str) -> None:
        self.sender.stop(why, reason)

    async def one(self, request: BatchRequest, epoch: int, reserve: float) -> None:
        self.progress.in_flight += 1
        try:
            outcome = await self.sender.send(request, epoch)
        finally:
            self.progress.in_flight -= 1
            self.reserved -= reserve
            self.limit.release()
        if outcome is not None:
            self.spent += outcome.cost or 0.0
            await self.finished.put(outcome.record(request))

    # -- writing -----------------------------------------------------------------

    async def write(self) -> None:
        """Record finished requests in batches, then hand them to the caller."""
        try:
            ended = False
            while not ended:
                batch: list[Record] = []
                item = await self.finished.get()
                if item is not None and self.finished.empty():
                    await asyncio.sleep(WRITE_WINDOW)
                while item is not None:
                    batch.append(item)
                    if len(batch) >= WRITE_CHUNK or self.finished.empty():
                        break
                    item = self.finished.get_nowait()
                ended = item is None
                if batch:
                    await asyncio.to_thread(self.state.record, batch)
                for record in batch:
                    self.count(record)
                    await self.results.put(BatchResult(record.custom_id, record.ok,
                                                       record.line, record.attempts,
                                                       record.cost))  # fmt: skip
        except BaseException as exc:
            await self.results.put(exc)
            raise
        await self.results.put(None)

    def count(self, record: Record) -> None:
        progress = self.progress
        if record.ok:
            progress.done += 1
        else:
            progress.failed += 1
        progress.cost += record.cost or 0.0
        usage = ((record.line.get("response") or {}).get("body") or {}).get("usage") or {}
        progress.prompt_tokens += usage.get("prompt_tokens") or usage.get("input_tokens") or 0
        progress.completion_tokens += (
            usage.get("completion_tokens") or usage.get("output_tokens") or 0
        )


def check_supported(request: BatchRequest, client: Any) -> None:
    """Refuse, before sending, a request the client has no method for."""
    if request.url == CHAT_URL:
        return
    if request.url == RESPONSES_URL:
        if getattr(client, "route", "router") == "router":
            return
        raise InvalidRequestError(
            f"{request.custom_id}: {RESPONSES_URL} is served by the router only, not by "
            "a text-generation server (--api-base)"
        )
    if request.url == EMBEDDINGS_URL and hasattr(client, "embed"):
        return
    raise InvalidRequestError(
        f"{request.custom_id}: {request.url} is not supported by this client "
        "(it has no method for it)"
    )


def _take(source: Iterator[BatchRequest], count: int) -> list[BatchRequest]:
    chunk = []
    for request in source:
        chunk.append(request)
        if len(chunk) >= count:
            break
    return chunk


async def _count_pending(config: BatchConfig, paths: list[Path], entries: dict[str, Entry],
                         progress: Progress) -> None:  # fmt: skip
    """Count what is to be sent, for the ETA (a second, cheap pass over the input)."""
    def count() -> int:
        shadow = Progress()
        pending = pending_requests(iter_files(paths, config.defaults), entries,
                                   config.retry_failed, shadow)  # fmt: skip
        total = sum(1 for _ in pending)
        return total if config.limit is None else min(total, config.limit)

    with contextlib.suppress(HFInferenceError):
        progress.total = await asyncio.to_thread(count)


async def run(
    input: str | Path | None = None,
    output: str | Path | None = None,
    *,
    client: Any = None,
    prices: PriceList | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> AsyncIterator[BatchResult]:
    """Run a batch; an async iterator of :class:`BatchResult` as requests finish.

    ``input``: a JSONL file (OpenAI's batch format or shorthand lines), a
    Parquet file, or ``hf://datasets/owner/name/path.parquet``; or leave it out
    and give ``dataset="owner/name"`` (with ``split``, ``config``). ``output``:
    the JSONL of results (failures go to ``<output>.errors.jsonl``; the resume
    state is ``<output>.hfinfer-state.sqlite``). Options (see
    :class:`BatchConfig`): ``defaults`` (a :class:`RequestDefaults`: model,
    options, system, template, columns), ``provider``, ``concurrency``,
    ``rpm``, ``tpm``, ``max_cost`` (USD), ``limit``, ``restart``,
    ``retry_failed``, ``output_format`` (``"jsonl"`` or ``"parquet"``),
    ``rules`` (a :class:`RetryRules`). ``client``: an open
    :class:`hfinfer.AsyncClient` (made with ``max_retries=0``); by default one
    is made and closed here. ``prices``: a :class:`PriceList` (default: the
    router's). Raises :class:`BatchStopped` after the last result when the
    run stopped early, :class:`~hfinfer.errors.InvalidRequestError` for bad
    input (before anything is sent when the first request is bad).

    >>> async for result in hfinfer.batch.run("in.jsonl", "out.jsonl", concurrency=8):
    ...     print(result.custom_id, result.ok)
    """
    if output is None:
        raise InvalidRequestError("run() needs an output path")
    config = BatchConfig(output=output, input=input, **options)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            from ..client import AsyncClient

            client = await stack.enter_async_context(AsyncClient(max_retries=0))
        if prices is None:
            prices = await load_prices(client)
        job = _Job(config, client, prices, progress or Progress())
        await asyncio.to_thread(job.state.open, restart=config.restart)
        stack.callback(job.state.close)
        paths = await resolve_inputs(config, client)
        async for result in _drive(job, paths):
            yield result
        if config.paths.parquet:
            await asyncio.to_thread(
                write_parquet, _flat(job.state), config.paths.output
            )
        if job.stopped is not None:
            raise job.stopped


async def _drive(job: _Job, paths: list[Path]) -> AsyncIterator[BatchResult]:
    job.spent = await asyncio.to_thread(job.state.spent)
    job.entries = await asyncio.to_thread(job.state.entries)
    counter = asyncio.create_task(_count_pending(job.config, paths, job.entries, job.progress))
    dispatcher = asyncio.create_task(job.dispatch(paths))
    writer = asyncio.create_task(job.write())
    try:
        while (item := await job.results.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        await dispatcher  # a reading error (bad input) surfaces here
    finally:
        # Stopped early (the caller left, Ctrl-C, an error): nothing new is sent, and
        # what had finished is still written before the state closes.
        for task in (counter, dispatcher, *job.tasks):
            task.cancel()
        await asyncio.gather(counter, dispatcher, *job.tasks, return_exceptions=True)
        job.finished.put_nowait(None)
        await asyncio.gather(writer, return_exceptions=True)


def _flat(state: BatchState) -> Iterator[dict[str, Any]]:
    from .outputs import flat_row

    return (flat_row(line) for line in state.current_lines())


async def load_prices(client: Any) -> PriceList:
    """The router's price list through ``client.models()`` (empty when unavailable)."""
    models = getattr(client, "models", None)
    if models is None:
        return PriceList({})
    try:
        return PriceList.from_models(await models())
    except HFInferenceError as exc:
        logger.warning("no price list from the router (%s): costs are not estimated", exc)
        return PriceList({})

