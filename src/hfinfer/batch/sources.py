"""Where a batch's rows come from: a local file, an ``hf://datasets/`` file, or a
Hub dataset's split (its Parquet files, fetched through the client)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from .runner import BatchConfig

__all__ = ["download_dir", "resolve_inputs"]

HF_PREFIX = "hf://datasets/"


def download_dir(config: BatchConfig) -> Path:
    """Downloaded inputs live beside the output, so a resume reads the same bytes."""
    paths = config.paths
    return paths.output.with_name(paths.state.name.removesuffix(".sqlite") + "-inputs")


def _local_name(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1] or "file"
    return f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{tail}"


async def _fetch(client: Any, url: str, folder: Path) -> Path:
    target = folder / _local_name(url)
    if target.exists():
        return target
    path: Path = await client.download_file(url, target)
    return path


async def resolve_inputs(config: BatchConfig, client: Any) -> list[Path]:
    """The local files to read, downloading what lives on the Hub (once)."""
    if config.dataset is not None:
        if config.input is not None:
            raise InvalidRequestError("give an input file or --dataset, not both")
        urls = await client.dataset_parquet_files(
            config.dataset, config=config.config, split=config.split
        )
        if not urls:
            raise InvalidRequestError(
                f"dataset {config.dataset!r} ({config.config}/{config.split}) has no Parquet files"
            )
        return [await _fetch(client, url, download_dir(config)) for url in urls]
    if config.input is None:
        raise InvalidRequestError("give an input file (-i) or a dataset (--dataset)")
    text = str(config.input)
    if text.startswith(HF_PREFIX):
        return [await _fetch(client, text, download_dir(config))]
    return [Path(config.input)]
