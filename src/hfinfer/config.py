"""Configuration: arguments first, then the ecosystem's environment, then defaults.

Read when a call or client is made, never at import, so tests and users can
change the environment between calls. The token never appears in a repr.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import (
    OLD_SERVERLESS_HOST,
    ROUTER_HF_INFERENCE,
    EndpointGoneError,
    InvalidRequestError,
    MissingAuthError,
)
from .hosts import HF_DOMAINS, check_base_url, host_in, is_hf_host, origin

__all__ = [
    "DEFAULT_HUB_ENDPOINT",
    "DEFAULT_INFERENCE_BASE",
    "DEFAULT_ROUTER_URL",
    "Timeouts",
    "cache_dir",
    "check_api_base",
    "data_dir",
    "hf_home",
    "hub_endpoint",
    "is_hugging_face_url",
    "is_offline",
    "redact_url",
    "require_token",
    "resolve_token",
    "router_url",
    "template_render_limits",
    "token_hosts",
]

DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
DEFAULT_INFERENCE_BASE = ROUTER_HF_INFERENCE
DEFAULT_ROUTER_URL = "https://router.huggingface.co"

_TRUE = {"1", "true", "yes", "on"}


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def hf_home() -> Path:
    """``$HF_HOME``, else ``$XDG_CACHE_HOME/huggingface``, else ``~/.cache/huggingface``."""
    home = _env("HF_HOME")
    if home:
        return Path(home).expanduser()
    xdg = _env("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def resolve_token(api_key: str | None = None) -> str | None:
    """The token: the argument, else ``HF_TOKEN``, else ``HUGGING_FACE_HUB_TOKEN``,
    else the file ``$HF_TOKEN_PATH`` or ``$HF_HOME/token`` that ``hf auth login`` writes."""
    if api_key:
        return _checked_token(api_key, "api_key")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        token = _env(name)
        if token:
            return _checked_token(token, name)
    path = Path(_env("HF_TOKEN_PATH") or hf_home() / "token").expanduser()
    token = _token_file(path)
    return _checked_token(token, str(path)) if token else None


def _checked_token(token: str, source: str) -> str:
    """Refuse a token with a line break or other control character inside: it cannot
    go into a header (and a CR/LF would start a new one)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in token):
        raise InvalidRequestError(
            f"The token from {source} contains a line break or another control character "
            "inside it; check that it holds the token alone, on one line."
        )
    return token


#: Hugging Face's own domains (the Hub, the router, Inference Endpoints): they want a token.
HUGGING_FACE_DOMAINS = HF_DOMAINS
TOKEN_HOWTO = "pass api_key=, set HF_TOKEN, or log in with `hf auth login`"


def is_hugging_face_url(url: str) -> bool:
    """Whether ``url``'s host is one of :data:`HUGGING_FACE_DOMAINS` or under one
    (dot-anchored: ``huggingface.co.example`` is not)."""
    return is_hf_host(url)


def require_token(api_key: str | None, url: str, *, how: str = TOKEN_HOWTO) -> None:
    """Raise :class:`~hfinfer.errors.MissingAuthError` before any request when ``url``
    is a Hugging Face host and no token is found anywhere (``api_key``, environment,
    the login file): such a call can only be refused. ``how`` says how to give one."""
    if is_hugging_face_url(url) and not resolve_token(api_key):
        host = urlsplit(url).hostname
        raise MissingAuthError(f"No Hugging Face token found, and {host} needs one: {how}.")


_token_files: dict[Path, tuple[int, str | None]] = {}


def _token_file(path: Path) -> str | None:
    # Read again only when the file changed: a stat, not a read, on every call.
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    cached = _token_files.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        # utf-8-sig: an editor's byte-order mark is not part of the token.
        token = path.read_text(encoding="utf-8-sig").strip() or None
    except OSError:
        return None
    _token_files[path] = (stamp, token)
    return token


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub's base URL: the argument, else ``HF_ENDPOINT``, else huggingface.co."""
    return (endpoint or _env("HF_ENDPOINT") or DEFAULT_HUB_ENDPOINT).rstrip("/")


def router_url(url: str | None = None) -> str:
    """The Inference Providers router: the argument, else ``HF_ROUTER_URL``."""
    return (url or _env("HF_ROUTER_URL") or DEFAULT_ROUTER_URL).rstrip("/")


def inference_base(api_base: str | None = None) -> str:
    """Where text-generation requests go: the argument, else ``HFINFER_API_BASE``."""
    base = (api_base or _env("HFINFER_API_BASE") or DEFAULT_INFERENCE_BASE).rstrip("/")
    check_api_base(base)
    return base


def check_api_base(base: str) -> None:
    """Refuse a base that is not an http(s) URL with a host, and the retired serverless
    host, before any request is sent."""
    check_base_url(base)
    if urlsplit(base).hostname == OLD_SERVERLESS_HOST:
        raise EndpointGoneError(
            f"{base} is retired: Hugging Face answers 410 Gone there since 2025. "
            f"Use api_base={ROUTER_HF_INFERENCE!r} (hfinfer's default), or leave api_base out.",
            status=410,
            url=base,
        )


def token_hosts() -> tuple[str, ...]:
    """``HFINFER_TOKEN_HOSTS``: hosts (comma-separated, subdomains included) that get
    the Hugging Face token although they are not Hugging Face's: an opt-in."""
    return tuple(h.strip() for h in (_env("HFINFER_TOKEN_HOSTS") or "").split(",") if h.strip())


def redact_url(url: str | None) -> str | None:
    """``url`` with any password replaced by ``***`` (``http://user:***@proxy:3128``)."""
    if not url:
        return url
    split = urlsplit(url)
    if split.password is None:
        return url
    host = split.netloc.rpartition("@")[2]
    return split._replace(netloc=f"{split.username}:***@{host}").geturl()


def template_render_limits() -> tuple[float, int]:
    """Seconds and characters one chat-template render may take:
    ``HFINFER_TEMPLATE_TIMEOUT`` (default 2) and ``HFINFER_TEMPLATE_MAX_CHARS``
    (default 8 Mi); see :class:`hfinfer.prompts.render_limits.RenderLimits`."""
    seconds = _env_float("HFINFER_TEMPLATE_TIMEOUT", 2.0) or 2.0
    chars = _env("HFINFER_TEMPLATE_MAX_CHARS")
    return seconds, int(chars) if chars and chars.isdigit() else 8 * 1024 * 1024


def is_offline() -> bool:
    """``HF_HUB_OFFLINE=1``: answer Hub questions from the disk cache alone."""
    return (_env("HF_HUB_OFFLINE") or "").lower() in _TRUE


def cache_dir() -> Path:
    """Where hfinfer keeps its disk cache: ``HFINFER_CACHE_DIR``, else ``$HF_HOME/hfinfer``."""
    configured = _env("HFINFER_CACHE_DIR")
    return Path(configured).expanduser() if configured else hf_home() / "hfinfer"


def data_dir() -> Path:
    """Where hfinfer keeps what a user would miss if it were deleted (the chat log,
    saved settings): ``HFINFER_DATA_DIR``; else ``$HF_HOME/hfinfer`` when ``HF_HOME``
    is set (the user chose one folder for Hugging Face things); else the platform's
    data folder: ``$XDG_DATA_HOME/hfinfer`` or ``~/.local/share/hfinfer``,
    ``~/Library/Application Support/hfinfer`` on macOS, ``%LOCALAPPDATA%\\hfinfer``
    on Windows. Logs are data, not cache: they do not go where caches are cleared."""
    configured = _env("HFINFER_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    if _env("HF_HOME"):
        return hf_home() / "hfinfer"
    import sys

    if sys.platform == "win32":
        base = _env("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "hfinfer"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "hfinfer"
    xdg = _env("XDG_DATA_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "hfinfer"


def _env_float(name: str, default: float | None) -> float | None:
    value = _env(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    return number if number > 0 else None


@dataclass(frozen=True)
class Timeouts:
    """Separate limits, in seconds (``None`` = no limit).

    - ``connect``: to open the connection (and the proxy's).
    - ``first_byte``: from sending the request to the answer's headers; this
      includes waiting for a cold model to load, so it is long.
    - ``stream_gap``: between two reads of a streamed body; a long stream is
      never cut while tokens keep coming.
    - ``total``: for a whole non-streamed exchange (headers and body).
    """

    connect: float | None = 10.0
    first_byte: float | None = 600.0
    stream_gap: float | None = 60.0
    total: float | None = 600.0

    @classmethod
    def from_env(cls, timeout: float | Timeouts | None = None) -> Timeouts:
        """Defaults, overridden by ``HFINFER_*_TIMEOUT`` variables, then by ``timeout``.

        A number for ``timeout`` (the seed's ``timeout=600``) bounds the first
        byte and non-streamed exchanges; it does not cut a stream that flows.
        """
        if isinstance(timeout, Timeouts):
            return timeout
        base = cls(
            connect=_env_float("HFINFER_CONNECT_TIMEOUT", cls.connect),
            first_byte=_env_float("HFINFER_FIRST_BYTE_TIMEOUT", cls.first_byte),
            stream_gap=_env_float("HFINFER_STREAM_GAP_TIMEOUT", cls.stream_gap),
            total=_env_float("HFINFER_TIMEOUT", cls.total),
        )
        if timeout is None:
            return base
        seconds = float(timeout)
        return cls(
            connect=min(base.connect, seconds) if base.connect else seconds,
            first_byte=seconds,
            stream_gap=min(base.stream_gap, seconds) if base.stream_gap else seconds,
            total=seconds,
        )


@dataclass(frozen=True)
class ClientSettings:
    """What one call or client resolved: endpoints, token, limits."""

    hub_endpoint: str
    token: str | None = field(default=None, repr=False)
    proxy: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_retries: int = 3
    bill_to: str | None = None
    #: URLs whose origin is Hugging Face's besides its domains (the configured Hub, router).
    hf_origins: tuple[str, ...] = ()
    #: A key for one server of the user's own (``server_origin``), sent there only.
    server_key: str | None = field(default=None, repr=False)
    server_origin: str | None = None
    #: Other hosts the caller opted in to receive the HF token (``HFINFER_TOKEN_HOSTS``).
    token_hosts: tuple[str, ...] = ()

    def is_hf_url(self, url: str) -> bool:
        """Whether ``url`` is on a Hugging Face host (its errors get Hugging Face advice)."""
        return is_hf_host(url, self.hf_origins)

    def credential_for(self, url: str) -> str | None:
        """The token to send with a request to ``url``: the server's own key on its
        server, the HF token on Hugging Face's hosts (and on opted-in ones), else none."""
        opted_in = bool(self.token_hosts) and host_in(_hostname(url), self.token_hosts)
        if self.server_origin is not None and origin(url) == self.server_origin:
            # The server's own key; the HF token only where the caller opted in.
            return self.server_key or (self.token if opted_in else None)
        return self.token if opted_in or self.is_hf_url(url) else None

    def __repr__(self) -> str:
        # Written out (the dataclass does not replace it): the token is left out and a
        # proxy's password is masked.
        return (
            f"ClientSettings(hub_endpoint={self.hub_endpoint!r}, "
            f"token={'set' if self.token else None!r}, proxy={redact_url(self.proxy)!r}, "
            f"timeouts={self.timeouts!r}, max_retries={self.max_retries!r}, "
            f"bill_to={self.bill_to!r})"
        )

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None = None,
        hub: str | None = None,
        proxy: str | None = None,
        timeout: float | Timeouts | None = None,
        max_retries: int | None = None,
        bill_to: str | None = None,
        server: str | None = None,
        trusted: tuple[str, ...] = (),
    ) -> ClientSettings:
        """Arguments, else the environment. ``server``: the base URL of the call's
        server; when it is not Hugging Face's, ``api_key`` is that server's key
        (sent there only) and the HF token still comes from the environment.
        ``trusted``: more URLs whose origin is Hugging Face's (a router URL argument)."""
        retries = max_retries
        if retries is None:
            env_retries = _env("HFINFER_MAX_RETRIES")
            retries = int(env_retries) if env_retries and env_retries.isdigit() else 3
        hub_url = hub_endpoint(hub)
        hf_origins = (hub_url, router_url(), *trusted)
        own = server is not None and not is_hf_host(server, hf_origins)
        return cls(
            hub_endpoint=hub_url,
            token=resolve_token(None if own else api_key),
            proxy=proxy or _env("HFINFER_PROXY"),
            timeouts=Timeouts.from_env(timeout),
            max_retries=max(0, retries),
            bill_to=bill_to or _env("HF_BILL_TO"),
            hf_origins=hf_origins,
            server_key=_checked_token(api_key, "api_key") if own and api_key else None,
            server_origin=origin(server) if own and server else None,
            token_hosts=token_hosts(),
        )


def _hostname(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
