"""hfinfer.batch against a local router that is slow, throttles, fails rows and
runs out of credits: every row once, resumes that skip what is done, 402 stops."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from batchserver import MODEL, BatchRouter, openai_rows, read_jsonl, rows, write_jsonl
from hfinfer import AsyncClient
from hfinfer.batch import BatchStopped, PriceList, RequestDefaults, RetryRules, plan, run
from hfinfer.batch.runner import BatchConfig
from hfinfer.errors import InvalidRequestError
from routerserver import clear_router_caches, mapping

FAST = RetryRules(max_attempts=5, backoff_base=0.05, backoff_cap=0.2)
DEFAULTS = RequestDefaults(model=MODEL, options={"max_tokens": 16})


@pytest.fixture
async def router(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BatchRouter]:
    server = BatchRouter()
    await server.start()
    for name in ("HF_ENDPOINT", "HF_ROUTER_URL"):
        monkeypatch.setenv(name, server.url)
    clear_router_caches()
    try:
        yield server
    finally:
        clear_router_caches()
        await server.stop()


async def collect(input_path: Path, output: Path, **options: Any) -> list[Any]:
    options.setdefault("defaults", DEFAULTS)
    options.setdefault("rules", FAST)
    options.setdefault("prices", PriceList({}))
    return [result async for result in run(input_path, output, **options)]


def custom_ids(path: Path) -> list[str]:
    return [line["custom_id"] for line in read_jsonl(path)]


async def test_every_row_once_through_throttling_and_failures(
    router: BatchRouter, tmp_path: Path
) -> None:
    router.delay = 0.02
    router.throttle_first = 4
    router.flaky_rows = {"r3": 2}
    router.fail_rows = {"r7"}
    source = write_jsonl(tmp_path / "in.jsonl", rows(30))
    out = tmp_path / "out.jsonl"
    # Generous buckets: the path through them is taken, the pace is not measured here.
    results = await collect(source, out, concurrency=4, rpm=60_000, tpm=10_000_000)
    assert sorted(r.custom_id for r in results) == sorted(f"r{n}" for n in range(30))
    assert sorted(custom_ids(out)) == sorted(f"r{n}" for n in range(30) if n != 7)
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [e["custom_id"] for e in errors] == ["r7"]
    assert errors[0]["response"]["status_code"] == 400 and errors[0]["error"] is None
    assert router.counts["r7"] == 1  # a 400 is never retried
    assert router.counts["r3"] >= 3  # two 500s, then the answer
    line = next(x for x in read_jsonl(out) if x["custom_id"] == "r3")
    assert set(line) == {"id", "custom_id", "response", "error"}
    assert line["id"].startswith("batch_req_") and line["error"] is None
    response = line["response"]
    assert set(response) == {"status_code", "request_id", "body"}
    assert response["status_code"] == 200
    body = response["body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "answer to r3|question 3"
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    assert body["hfinfer"]["attempts"] == router.counts["r3"]
    assert set(body["hfinfer"]) == {"provider", "estimated_cost_usd", "latency_s", "attempts"}


async def test_openai_batch_lines_and_the_body_sent(router: BatchRouter, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", openai_rows(3))
    out = tmp_path / "out.jsonl"
    await collect(source, out, defaults=RequestDefaults())
    sent = [r.json() for r in router.requests if r.path == "/v1/chat/completions"]
    assert len(sent) == 3
    assert all(body["max_tokens"] == 20 and body["model"] == MODEL for body in sent)
    assert sorted(custom_ids(out)) == ["r0", "r1", "r2"]


async def test_shorthand_options_go_into_the_body_table_columns_do_not(
    router: BatchRouter, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [
        {"custom_id": "a", "prompt": "a|x", "max_tokens": 7, "temperature": 0.5}])  # fmt: skip
    await collect(source, tmp_path / "out.jsonl")
    sent = router.last("POST", "/v1/chat/completions").json()
    assert (sent["max_tokens"], sent["temperature"]) == (7, 0.5)  # the line's own, not --max-tokens
    table = tmp_path / "rows.parquet"
    table.write_bytes(parquet_bytes({"custom_id": ["b"], "prompt": ["b|y"], "label": ["pos"]}))
    await collect(table, tmp_path / "out2.jsonl")
    sent = router.last("POST", "/v1/chat/completions").json()
    assert "label" not in sent and sent["max_tokens"] == 16
    assert sent["messages"] == [{"role": "user", "content": "b|y"}]


async def test_responses_api_lines_are_relayed_whole(router: BatchRouter, tmp_path: Path) -> None:
    lines = [{"custom_id": f"q{n}", "method": "POST", "url": "/v1/responses",
              "body": {"model": MODEL, "input": f"q{n}|hello", "max_output_tokens": 9}}
             for n in range(3)]  # fmt: skip
    lines[2]["body"]["input"] = [{"role": "user", "content": "q2|as items"}]
    router.fail_rows = {"q1"}
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    prices = PriceList({MODEL: {"together": (1.0, 1.0)}})
    results = await collect(source, out, defaults=RequestDefaults(), prices=prices)
    assert sorted((r.custom_id, r.ok) for r in results) == [("q0", True), ("q1", False),
                                                            ("q2", True)]  # fmt: skip
    sent = [r.json() for r in router.requests if r.path == "/v1/responses"]
    assert {s["max_output_tokens"] for s in sent} == {9} and not any("stream" in s for s in sent)
    line = next(x for x in read_jsonl(out) if x["custom_id"] == "q0")
    body = line["response"]["body"]
    assert body["object"] == "response" and body["id"] == "resp_q0"  # the router's own answer
    assert body["usage"] == {"input_tokens": 8, "output_tokens": 4, "total_tokens": 12}
    assert body["hfinfer"]["estimated_cost_usd"] == pytest.approx(12e-6)
    assert line["response"]["request_id"] == "req-q0"
    from hfinfer.batch.outputs import flat_row

    flat = flat_row(next(x for x in read_jsonl(out) if x["custom_id"] == "q2"))
    assert (flat["content"], flat["prompt_tokens"], flat["finish_reason"]) == (
        "answer to q2|as items", 8, "completed")  # fmt: skip
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [(e["custom_id"], e["response"]["status_code"]) for e in errors] == [("q1", 400)]
    assert await collect(source, out, defaults=RequestDefaults()) == []  # resumes the same way
    async with AsyncClient(api_base="http://127.0.0.1:9", max_retries=0) as tgi:
        with pytest.raises(InvalidRequestError, match="served by the router only"):
            await collect(source, tmp_path / "tgi.jsonl", defaults=RequestDefaults(), client=tgi)


async def test_embeddings_lines_go_through_the_clients_embed(
    router: BatchRouter, tmp_path: Path
) -> None:
    embedder = "org/embedder"
    router.models[embedder] = {"id": embedder, "pipeline_tag": "feature-extraction",
                               "inferenceProviderMapping": {"together": {
                                   "status": "live", "providerId": "t/e",
                                   "task": "feature-extraction"}}}  # fmt: skip

    def embeddings(request: Any) -> Any:
        from hfserver import json_reply

        inputs = request.json()["input"]
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
                for i, t in enumerate(inputs)]  # fmt: skip
        return json_reply({"data": data, "usage": {"prompt_tokens": 3 * len(inputs)}})

    router.image_routes["together"] = embeddings
    lines = [{"custom_id": f"e{n}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": embedder, "input": ["ab", "abcd"][: n + 1]}}
             for n in range(2)]  # fmt: skip
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    results = await collect(source, out, defaults=RequestDefaults())
    assert sorted(r.custom_id for r in results) == ["e0", "e1"]
    line = next(x for x in read_jsonl(out) if x["custom_id"] == "e1")
    body = line["response"]["body"]
    assert body["object"] == "list" and [d["embedding"] for d in body["data"]] == [
        [2.0, 1.0], [4.0, 1.0]]  # fmt: skip
    assert body["usage"]["prompt_tokens"] == 6 and body["hfinfer"]["provider"] == "together"
    assert await collect(source, out, defaults=RequestDefaults()) == []


async def test_rerun_skips_done_and_resends_only_changed_rows(
    router: BatchRouter, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    out = tmp_path / "out.jsonl"
    await collect(source, out)
    assert await collect(source, out) == []  # nothing left to do
    assert all(router.counts[f"r{n}"] == 1 for n in range(10))
    edited = rows(10)
    edited[2]["prompt"] = "r2|a new question"
    edited[5]["prompt"] = "r5|another"
    edited.reverse()  # order does not matter: rows are matched by custom_id and hash
    write_jsonl(source, edited)
    again = await collect(source, out)
    assert sorted(r.custom_id for r in again) == ["r2", "r5"]
    assert {n: router.counts[f"r{n}"] for n in range(10)} == {
        n: 2 if n in (2, 5) else 1 for n in range(10)
    }
    lines = read_jsonl(out)
    assert len(lines) == 12  # appended, never rewritten
    latest = {x["custom_id"]: x for x in lines}
    assert latest["r2"]["response"]["body"]["choices"][0]["message"]["content"] == (
        "answer to r2|a new question"
    )


async def test_a_line_written_but_not_recorded_is_not_sent_again(
    router: BatchRouter, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    await collect(write_jsonl(tmp_path / "five.jsonl", rows(5)), out)
    six = write_jsonl(tmp_path / "six.jsonl", rows(6))
    elsewhere = tmp_path / "elsewhere.jsonl"
    await collect(six, elsewhere)
    (r5,) = [x for x in read_jsonl(elsewhere) if x["custom_id"] == "r5"]
    # r5's line is in the file but not in the state: a kill between the append and
    # the record. The rerun reads it back instead of asking again.
    with out.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(r5) + "\n")
    assert await collect(six, out) == []
    assert router.counts["r5"] == 1
    assert sorted(custom_ids(out)) == [f"r{n}" for n in range(6)]


async def test_a_torn_last_line_is_cut(router: BatchRouter, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(4))
    out = tmp_path / "out.jsonl"
    await collect(source, out)
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "batch_req_0123", "custom_id": "r9", "respo')
    write_jsonl(source, rows(6))
    await collect(source, out)
    lines = read_jsonl(out)  # every line parses
    assert sorted(x["custom_id"] for x in lines) == [f"r{n}" for n in range(6)]


async def test_an_output_shorter_than_recorded_is_refused(
    router: BatchRouter, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    out = tmp_path / "out.jsonl"
    await collect(source, out)
    out.write_text("", encoding="utf-8")
    with pytest.raises(InvalidRequestError, match="--restart"):
        await collect(source, out)
    assert len(await collect(source, out, restart=True)) == 3


async def test_failed_rows_are_skipped_unless_retry_failed(
    router: BatchRouter, tmp_path: Path
) -> None:
    router.fail_rows = {"r1"}
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    out = tmp_path / "out.jsonl"
    await collect(source, out)
    router.fail_rows = set()
    assert await collect(source, out) == []
    assert router.counts["r1"] == 1
    again = await collect(source, out, retry_failed=True)
    assert [(r.custom_id, r.ok) for r in again] == [("r1", True)]
    assert sorted(custom_ids(out)) == ["r0", "r1", "r2"]


async def test_402_stops_cleanly_and_the_rerun_resumes(
    router: BatchRouter, tmp_path: Path
) -> None:
    router.pay_after = 5
    source = write_jsonl(tmp_path / "in.jsonl", rows(20))
    out = tmp_path / "out.jsonl"
    seen: list[str] = []
    with pytest.raises(BatchStopped) as stopped:
        async for result in run(source, out, defaults=DEFAULTS, rules=FAST, concurrency=2,
                                prices=PriceList({})):  # fmt: skip
            seen.append(result.custom_id)
    assert stopped.value.reason == "payment"
    assert "402" in str(stopped.value)
    assert sorted(custom_ids(out)) == sorted(seen) and len(seen) == 5
    assert not (tmp_path / "out.errors.jsonl").exists()  # a 402 is not the row's fault
    done_before = set(seen)
    router.pay_after = None
    await collect(source, out)
    assert sorted(custom_ids(out)) == sorted(f"r{n}" for n in range(20))
    assert all(router.counts[cid] == 1 for cid in done_before)


async def test_a_refused_token_stops_the_run(router: BatchRouter, tmp_path: Path) -> None:
    router.refuse_token = True
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    with pytest.raises(BatchStopped) as stopped:
        await collect(source, tmp_path / "out.jsonl", concurrency=2)
    assert stopped.value.reason == "auth" and "401" in str(stopped.value)
    assert router.chat_requests <= 2  # those in flight when the first 401 came
    assert not (tmp_path / "out.errors.jsonl").exists()


async def test_a_caller_that_leaves_early_keeps_what_finished(
    router: BatchRouter, tmp_path: Path
) -> None:
    from contextlib import aclosing

    router.delay = 0.05
    source = write_jsonl(tmp_path / "in.jsonl", rows(30))
    out = tmp_path / "out.jsonl"
    taken = []
    async with aclosing(run(source, out, defaults=DEFAULTS, rules=FAST, concurrency=4,
                            prices=PriceList({}))) as results:  # fmt: skip
        async for result in results:
            taken.append(result.custom_id)
            if len(taken) == 3:
                break
    written = custom_ids(out)
    assert set(taken) <= set(written) and len(written) < 30
    await collect(source, out)
    assert sorted(custom_ids(out)) == sorted(f"r{n}" for n in range(30))  # each once
    assert all(router.counts[cid] == 1 for cid in written)


async def test_limit_sends_at_most_n(router: BatchRouter, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(10))
    out = tmp_path / "out.jsonl"
    assert len(await collect(source, out, limit=4)) == 4
    assert len(await collect(source, out, limit=4)) == 4
    assert len(await collect(source, out)) == 2
    assert sorted(custom_ids(out)) == sorted(f"r{n}" for n in range(10))


async def test_max_cost_stops_before_the_budget_is_passed(
    router: BatchRouter, tmp_path: Path
) -> None:
    # $1 per million prompt tokens and $1 per million completion: 15 tokens a row
    # answered; 16 + ~8 reserved per row in flight.
    prices = PriceList({MODEL: {"together": (1000.0, 1000.0)}})
    source = write_jsonl(tmp_path / "in.jsonl", rows(20))
    out = tmp_path / "out.jsonl"
    results: list[Any] = []
    with pytest.raises(BatchStopped) as stopped:
        async for result in run(source, out, defaults=DEFAULTS, rules=FAST, concurrency=1,
                                prices=prices, max_cost=0.1):  # fmt: skip
            results.append(result)
    assert stopped.value.reason == "max_cost"
    spent = sum(r.cost for r in results)
    assert 0 < spent <= 0.1 and 0 < len(results) < 20
    assert results[0].line["response"]["body"]["hfinfer"]["estimated_cost_usd"] == (
        pytest.approx(0.015)
    )
    # The budget is the output's, across runs: a rerun cannot spend it twice.
    sent = router.chat_requests
    with pytest.raises(BatchStopped):
        await collect(source, out, concurrency=1, prices=prices, max_cost=0.1)
    assert router.chat_requests == sent
    assert len(await collect(source, out, prices=prices, max_cost=1.0)) == 20 - len(results)


async def test_dry_run_counts_and_estimates(router: BatchRouter, tmp_path: Path) -> None:
    prices = PriceList({MODEL: {"together": (1.0, 2.0)}})
    source = write_jsonl(tmp_path / "in.jsonl", rows(6))
    out = tmp_path / "out.jsonl"
    await collect(source, out, limit=2)
    async with AsyncClient(max_retries=0) as client:
        dry = await plan(BatchConfig(out, source, defaults=DEFAULTS), client, prices)
    assert (dry.total, dry.to_send, dry.done, dry.changed) == (6, 4, 2, 0)
    assert dry.max_completion_tokens == 4 * 16
    assert dry.cost_high > dry.cost_low > 0
    assert dry.cost_high == pytest.approx(dry.prompt_tokens * 1e-6 + 64 * 2e-6)
    assert router.chat_requests == 2  # the dry run sent nothing


async def test_bad_input_is_a_clear_error_before_sending(
    router: BatchRouter, tmp_path: Path
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"custom_id": "a", "prompt": "a|x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InvalidRequestError, match=r"in.jsonl:2: not JSON"):
        await collect(source, tmp_path / "out.jsonl")
    write_jsonl(source, [{"custom_id": "a", "prompt": "x"}, {"custom_id": "a", "prompt": "y"}])
    with pytest.raises(InvalidRequestError, match="appears twice"):
        await collect(source, tmp_path / "out2.jsonl")
    write_jsonl(source, [{"custom_id": "a", "prompt": "x"}])
    with pytest.raises(InvalidRequestError, match="no model"):
        await collect(source, tmp_path / "out3.jsonl", defaults=RequestDefaults())
    assert router.chat_requests == 0


def parquet_bytes(table: dict[str, list[Any]]) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table(table), sink)
    return sink.getvalue()


async def test_parquet_rows_with_a_template_into_a_parquet_table(
    router: BatchRouter, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    source = tmp_path / "rows.parquet"
    source.write_bytes(parquet_bytes({"key": ["a", "b", "c"], "text": ["x", "y", "z"]}))
    defaults = RequestDefaults(model=MODEL, template="{key}|Label: {text}", system="Be brief.",
                               id_column="key")  # fmt: skip
    out = tmp_path / "labels.parquet"
    results = await collect(source, out, defaults=defaults, output_format="parquet")
    assert sorted(r.custom_id for r in results) == ["a", "b", "c"]
    sent = router.last("POST", "/v1/chat/completions").json()
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][1]["content"].endswith("|Label: " + {"a": "x", "b": "y", "c": "z"}[
        sent["messages"][1]["content"][0]])
    table = pq.read_table(out).to_pylist()
    assert sorted((row["custom_id"], row["content"]) for row in table) == [
        ("a", "answer to a|Label: x"), ("b", "answer to b|Label: y"), ("c", "answer to c|Label: z"),
    ]  # fmt: skip
    assert all(row["status_code"] == 200 and row["prompt_tokens"] == 10 for row in table)
    # A rerun with one row more sends one request and rewrites the whole table.
    source.write_bytes(parquet_bytes({"key": ["a", "b", "c", "d"], "text": ["x", "y", "z", "w"]}))
    assert [r.custom_id for r in await collect(source, out, defaults=defaults,
                                                output_format="parquet")] == ["d"]  # fmt: skip
    assert sorted(row["custom_id"] for row in pq.read_table(out).to_pylist()) == list("abcd")


async def test_rows_without_ids_are_named_by_their_content(
    router: BatchRouter, tmp_path: Path
) -> None:
    source = tmp_path / "rows.parquet"
    source.write_bytes(parquet_bytes({"prompt": ["p|one", "p|two", "p|one"]}))
    out = tmp_path / "out.jsonl"
    first = sorted(r.custom_id for r in await collect(source, out))
    assert len(set(first)) == 3 and all(cid.startswith("row-") for cid in first)
    # A row inserted in front renames nothing: only it is sent.
    source.write_bytes(parquet_bytes({"prompt": ["p|zero", "p|one", "p|two", "p|one"]}))
    assert len(await collect(source, out)) == 1


async def test_a_hub_dataset_split_is_read_through_its_parquet_listing(
    router: BatchRouter, tmp_path: Path
) -> None:
    parts = [parquet_bytes({"custom_id": ["d0", "d1"], "question": ["d0|a", "d1|b"]}),
             parquet_bytes({"custom_id": ["d2"], "question": ["d2|c"]})]  # fmt: skip
    router.add_dataset("org/questions", "default", "test", parts)
    out = tmp_path / "out.jsonl"
    defaults = RequestDefaults(model=MODEL, prompt_column="question")
    results = [r async for r in run(None, out, dataset="org/questions", split="test",
                                    defaults=defaults, prices=PriceList({}))]  # fmt: skip
    assert sorted(r.custom_id for r in results) == ["d0", "d1", "d2"]
    downloads = router.count("GET", "/datasets/org/questions/resolve/")
    assert downloads == 2
    # hf:// paths map to the Hub's resolve URLs; a resume reads the files it downloaded.
    single = tmp_path / "single.jsonl"
    path = "hf://datasets/org/questions@refs%2Fconvert%2Fparquet/default/test/1.parquet"
    assert [r.custom_id async for r in run(path, single, defaults=defaults,
                                           prices=PriceList({}))] == ["d2"]  # fmt: skip
    assert [r async for r in run(path, single, defaults=defaults, prices=PriceList({}))] == []
    assert router.count("GET", "/datasets/org/questions/resolve/") == downloads + 1


async def test_a_dataset_the_hub_does_not_list_is_a_clear_error(
    router: BatchRouter, tmp_path: Path
) -> None:
    from hfinfer.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="no Parquet files for dataset 'org/none'"):
        await collect(None, tmp_path / "o.jsonl", dataset="org/none")  # type: ignore[arg-type]


async def test_dry_run_prices_come_from_the_routers_model_list(
    router: BatchRouter, tmp_path: Path
) -> None:
    router.router_models = [
        {"id": MODEL, "object": "model", "owned_by": "org", "providers": [
            {"provider": "together", "status": "live", "pricing": {"input": 2.0, "output": 4.0}},
            {"provider": "novita", "status": "live", "pricing": {"input": 1.0, "output": 1.0}},
        ]},
    ]  # fmt: skip
    router.models[MODEL]["inferenceProviderMapping"] = mapping(
        together="conversational", novita="conversational"
    )
    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    config = BatchConfig(tmp_path / "out.jsonl", source, defaults=DEFAULTS, provider="novita")
    async with AsyncClient(max_retries=0) as client:
        dry = await plan(config, client)
    assert dry.unpriced == 0
    assert dry.cost_high == pytest.approx((dry.prompt_tokens + 3 * 16) * 1e-6)
    # The provider that answered (x-inference-provider, else the one asked for) sets the price.
    results = [r async for r in run(source, tmp_path / "out.jsonl", defaults=DEFAULTS,
                                    provider="novita", rules=FAST)]  # fmt: skip
    costs = [r.line["response"]["body"]["hfinfer"]["estimated_cost_usd"] for r in results]
    assert costs == [pytest.approx(15e-6)] * 3
    assert {r.line["response"]["request_id"] for r in results} == {"req-r0", "req-r1", "req-r2"}
