"""Batch inputs: OpenAI's batch JSONL, the shorthand line, Parquet files, Hub datasets.

Every source becomes a stream of :class:`BatchRequest`: a ``custom_id``, the
endpoint ``url`` and the request ``body``, plus ``key``, a hash of all three
that the resume state compares (never a line number).

- OpenAI's batch line: ``{"custom_id", "method": "POST", "url", "body"}``.
- The shorthand line (and a Parquet row): ``custom_id`` plus ``messages`` or
  ``prompt``; the model and options come from :class:`RequestDefaults`; any
  other key of a shorthand line goes into the body as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import InvalidRequestError

__all__ = [
    "CHAT_URL",
    "EMBEDDINGS_URL",
    "RESPONSES_URL",
    "BatchRequest",
    "RequestDefaults",
    "iter_files",
    "iter_jsonl",
    "iter_parquet",
    "request_key",
    "row_request",
]

CHAT_URL = "/v1/chat/completions"
EMBEDDINGS_URL = "/v1/embeddings"
RESPONSES_URL = "/v1/responses"
KNOWN_URLS = (CHAT_URL, EMBEDDINGS_URL, RESPONSES_URL)
#: Shorthand keys that describe the row rather than go into the body.
_ROW_KEYS = frozenset({"custom_id", "messages", "prompt"})


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a batch; ``key`` changes whenever the request does."""

    custom_id: str
    url: str
    body: dict[str, Any]
    key: str
    method: str = "POST"


def request_key(custom_id: str, method: str, url: str, body: Mapping[str, Any]) -> str:
    """A 128-bit hex hash of the request, stable across runs (keys sorted)."""
    data = orjson.dumps([custom_id, method, url, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()[:32]


@dataclass(frozen=True)
class RequestDefaults:
    """What the command line adds to shorthand lines and rows.

    ``model`` and ``options`` (``max_tokens``, ``temperature``...) fill keys a
    body lacks; ``system`` is prepended as a system message; ``template``
    (``"Label: {text}"``) builds the prompt from a row's columns;
    ``prompt_column``/``messages_column``/``id_column`` name the columns.
    """

    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    system: str | None = None
    template: str | None = None
    prompt_column: str | None = None
    messages_column: str | None = None
    id_column: str | None = None


def _finish(custom_id: str, url: str, body: dict[str, Any], defaults: RequestDefaults,
            where: str, method: str = "POST") -> BatchRequest:  # fmt: skip
    if defaults.model is not None:
        body.setdefault("model", defaults.model)
    for name, value in defaults.options.items():
        if value is not None:
            body.setdefault(name, value)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequestError(f"{where}: no model: give --model or a body with \"model\"")
    return BatchRequest(custom_id, url, body, request_key(custom_id, method, url, body), method)


def openai_line(line: Mapping[str, Any], defaults: RequestDefaults, where: str) -> BatchRequest:
    """One line of OpenAI's batch format."""
    custom_id, method, url, body = (line.get(k) for k in ("custom_id", "method", "url", "body"))
    if not isinstance(custom_id, str) or not custom_id:
        raise InvalidRequestError(f"{where}: \"custom_id\" must be a non-empty string")
    if method != "POST":
        raise InvalidRequestError(f"{where}: \"method\" must be \"POST\", got {method!r}")
    if url not in KNOWN_URLS:
        raise InvalidRequestError(f"{where}: \"url\" must be one of {', '.join(KNOWN_URLS)}")
    if not isinstance(body, dict):
        raise InvalidRequestError(f"{where}: \"body\" must be an object")
    return _finish(custom_id, str(url), dict(body), defaults, where)


class _Columns(dict[str, Any]):
    def __init__(self, row: Mapping[str, Any], where: str) -> None:
        super().__init__(row)
        self.where = where

    def __missing__(self, name: str) -> Any:
        raise InvalidRequestError(
            f"{self.where}: the template names {{{name}}}, but the row has only "
            f"{', '.join(sorted(self)) or 'no columns'}"
        )


def _messages(row: Mapping[str, Any], defaults: RequestDefaults, where: str) -> list[Any]:
    if defaults.template is not None:
        try:
            text = defaults.template.format_map(_Columns(row, where))
        except (ValueError, IndexError, AttributeError) as exc:
            raise InvalidRequestError(f"{where}: the template cannot be filled: {exc}") from exc
        messages: Any = [{"role": "user", "content": text}]
    else:
        column = defaults.messages_column or defaults.prompt_column
        if column is None:
            column = "messages" if "messages" in row else "prompt"
        if column not in row:
            raise InvalidRequestError(
                f"{where}: no {column!r} column (have {', '.join(sorted(row)) or 'none'}); "
                "name one with --prompt-column, --messages-column or --template"
            )
        messages = row[column]
        if isinstance(messages, str) and column != defaults.messages_column:
            messages = [{"role": "user", "content": messages}]
        elif isinstance(messages, str):
            messages = _decode_messages(messages, where)
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError(f"{where}: messages must be a non-empty list")
    if defaults.system is not None:
        messages = [{"role": "system", "content": defaults.system}, *messages]
    return list(messages)


def _decode_messages(text: str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"{where}: the messages column is not JSON: {exc}") from exc


def _row_id(row: Mapping[str, Any], defaults: RequestDefaults, where: str,
            body: Mapping[str, Any], seen: dict[str, int]) -> str:  # fmt: skip
    column = defaults.id_column or ("custom_id" if "custom_id" in row else None)
    if column is not None:
        value = row.get(column)
        if value is None or value == "":
            raise InvalidRequestError(f"{where}: the id column {column!r} is empty or missing")
        return str(value)
    # No id column: the row is named by its content, so inserting rows elsewhere
    # renames nothing; identical rows are told apart by their order among themselves.
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
    seen[digest] = seen.get(digest, 0) + 1
    return f"row-{digest}" if seen[digest] == 1 else f"row-{digest}-{seen[digest]}"


def row_request(
    row: Mapping[str, Any],
    defaults: RequestDefaults,
    where: str,
    seen: dict[str, int],
    *,
    line: bool = False,
) -> BatchRequest:
    """A table row (or, with ``line``, a shorthand line) as a chat request."""
    body: dict[str, Any] = {}
    if line and defaults.template is None and defaults.prompt_column is None and (
        defaults.messages_column is None
    ):
        # A shorthand line's own options (max_tokens...) go into the body; a table's
        # other columns do not: they are data (labels, ids, template fields).
        body.update({k: v for k, v in row.items() if k not in _ROW_KEYS})
    body["messages"] = _messages(row, defaults, where)
    custom_id = _row_id(row, defaults, where, body, seen)
    return _finish(custom_id, CHAT_URL, body, defaults, where)


def iter_jsonl(path: Path, defaults: RequestDefaults) -> Iterator[BatchRequest]:
    """The requests of a JSONL file, in order; blank lines are skipped."""
    seen: dict[str, int] = {}
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequestError(f"{where}: not JSON ({exc})") from exc
            if not isinstance(line, dict):
                raise InvalidRequestError(f"{where}: a line must be a JSON object")
            if "body" in line or "url" in line:
                yield openai_line(line, defaults, where)
            else:
                yield row_request(line, defaults, where, seen, line=True)


def iter_parquet(paths: list[Path], defaults: RequestDefaults) -> Iterator[BatchRequest]:
    """The rows of Parquet files (one table in parts) as requests, a batch at a time."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InvalidRequestError(
            "reading Parquet needs pyarrow: pip install 'hfinfer[parquet]'"
        ) from exc
    seen: dict[str, int] = {}
    for path in paths:
        try:
            handle = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise InvalidRequestError(f"{path}: not a readable Parquet file ({exc})") from exc
        number = 0
        for batch in handle.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                number += 1
                yield row_request(row, defaults, f"{path}: row {number}", seen)


def iter_files(paths: list[Path], defaults: RequestDefaults) -> Iterator[BatchRequest]:
    """JSONL or Parquet files, told apart by their first bytes (Parquet starts ``PAR1``);
    a ``custom_id`` seen twice is refused."""
    for path in paths:
        if not path.is_file():
            raise InvalidRequestError(f"{path}: no such input file")
    magics = set()
    for path in paths:
        with path.open("rb") as handle:
            magics.add(handle.read(4) == b"PAR1")
    if len(magics) > 1:
        raise InvalidRequestError("the inputs mix Parquet and JSONL files; give one kind")
    if magics == {True}:
        yield from _unique(iter_parquet(paths, defaults))
    else:
        yield from _unique(r for path in paths for r in iter_jsonl(path, defaults))


def _unique(requests: Iterator[BatchRequest]) -> Iterator[BatchRequest]:
    seen: set[str] = set()
    for request in requests:
        if request.custom_id in seen:
            raise InvalidRequestError(
                f"custom_id {request.custom_id!r} appears twice in the input; each must be unique"
            )
        seen.add(request.custom_id)
        yield request
