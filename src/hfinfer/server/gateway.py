"""What the routes share while the app runs: the configuration, one client per
upstream (each with its connection pool), the metrics, the access log and the
image store. Nothing here lives across requests except pools and caches."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from ..client import AsyncClient
from ..logs.settings import logs_db_path
from .config import ServerConfig
from .exchange import Exchange
from .images import ImageStore
from .logdb import ExchangeLog
from .metrics import Metrics

__all__ = ["Gateway", "check_upstreams"]

access_logger = logging.getLogger("hfinfer.server.access")
_encode_line = msgspec.json.Encoder().encode


class Gateway:
    """The app's state; open it with ``async with`` (the app's lifespan does)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.router = AsyncClient(api_key=config.hf_token, route="router")
        self.upstream_clients: dict[str, AsyncClient] = {
            name: _upstream_client(upstream.api_base, upstream.api_key, upstream.route)
            for name, upstream in config.upstreams.items()
        }
        self.metrics = Metrics()
        self.images = ImageStore(ttl=config.image_url_ttl)
        #: The SQLite log (``--log-db``; ``""`` means the CLI's own file): exchanges go
        #: in as conversation turns, and the Responses store keeps its table there.
        self.log_db_path: str | None = (
            None if config.log_db is None else str(config.log_db or logs_db_path())
        )
        self.exchange_log: ExchangeLog | None = None
        if self.log_db_path is not None:
            self.exchange_log = ExchangeLog(self.log_db_path)

    async def __aenter__(self) -> Gateway:
        await self.router.__aenter__()
        for client in self.upstream_clients.values():
            await client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in (self.router, *self.upstream_clients.values()):
            await client.aclose()
        if self.exchange_log is not None:
            await self.exchange_log.aclose()

    def record(self, exchange: Exchange) -> None:
        """One finished request: its access-log line and its metrics."""
        self.metrics.observe(exchange)
        if self.exchange_log is not None:
            self.exchange_log.write(exchange)
        if access_logger.isEnabledFor(logging.INFO):
            line = _encode_line(exchange.log_fields(with_prompts=self.config.log_prompts))
            access_logger.info("%s", line.decode())


def check_upstreams(config: ServerConfig) -> None:
    """Make the upstreams' clients once (no I/O), so a route this version of the
    client does not know fails at start, with its message, not in a worker."""
    for upstream in config.upstreams.values():
        _upstream_client(upstream.api_base, upstream.api_key, upstream.route)


def _upstream_client(api_base: str, api_key: str | None, route: str) -> AsyncClient:
    options: dict[str, Any] = {"api_base": api_base, "api_key": api_key, "route": route}
    return AsyncClient(**options)
