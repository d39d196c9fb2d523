"""Batch outputs in OpenAI's batch output format, and the flat table of results.

A line is ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``. A request the server answered with an error keeps that
answer (``response.status_code`` >= 400, ``body.error``) and ``error: null``;
a request that got no answer (a broken connection, a timeout) has
``response: null`` and ``error: {"code", "message"}``, as OpenAI writes them.
Each body keeps the upstream ``usage`` and adds an ``hfinfer`` block:
``provider``, ``estimated_cost_usd``, ``latency_s``, ``attempts``.

The ``id`` is ``batch_req_`` + the request's key, so a line tells which
version of a row produced it: the resume state trusts nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ..errors import InvalidRequestError

__all__ = [
    "FLAT_COLUMNS",
    "Meta",
    "OutputPaths",
    "chat_body",
    "embedding_body",
    "failure_line",
    "flat_row",
    "key_of",
    "read_lines",
    "success_line",
    "write_parquet",
]

ID_PREFIX = "batch_req_"
#: The columns of the flat table (``--output-format parquet``, the Ray integration).
FLAT_COLUMNS = (
    "custom_id", "status_code", "content", "reasoning", "finish_reason", "tool_calls",
    "prompt_tokens", "completion_tokens", "provider", "estimated_cost_usd", "latency_s",
    "attempts", "error_code", "error_message", "request_key",
)  # fmt: skip


@dataclass(frozen=True)
class OutputPaths:
    """Where a run writes: the results, the errors, the state, and for Parquet a
    journal (results are appended to it; the table is written from it)."""

    output: Path
    results: Path
    errors: Path
    state: Path
    parquet: bool

    @classmethod
    def for_output(cls, output: str | Path, output_format: str = "jsonl") -> OutputPaths:
        if output_format not in ("jsonl", "parquet"):
            raise InvalidRequestError(f"output format must be jsonl or parquet: {output_format!r}")
        path = Path(output)
        stem = path.name.removesuffix(".jsonl").removesuffix(".parquet")
        parquet = output_format == "parquet"
        results = path.with_name(f"{stem}.journal.jsonl") if parquet else path
        return cls(
            output=path,
            results=results,
            errors=path.with_name(f"{stem}.errors.jsonl"),
            state=path.with_name(f"{stem}.hfinfer-state.sqlite"),
            parquet=parquet,
        )


@dataclass(frozen=True)
class Meta:
    """What hfinfer adds to a body: ``provider`` (when known), cost, time, attempts."""

    provider: str | None
    estimated_cost_usd: float | None
    latency_s: float
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        cost = None if self.estimated_cost_usd is None else round(self.estimated_cost_usd, 10)
        return {
            "provider": self.provider,
            "estimated_cost_usd": cost,
            "latency_s": round(self.latency_s, 4),
            "attempts": self.attempts,
        }


def key_of(line: Mapping[str, Any]) -> str | None:
    """The request key an output line was written for (from its ``id``)."""
    ident = line.get("id")
    if isinstance(ident, str) and ident.startswith(ID_PREFIX):
        return ident[len(ID_PREFIX) :]
    return None


def chat_body(
    key: str,
    model: str,
    reply: Any,
    meta: Meta,
) -> dict[str, Any]:
    """A ``chat.completion`` object from the client's :class:`~hfinfer.ChatResponse`."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [call.to_dict() for call in reply.tool_calls]
    usage = reply.usage
    return {
        "id": f"chatcmpl-{key[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": None if usage is None else _usage(usage),
        "hfinfer": meta.as_dict(),
    }


def _usage(usage: Any) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def embedding_body(
    model: str, vectors: list[list[float]], prompt_tokens: int | None, meta: Meta
) -> dict[str, Any]:
    """An embeddings ``list`` object (OpenAI's shape) from the client's vectors."""
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": list(vector)}
            for index, vector in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        "hfinfer": meta.as_dict(),
    }


def success_line(
    custom_id: str, key: str, body: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    """The line of a request that succeeded."""
    return {
        "id": f"{ID_PREFIX}{key}",
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": request_id, "body": body},
        "error": None,
    }


def failure_line(
    custom_id: str,
    key: str,
    *,
    status: int | None,
    code: str,
    message: str,
    request_id: str | None,
    meta: Meta,
) -> dict[str, Any]:
    """The line of a request that failed: with the server's answer when there was one."""
    line: dict[str, Any] = {"id": f"{ID_PREFIX}{key}", "custom_id": custom_id}
    if status is None:
        line["response"] = None
        line["error"] = {"code": code, "message": message}
        return line
    error = {"message": message, "type": code, "param": None, "code": None}
    line["response"] = {
        "status_code": status,
        "request_id": request_id,
        "body": {"error": error, "hfinfer": meta.as_dict()},
    }
    line["error"] = None
    return line


def flat_row(line: Mapping[str, Any]) -> dict[str, Any]:
    """One output line as a row of :data:`FLAT_COLUMNS`."""
    response = line.get("response") or {}
    body = response.get("body") or {}
    extra = body.get("hfinfer") or {}
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = body.get("usage") or {}
    error = line.get("error") or body.get("error") or {}
    calls = message.get("tool_calls")
    content, finish = message.get("content"), choice.get("finish_reason")
    if body.get("object") == "response":  # the Responses API's shape
        content, finish = _output_text(body), body.get("status")
    return {
        "custom_id": line.get("custom_id"),
        "status_code": response.get("status_code"),
        "content": content,
        "reasoning": message.get("reasoning_content"),
        "finish_reason": finish,
        "tool_calls": None if not calls else orjson.dumps(calls).decode(),
        "prompt_tokens": usage.get("prompt_tokens", usage.get("input_tokens")),
        "completion_tokens": usage.get("completion_tokens", usage.get("output_tokens")),
        "provider": extra.get("provider"),
        "estimated_cost_usd": extra.get("estimated_cost_usd"),
        "latency_s": extra.get("latency_s"),
        "attempts": extra.get("attempts"),
        "error_code": error.get("code") or error.get("type"),
        "error_message": error.get("message"),
        "request_key": key_of(line),
    }


def _output_text(body: Mapping[str, Any]) -> str | None:
    """The text of a Responses API object's ``output_text`` parts, joined."""
    texts = [
        str(part.get("text", ""))
        for item in body.get("output") or []
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict) and part.get("type") == "output_text"
    ]
    return "".join(texts) if texts else None


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of a JSONL output (a torn last line is left out)."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for raw in handle:
            if raw.endswith(b"\n") and raw.strip():
                yield orjson.loads(raw)


def write_parquet(rows: Iterable[Mapping[str, Any]], path: Path) -> None:
    """The flat table, written next to ``path`` and renamed into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {name: [] for name in FLAT_COLUMNS}
    for row in rows:
        for name in FLAT_COLUMNS:
            columns[name].append(row.get(name))
    types = {
        "status_code": pa.int64(), "prompt_tokens": pa.int64(), "completion_tokens": pa.int64(),
        "attempts": pa.int64(), "estimated_cost_usd": pa.float64(), "latency_s": pa.float64(),
    }  # fmt: skip
    table = pa.table(
        {name: pa.array(values, type=types.get(name, pa.string())) for name, values in
         columns.items()}
    )  # fmt: skip
    partial = path.with_name(path.name + ".part")
    pq.write_table(table, partial)
    os.replace(partial, path)
