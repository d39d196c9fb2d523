"""Whose server a URL names: Hugging Face's, or one of the user's own. Pure: no I/O.

Hugging Face's own hosts (``huggingface.co``, ``hf.co``, the router,
``*.endpoints.huggingface.cloud``, and the Hub and router configured with
``HF_ENDPOINT``/``HF_ROUTER_URL``) get the Hugging Face behaviour: the Hub is
asked about models, ``model:provider`` suffixes mean something, the HF token
is sent. Any other base is a server of the user's own (llama.cpp, vLLM,
ollama, TGI): no Hub request, the model name sent as given, the key the
caller passed for it and nothing else.

The route a call takes is decided from these in
:func:`hfinfer.protocol.routing.decide_route`. Host names match by
dot-anchored suffix (``x.huggingface.co`` is Hugging Face's,
``huggingface.co.evil.example`` is not); configured endpoints match by
origin (scheme, host and port), since a test or mirror Hub on
``127.0.0.1:5000`` must not vouch for every other port of that machine.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

__all__ = [
    "HF_DOMAINS",
    "host_in",
    "is_hf_endpoint",
    "is_hf_host",
    "origin",
    "server_base",
]

#: Hugging Face's domains; a host is theirs when it is one of these or ends in ".<one>".
HF_DOMAINS = ("huggingface.co", "hf.co", "huggingface.cloud")
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


@lru_cache(maxsize=1024)  # asked for every request: one dict look-up when seen before
def is_hf_host(url: str, trusted: tuple[str, ...] = ()) -> bool:
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
