"""Whose server a URL names, and so which route a call takes. Pure: no I/O.

Hugging Face's own hosts (``huggingface.co``, ``hf.co``, the router,
``*.endpoints.huggingface.cloud``, and the Hub and router configured with
``HF_ENDPOINT``/``HF_ROUTER_URL``) get the Hugging Face behaviour: the Hub is
asked about models, ``model:provider`` suffixes mean something, the HF token
is sent. Any other base is a server of the user's own (llama.cpp, vLLM,
ollama, TGI): no Hub request, the model name sent as given, the key the
caller passed for it and nothing else.

Host names match by dot-anchored suffix (``x.huggingface.co`` is Hugging
Face's, ``huggingface.co.evil.example`` is not); configured endpoints match
by origin (scheme, host and port), since a test or mirror Hub on
``127.0.0.1:5000`` must not vouch for every other port of that machine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from .errors import InvalidRequestError

__all__ = [
    "HF_DOMAINS",
    "ROUTE_NAMES",
    "Route",
    "decide_route",
    "host_in",
    "is_hf_endpoint",
    "is_hf_host",
    "origin",
    "server_base",
    "valid_repo_id",
]

#: Hugging Face's domains; a host is theirs when it is one of these or ends in ".<one>".
HF_DOMAINS = ("huggingface.co", "hf.co", "huggingface.cloud")
#: The routes a caller can name (``auto``/``None``: decided from the base URL).
ROUTE_NAMES = ("auto", "router", "openai", "tgi")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# huggingface_hub's validate_repo_id: one or two parts of [\w.-], no "--" or "..",
# not starting or ending with "-" or ".", at most 96 characters.
_REPO_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$", re.ASCII)


@lru_cache(maxsize=512)  # asked per request, of a handful of URLs
def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def host_in(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one (dot-anchored)."""
    host = host.rstrip(".").lower()
    for domain in domains:
        domain = domain.strip().strip(".").lower()
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


@lru_cache(maxsize=512)
def origin(url: str) -> str | None:
    """``scheme://host:port`` of ``url`` (the default port written out), or ``None``."""
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return None
    host = (split.hostname or "").rstrip(".").lower()
    scheme = split.scheme.lower()
    if not host or scheme not in _DEFAULT_PORTS:
        return None
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS[scheme]}"


def is_hf_host(url: str, trusted: Iterable[str] = ()) -> bool:
    """Whether ``url`` is on a Hugging Face host: a domain of :data:`HF_DOMAINS`
    (dot-anchored), or the origin of one of the ``trusted`` URLs (the configured
    Hub and router)."""
    if host_in(_host(url), HF_DOMAINS):
        return True
    target = origin(url)
    return target is not None and any(target == origin(t) for t in trusted)


def is_hf_endpoint(url: str) -> bool:
    """A dedicated Inference Endpoint (``*.endpoints.huggingface.cloud``)."""
    return host_in(_host(url), ("endpoints.huggingface.cloud",))


def server_base(url: str) -> str:
    """A server's base URL as given or as OpenAI documents it: without a trailing
    ``/`` or ``/v1`` (``http://localhost:8000/v1`` and ``.../v1/`` are ``.../8000``)."""
    base = url.strip().rstrip("/")
    return base.removesuffix("/v1").rstrip("/")


def valid_repo_id(value: object) -> bool:
    """A Hub model id as huggingface_hub validates it (``owner/name`` or ``name``)."""
    if not isinstance(value, str) or not 0 < len(value) <= 96:
        return False
    if "--" in value or ".." in value or not _REPO_ID.match(value):
        return False
    return all(part and part[0] not in "-." and part[-1] not in "-." for part in value.split("/"))


Kind = Literal["router", "hf-inference", "endpoint", "own"]


@dataclass(frozen=True)
class Route:
    """Where a call goes.

    ``kind``: ``"router"`` (Hugging Face's router: provider mapping,
    ``:provider`` suffixes), ``"hf-inference"`` (the router's or a configured
    text-generation base, ``POST {base}/models/{id}``), ``"endpoint"`` (an
    Inference Endpoint: Hugging Face's host, one model), ``"own"`` (any other
    server). ``protocol``: ``"openai"``, ``"tgi"``, or ``None`` when it must be
    found out from the server. ``hf``: Hugging Face's host (the HF token goes
    there). ``base``: the base URL, without a trailing ``/v1``.
    """

    kind: Kind
    protocol: Literal["openai", "tgi"] | None
    base: str
    hf: bool

    @property
    def name(self) -> str:
        """What a response reports: ``"router"``, ``"openai"``, ``"tgi"`` (or ``"auto"``)."""
        if self.kind == "router":
            return "router"
        return self.protocol or "auto"


def decide_route(
    api_base: str | None,
    route: str | None,
    *,
    router: str,
    inference_base: str,
    trusted: Iterable[str] = (),
) -> Route:
    """The one place that decides where a call goes.

    ``api_base``: the caller's base URL (``None``: the router). ``route``:
    ``None``/``"auto"``, ``"router"``, ``"openai"`` or ``"tgi"``. ``router``:
    the configured router URL; ``inference_base``: the configured
    text-generation base (used by ``route="tgi"`` without ``api_base``);
    ``trusted``: URLs whose origin counts as Hugging Face's (the Hub).
    Raises :class:`InvalidRequestError` for an unknown route name.
    """
    if route is None:
        route = "auto"
    if route not in ROUTE_NAMES:
        raise InvalidRequestError(
            f"route must be one of {', '.join(ROUTE_NAMES)} (or None), got {route!r}"
        )
    hf_origins = (router, inference_base, *trusted)
    if api_base is None:
        if route == "tgi":
            return Route("hf-inference", "tgi", inference_base.rstrip("/"), True)
        return Route("router", "openai", server_base(router), True)
    given = api_base.strip().rstrip("/")
    base = server_base(given)
    if base == server_base(router) or _host(base) == "router.huggingface.co":
        if given.startswith(server_base(router) + "/") and base != server_base(router):
            # A route below the router (``/hf-inference``): text generation by model id.
            return Route("hf-inference", "openai" if route == "openai" else "tgi", base, True)
        if route == "tgi":
            return Route("hf-inference", "tgi", base, True)
        return Route("router", "openai", base, True)
    if is_hf_endpoint(base):
        return Route("endpoint", _named(route), base, True)
    if is_hf_host(base, hf_origins):
        # A configured Hugging Face base (a mirror, HFINFER_API_BASE): the seed's
        # text-generation route by model id, unless the caller names the OpenAI one.
        if route in ("router", "openai"):
            return Route("router", "openai", base, True)
        return Route("hf-inference", "tgi", given, True)
    return Route("own", _named(route), base, False)


def _named(route: str) -> Literal["openai", "tgi"] | None:
    if route == "tgi":
        return "tgi"
    return "openai" if route in ("router", "openai") else None
