"""Datasets on the Hub as Parquet: the parquet listing of a split, and file downloads.

The Hub converts every dataset to Parquet (branch ``refs/convert/parquet``)
and lists a split's files at ``GET /api/datasets/{repo}/parquet/{config}/{split}``
(a JSON list of URLs). A path ``hf://datasets/{repo}[@{rev}]/{path}`` is the
file ``/datasets/{repo}/resolve/{rev}/{path}`` of the Hub.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from ..config import ClientSettings
from ..errors import ConnectionError, HFInferenceError, InvalidRequestError, ModelNotFoundError
from ..http.session import HttpClient

__all__ = ["download", "hf_path_url", "parquet_urls"]

HF_PREFIX = "hf://datasets/"
#: Downloads are written in pieces of this size, off the event loop.
PIECE = 1 << 20


def hf_path_url(path: str, endpoint: str) -> str:
    """The Hub URL of ``hf://datasets/{repo}[@{rev}]/{path}``.

    The repository is the first two segments (``owner/name``); a revision after
    ``@`` may itself be URL-quoted (``refs%2Fconvert%2Fparquet``).
    """
    if not path.startswith(HF_PREFIX):
        raise InvalidRequestError(f"not an hf://datasets/ path: {path!r}")
    parts = path[len(HF_PREFIX) :].split("/")
    if len(parts) < 3 or not all(parts[:2]):
        raise InvalidRequestError(
            f"{path!r} names no file: use hf://datasets/owner/name[@revision]/path/to/file"
        )
    owner, name, rest_parts = parts[0], parts[1], parts[2:]
    name, _, revision = name.partition("@")
    if revision == "refs" and len(rest_parts) > 2:
        # refs/convert/parquet, refs/pr/7: a revision with slashes, as huggingface_hub reads it
        revision = "/".join(["refs", *rest_parts[:2]])
        rest_parts = rest_parts[2:]
    rest = "/".join(rest_parts)
    revision = quote(unquote(revision or "main"), safe="")
    return f"{endpoint}/datasets/{owner}/{name}/resolve/{revision}/{quote(rest, safe='/')}"


def _settings(api_key: str | None, proxy: str | None) -> ClientSettings:
    return ClientSettings.resolve(api_key=api_key, proxy=proxy)


async def parquet_urls(
    repo: str,
    config: str = "default",
    split: str = "train",
    *,
    api_key: str | None = None,
    proxy: str | None = None,
) -> list[str]:
    """The URLs of the Parquet files of ``repo``'s ``config``/``split``, in order.

    Raises :class:`~hfinfer.errors.ModelNotFoundError` (with the dataset named)
    when the Hub lists nothing there.
    """
    settings = _settings(api_key, proxy)
    where = "/".join(quote(part, safe="") for part in (config, split))
    url = f"{settings.hub_endpoint}/api/datasets/{quote(repo, safe='/')}/parquet/{where}"
    async with HttpClient(settings) as http:
        try:
            answer: Any = await http.get_json(url)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(
                f"The Hub lists no Parquet files for dataset {repo!r}, config {config!r}, "
                f"split {split!r}: check the names (they are case-sensitive).",
                model=repo,
            ) from exc
    if not isinstance(answer, list) or not all(isinstance(u, str) for u in answer):
        raise HFInferenceError(f"The Hub's parquet listing of {repo!r} is not a list of URLs")
    return list(answer)


async def download(
    url: str, target: Path, *, api_key: str | None = None, proxy: str | None = None
) -> Path:
    """Fetch ``url`` (or an ``hf://datasets/`` path) into ``target``, atomically."""
    settings = _settings(api_key, proxy)
    if url.startswith(HF_PREFIX):
        url = hf_path_url(url, settings.hub_endpoint)
    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    async with HttpClient(settings) as http:
        try:
            await _save(http, url, target, partial)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(
                f"{url}: no such file on the Hub (check the dataset, revision and path)"
            ) from exc
    await asyncio.to_thread(os.replace, partial, target)
    return target


async def _save(http: HttpClient, url: str, target: Path, partial: Path) -> None:
    async with http.open("GET", url, stream=True) as response:
        handle = await asyncio.to_thread(partial.open, "wb")
        try:
            try:
                async for piece in response.content.iter_chunked(PIECE):
                    await asyncio.to_thread(_write, handle, piece)
            except HFInferenceError:
                raise
            except Exception as exc:  # the transport's payload/connection errors, a full disk
                raise ConnectionError(f"Downloading {url} into {target} failed: {exc}") from exc
        finally:
            await asyncio.to_thread(handle.close)


def _write(handle: BinaryIO, piece: bytes) -> None:
    handle.write(piece)
