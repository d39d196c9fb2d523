"""Who may call the gateway, and whose Hugging Face token a call spends."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from .config import ServerConfig
from .errors import EdgeError

__all__ = ["authorize", "bill_to"]


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def authorize(request: Request, config: ServerConfig) -> str | None:
    """Check the caller; the caller's own ``hf_`` token when it is to be spent instead
    of the server's (only with ``forward_client_token``), else ``None``.

    Raises a 401 :class:`EdgeError` when the gateway has an API key and the
    caller did not send it. The key is compared in constant time.
    """
    token = _bearer(request)
    if config.forward_client_token and token.startswith("hf_"):
        return token
    if config.api_key and not hmac.compare_digest(token.encode(), config.api_key.encode()):
        raise EdgeError(
            401,
            "Missing or wrong API key: send 'Authorization: Bearer <key>' with the key this "
            "gateway was started with.",
            kind="invalid_request_error",
            code="invalid_api_key",
        )
    return None


def bill_to(request: Request, config: ServerConfig) -> str | None:
    """The ``X-HF-Bill-To`` organisation to bill, when callers may choose it."""
    value = request.headers.get("x-hf-bill-to", "").strip()
    return value if value and config.allow_bill_to else None
