"""The gateway's configuration: command-line options over a TOML file over defaults.

A file looks like::

    [server]
    api_key_env = "HFINFER_SERVE_API_KEY"   # or api_key = "..."
    models = ["meta-llama/Llama-3.1-8B-Instruct", "fast"]   # the allow-list
    max_body_bytes = 4_000_000
    max_tokens = 8192

    [models.fast]                    # an alias, tried in order before the first byte
    use = ["meta-llama/Llama-3.1-8B-Instruct:cerebras", "local:llama3"]

    [upstreams.local]                # a server of your own
    api_base = "http://127.0.0.1:8080"
    route = "openai"                 # or "tgi"
    api_key_env = "LOCAL_KEY"
    models = ["llama3"]              # names callers may use for it

An entry of ``use`` is a Hub id (``org/name``, with ``:provider``,
``:fastest`` or ``:cheapest``) served through the router, or
``UPSTREAM:MODEL`` naming an upstream of the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Alias", "ServerConfig", "Upstream", "load_config"]


@dataclass(frozen=True, slots=True)
class Upstream:
    """A server of the user's own: OpenAI-compatible (``route="openai"``) or TGI."""

    name: str
    api_base: str
    route: str = "openai"
    api_key: str | None = None
    models: tuple[str, ...] = ()

    def __repr__(self) -> str:  # the key stays out of logs
        return f"Upstream(name={self.name!r}, api_base={self.api_base!r}, route={self.route!r})"


@dataclass(frozen=True, slots=True)
class Alias:
    """A model name of the gateway's own: the targets are tried in order."""

    name: str
    use: tuple[str, ...]


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``hfinfer serve`` runs with; immutable once the app is made."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    api_key: str | None = field(default=None, repr=False)
    insecure_no_auth: bool = False
    models: tuple[str, ...] = ()  # the allow-list; empty allows every model
    aliases: Mapping[str, Alias] = field(default_factory=dict)
    upstreams: Mapping[str, Upstream] = field(default_factory=dict)
    drop_params: bool = False
    forward_client_token: bool = False
    allow_bill_to: bool = True
    log_prompts: bool = False
    log_db: str | None = None
    max_body_bytes: int = 4 * 1024 * 1024
    max_tokens: int = 32768
    max_n: int = 4
    max_image_side: int = 2048
    max_embedding_inputs: int = 256
    image_url_ttl: float = 600.0
    hf_token: str | None = field(default=None, repr=False)  # else HF_TOKEN, read by the client

    def with_options(self, **options: Any) -> ServerConfig:
        """A copy with the options that were given (``None`` means not given)."""
        given: dict[str, Any] = {
            name: tuple(value) if isinstance(value, list) else value
            for name, value in options.items()
            if value is not None
        }
        return replace(self, **given)

    @property
    def keeps_exchanges(self) -> bool:
        """Whether prompts and answers are kept for a log (``--log-prompts``, ``--log-db``)."""
        return self.log_prompts or self.log_db is not None

    @property
    def loopback(self) -> bool:
        """Whether the gateway listens on this machine only."""
        return self.host in ("127.0.0.1", "localhost", "::1") or self.host.startswith("127.")

    def check_exposure(self) -> None:
        """Refuse to listen beyond loopback without an API key (unless told to)."""
        if not self.loopback and not self.api_key and not self.insecure_no_auth:
            raise InvalidRequestError(
                f"Refusing to listen on {self.host} without an API key: anyone who can reach "
                "it would spend your Hugging Face credits. Give --api-key (or set "
                "HFINFER_SERVE_API_KEY), or pass --insecure-no-auth if that is what you want."
            )


_SERVER_KEYS = {f.name for f in fields(ServerConfig)} - {"aliases", "upstreams", "api_key"}


def load_config(path: str | Path | None) -> ServerConfig:
    """The configuration in the TOML file at ``path`` (defaults when ``None``).

    Raises :class:`~hfinfer.errors.InvalidRequestError` for a file that cannot
    be read or holds unknown keys, naming the key.
    """
    if path is None:
        return ServerConfig()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidRequestError(f"Cannot read the config file {path}: {exc}") from exc
    server = dict(data.get("server") or {})
    api_key = _secret(server, "api_key", f"{path} [server]")
    unknown = set(server) - _SERVER_KEYS
    if unknown or set(data) - {"server", "models", "upstreams"}:
        extra = sorted(unknown | (set(data) - {"server", "models", "upstreams"}))
        raise InvalidRequestError(f"Unknown keys in {path}: {', '.join(extra)}")
    if "models" in server:
        server["models"] = tuple(_names(server["models"], f"{path} [server] models"))
    upstreams = {
        name: _upstream(name, table, path) for name, table in (data.get("upstreams") or {}).items()
    }
    aliases = {
        name: _alias(name, table, path) for name, table in (data.get("models") or {}).items()
    }
    for alias in aliases.values():
        for target in alias.use:
            upstream, sep, _ = target.partition(":")
            if sep and "/" not in upstream and upstream not in upstreams:
                raise InvalidRequestError(
                    f"{path}: [models.{alias.name}] uses {target!r}, but there is no "
                    f"[upstreams.{upstream}]"
                )
    return ServerConfig(api_key=api_key, aliases=aliases, upstreams=upstreams, **server)


def _secret(table: dict[str, Any], name: str, where: str) -> str | None:
    """``name`` itself, or the environment variable that ``name_env`` names."""
    value = table.pop(name, None)
    env_name = table.pop(f"{name}_env", None)
    if value is None and env_name:
        value = os.environ.get(str(env_name)) or None
        if value is None:
            raise InvalidRequestError(f"{where}: {name}_env names {env_name}, which is not set")
    return None if value is None else str(value)


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequestError(f"{where} must be a list of names")
    return list(value)


def _upstream(name: str, table: Any, path: str | Path) -> Upstream:
    where = f"{path} [upstreams.{name}]"
    if not isinstance(table, dict) or not isinstance(table.get("api_base"), str):
        raise InvalidRequestError(f'{where} needs api_base = "http://..."')
    table = dict(table)
    api_key = _secret(table, "api_key", where)
    route = table.pop("route", "openai")
    if route not in ("openai", "tgi"):
        raise InvalidRequestError(f"{where}: route must be 'openai' or 'tgi', got {route!r}")
    models = tuple(_names(table.pop("models", []), f"{where} models"))
    base = table.pop("api_base").rstrip("/")
    if table:
        raise InvalidRequestError(f"Unknown keys in {where}: {', '.join(sorted(table))}")
    return Upstream(name=name, api_base=base, route=route, api_key=api_key, models=models)


def _alias(name: str, table: Any, path: str | Path) -> Alias:
    where = f"{path} [models.{name}]"
    if not isinstance(table, dict) or set(table) != {"use"}:
        raise InvalidRequestError(f'{where} needs exactly: use = ["org/model", ...]')
    return Alias(name=name, use=tuple(_names(table["use"], f"{where} use")))
